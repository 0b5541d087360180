"""Bad configs are refused before any training starts, with the key, the value and what is valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data_fixtures import synth_tiny  # noqa: F401
from tcclip.cli import main

REPO = Path(__file__).resolve().parents[2]


def train(args, capsys):
    rc = main(["train", "--config", "embedded", *args])
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.mark.parametrize("override,message", [
    ("model.vision.num_contxt=3", r"unknown key 'model\.vision\.num_contxt'.*num_context"),
    ("model.vision.num_context=many", r"model\.vision\.num_context: expected an integer, got 'many'"),
    ("model.vision.summarization=tome", r"unknown summarization 'tome'; valid: bipartite.*kmeans"),
    ("model.text.prompt=clever", r"unknown prompt variant 'clever'; valid: handcrafted"),
    ("train.lr=-1", r"train\.lr"),
    ("protocol.name=zero_shots", r"zero_shots"),
])
def test_bad_run_config_is_one_line_and_trains_nothing(override, message, synth_tiny, tmp_path, capsys):  # noqa: F811
    rc, err = train([f"protocol.catalog={synth_tiny / 'catalog.yaml'}", f"output={tmp_path}", override], capsys)
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("tcclip: error:")
    assert __import__("re").search(message, err), err
    assert not any(tmp_path.rglob("*.pt"))


def test_protocol_naming_a_missing_dataset(synth_tiny, tmp_path, capsys):  # noqa: F811
    copy = tmp_path / "synth"
    shutil.copytree(synth_tiny, copy)
    catalog = copy / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("  ucf101:", "  ucf101_gone:"))
    rc, err = train([f"protocol.catalog={catalog}", f"output={tmp_path / 'runs'}"], capsys)
    assert rc == 2 and "ucf101" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.pt"))


def test_weights_of_another_architecture(synth_tiny, tmp_path, capsys):  # noqa: F811
    from test_model import micro_clip

    weights = tmp_path / "micro.pt"
    torch.save(micro_clip().state_dict(), weights)
    rc, err = train([f"protocol.catalog={synth_tiny / 'catalog.yaml'}", f"output={tmp_path / 'runs'}",
                     f"model.backbone.weights={weights}"], capsys)
    assert rc == 2 and "does not fit architecture 'tiny-clip-p16'" in err


def test_snakemake_dry_run_fails_fast_on_a_bad_workflow_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scale: embedded\nrun_config: embedded\ncatalog: x\nbackbone: {arch: a, weights: w}\ngpus: two\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    snakemake = shutil.which("snakemake", path=env["PATH"])
    result = subprocess.run([snakemake, "-n", "--configfile", str(bad), "--directory", str(REPO), "all"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "gpus" in result.stderr + result.stdout and "two" in result.stderr + result.stdout
