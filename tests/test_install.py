"""`pip install .` (not editable) gives a working `tcclip`: the package carries its own
resources, and commands that need the repository's ablations/ or workflow/ find them in
the working directory or say so in one line."""

from __future__ import annotations

import os
import shutil
import site
import sys
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _not_source(folder: str, names: list[str]) -> set[str]:
    """Run artefacts and environments of the checkout (top level), caches anywhere."""
    at_top = Path(folder) == REPO
    skip = {".git", ".venv", ".cache", ".snakemake", "data", "results", "build"} if at_top else set()
    return {n for n in names if n in skip or n == "__pycache__" or n.endswith(".egg-info")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with this checkout installed non-editably. Dependencies come from the
    test environment's site-packages (a .pth file), so nothing is downloaded or rebuilt."""
    root = tmp_path_factory.mktemp("install")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "test_deps.pth").write_text("\n".join(deps) + "\n")
    # build from a copy: an in-tree build leaves build/ and *.egg-info behind in the checkout
    source = root / "src"
    shutil.copytree(REPO, source, ignore=_not_source)
    # the wheel is built by the test environment's own setuptools (a new venv's may be older
    # than pyproject.toml needs), then installed into the fresh venv
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(wheels), str(source)], check=True, capture_output=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    *map(str, wheels.glob("tcclip-*.whl"))], check=True, capture_output=True)
    return env_dir / "bin" / "tcclip"


def _run(tcclip: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(tcclip), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_non_editable_install_runs_outside_and_inside_a_checkout(installed, tmp_path):
    package_dir = subprocess.run([installed.parent / "python", "-c", "import tcclip; print(tcclip.__file__)"],
                                 capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert str(REPO) not in package_dir  # really the installed copy, not the checkout

    synth = _run(installed, "synth", "--out", str(tmp_path / "data"), "--size", "tiny", "--no-images", "--quiet",
                 "--workers", "1", cwd=tmp_path)
    assert synth.returncode == 0, synth.stderr
    assert (tmp_path / "data" / "catalog.yaml").is_file()

    variants = _run(installed, "variants", "--width", "200", cwd=tmp_path)
    assert variants.returncode == 0 and "bipartite" in variants.stdout and "vp_context" in variants.stdout

    outside = _run(installed, "plan", cwd=tmp_path)  # no ablations/ or workflow/ here
    assert outside.returncode == 2
    assert outside.stderr.count("\n") == 1 and outside.stderr.startswith("tcclip: error:"), outside.stderr

    inside = _run(installed, "plan", "zero_shot", cwd=REPO)
    assert inside.returncode == 0, inside.stderr
    assert "distinct trainings" in inside.stdout
