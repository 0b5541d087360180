"""The README's commands run as written: every line of its ```bash blocks, every inline
`snakemake ...` of its prose, and every command in a comment of the shipped workflow
files (workflow/config/*.yaml, workflow/profiles/*/config.yaml, workflow/Snakefile).

How each is exercised (from the repository root, as a user would type it):
- `snakemake ...` as a dry run (`-n` added): the argument order, the profile, the config
  file and the targets are Snakemake's own parse and DAG. The paper config gets a copy with
  a dummy weights file, video roots and a training list in a temporary folder (the files a
  dry run checks for; nothing is read); its results folders stay (targets name them).
- `make TARGET` as `make -n TARGET` (the target exists; installing is `make install`'s test).
- `tcclip ...` as is.
- `export VAR=...` sets VAR for the commands after it.
- a placeholder `<id>` becomes a run id of the embedded plan.
Skipped, with the reason in the skip message: `source .venv/bin/activate` (the tests already
run in that environment), `snakemake --unlock` (beside a live Snakemake in this folder it
would remove that one's lock) and `snakemake --report` (it renders the figures of a finished
run of every table, hours of compute; with no results it stops, rightly, at the first
missing figure).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SKIPS = {
    "source": "activates the venv the tests already run in",
    "--unlock": "removes a killed Snakemake's lock of this folder; beside a live Snakemake it would unlock that one",
    "--report": "renders the figures of a finished run of every table; a dry run has none to render",
    "model.load_from=/downloads/zero_shot_k400_tc_clip.pth": "needs the authors' released checkpoint and the real "
    "datasets; tests/test_official_checkpoint.py::test_evaluate_scores_a_released_file_without_training runs "
    "the same command on a checkpoint exported in the official layout, on the synthetic data",
}


def bash_block_lines(markdown: str) -> list[str]:
    """The commands of the ```bash blocks, one per entry: a line ending in a backslash continues
    on the next, as in the shell."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.S):
        block = re.sub(r"\\\n\s*", " ", block)
        lines += [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    return lines


def inline_snakemake(markdown: str) -> list[str]:
    prose = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return re.findall(r"`(snakemake [^`]+)`", prose)


def comment_commands(path: Path) -> list[str]:
    """'#   snakemake ...' lines; a trailing '  (remark)' is prose, not arguments."""
    found = re.findall(r"^#\s+((?:snakemake|tcclip|make) .*)$", path.read_text(), flags=re.M)
    return [re.sub(r"\s{2,}\(.*\)$", "", line).strip() for line in found]


def documented_commands() -> list[tuple[str, str]]:
    """(where, command line), in the order a reader meets them."""
    readme = (ROOT / "README.md").read_text()
    commands = [("README.md", line) for line in bash_block_lines(readme) + inline_snakemake(readme)]
    shipped = [ROOT / "workflow" / "Snakefile", *sorted((ROOT / "workflow" / "config").glob("*.yaml")),
               *sorted((ROOT / "workflow" / "profiles").glob("*/config.yaml"))]
    for path in shipped:
        commands += [(str(path.relative_to(ROOT)), line) for line in comment_commands(path)]
    places: dict[str, list[str]] = {}  # one run per distinct command, however many files show it
    for where, line in commands:
        places.setdefault(line, []).append(where)
    return [(", ".join(dict.fromkeys(where)), line) for line, where in places.items()]


def a_run_id() -> str:
    """A real run id of the embedded plan, for a README placeholder `<id>`."""
    from tcclip.suite.plan import load_workflow_config, plan

    config = yaml.safe_load((ROOT / "workflow" / "config" / "synthetic.yaml").read_text())
    return next(run.run_id for runs in plan(["zero_shot"], load_workflow_config(config)).values() for run in runs)


def test_the_extraction_finds_the_commands_the_readme_is_known_to_hold():
    commands = [" ".join(shlex.split(line, comments=True)) for _, line in documented_commands()]
    assert "make zero-shot" in commands and "tcclip plan" in commands and "snakemake -n all" in commands
    paper = ", ".join(where for where, line in documented_commands() if "paper.yaml" in line)
    for place in ("README.md", "workflow/config/paper.yaml", "workflow/profiles/slurm/config.yaml", "workflow/Snakefile"):
        assert place in paper  # every place that shows a paper-scale command


def environment(exports: dict[str, str]) -> dict[str, str]:
    """The README's shell after `source .venv/bin/activate`: this interpreter's bin folder
    first on PATH (`make test` runs .venv/bin/python without activating the venv)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(ROOT / ".cache")),
            **exports}


def paper_config_copy(tmp_path: Path) -> Path:
    """workflow/config/paper.yaml with the edits the README asks for, pointing at dummy files."""
    config = yaml.safe_load((ROOT / "workflow" / "config" / "paper.yaml").read_text())
    weights = tmp_path / "ViT-B-16.pt"
    weights.write_bytes(b"")  # existence is all a dry run checks
    config["backbone"]["weights"] = str(weights)
    config["roots"] = {}
    for name in ("k400", "k600", "hmdb51", "ucf101", "ssv2"):
        (tmp_path / "data" / name).mkdir(parents=True)
        config["roots"][name] = str(tmp_path / "data" / name)
    (tmp_path / "k400_train.txt").write_text("a/video.mp4 0\n")
    config["lists"] = {"k400/train": str(tmp_path / "k400_train.txt")}
    copy = tmp_path / "paper.yaml"
    copy.write_text(yaml.safe_dump(config, sort_keys=False))
    return copy


def as_dry_run(argv: list[str], tmp_path: Path) -> list[str]:
    if "--configfile" in argv:
        at = argv.index("--configfile") + 1
        if argv[at] == "workflow/config/paper.yaml":
            argv[at] = str(paper_config_copy(tmp_path))
    return argv if "-n" in argv or "--dry-run" in argv else [argv[0], "-n", *argv[1:]]


def exercise(line: str, tmp_path: Path, exports: dict[str, str]) -> subprocess.CompletedProcess | None:
    argv = [word.replace("<id>", a_run_id()) for word in shlex.split(line, comments=True)]
    if argv[0] == "export":
        name, _, value = argv[1].partition("=")
        exports[name] = value.replace("$PWD", str(ROOT))
        return None
    if argv[0] == "snakemake":
        argv = as_dry_run(argv, tmp_path)
    elif argv[0] == "make":
        argv = ["make", "-n", *argv[1:]]
    elif argv[0] == "tcclip":
        argv = [sys.executable, "-m", "tcclip", *argv[1:]]
    else:
        raise AssertionError(f"no way to exercise {line!r}: add one to this test")
    return subprocess.run(argv, cwd=ROOT, env=environment(exports), capture_output=True, text=True, timeout=600)


def _id(item) -> str:
    where, line = item
    return f"{where}: {line}"


@pytest.mark.slow  # a dry run builds the whole DAG: ~8 s of CPU each, most of it importing torch and planning
@pytest.mark.parametrize("where,line", documented_commands(), ids=[_id(c) for c in documented_commands()])
def test_a_documented_command_runs_as_written(where, line, tmp_path):
    skip = next((why for word, why in SKIPS.items() if word in shlex.split(line, comments=True)), None)
    if skip:
        pytest.skip(f"{line}: {skip}")
    exports: dict[str, str] = {}
    if where == "README.md":  # the exports of earlier lines of the README hold for the later ones
        for earlier in bash_block_lines((ROOT / "README.md").read_text()):
            if earlier == line:
                break
            if earlier.startswith("export "):
                exercise(earlier, tmp_path, exports)
    result = exercise(line, tmp_path, exports)
    if result is None:  # an export: its value must make sense
        assert all(v for v in exports.values())
        return
    assert result.returncode == 0, f"{line}\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"
    if "snakemake" in line:  # a planned dry run, or the targets already built in this checkout
        # (make zero-shot before make test: the command is as valid, Snakemake has nothing to do)
        out = result.stdout + result.stderr
        assert "This was a dry-run" in out or "Nothing to be done" in out, out[-1500:]


SNAKEMAKE_COMMANDS = [(w, line) for w, line in documented_commands() if line.startswith("snakemake ")]


@pytest.mark.parametrize("where,line", SNAKEMAKE_COMMANDS, ids=[_id(c) for c in SNAKEMAKE_COMMANDS])
def test_snakemake_reads_each_documented_command_as_meant(where, line):
    """Snakemake's own argument parser, in seconds: the order mistakes (a target after
    --configfile or --resources, which take several values) fail here before any dry run."""
    from snakemake.cli import get_argument_parser

    argv = [w.replace("<id>", "0123456789ab") for w in shlex.split(line, comments=True)[1:]]
    try:
        args = get_argument_parser().parse_args(argv)
    except (SystemExit, ValueError) as err:
        raise AssertionError(f"{where}: snakemake cannot parse {line!r}: {err!r}") from None
    for config in args.configfile or []:
        assert str(config).endswith(".yaml") and (ROOT / config).is_file(), f"{where}: --configfile took {config}"
    assert not any(str(t).endswith((".yaml", ".yml")) or "=" in str(t) for t in args.targets), args.targets
