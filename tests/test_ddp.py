"""DDP under torchrun, as the paper-scale DAG launches it (`torchrun -m tcclip run`), on CPU
processes with the gloo backend: the same total batch gives the same number of updates, and
a sharded evaluation scores every listed video exactly once, with the result a single
process gets from the same checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.cli import main

pytestmark = pytest.mark.slow


def torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "TCCLIP_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "tcclip", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def results(run: Path) -> dict[str, tuple[float, float, int]]:
    metrics = json.loads((run / "metrics.json").read_text())
    return {r["key"]: (r["top1"], r["top5"], r["videos"]) for r in metrics["results"]}


def test_two_process_training_and_sharded_evaluation(synth_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")
    catalog = synth_tiny / "catalog.yaml"
    args = fast_run_args(catalog, tmp_path / "ddp", "train.epochs=2", "train.device=cpu")
    done = torchrun("run", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    run = only_run(tmp_path / "ddp")
    train = json.loads((run / "train.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["host"]["world_size"] == 2

    assert main(["train", *fast_run_args(catalog, tmp_path / "single", "train.epochs=2")]) == 0
    single_train = json.loads((only_run(tmp_path / "single") / "train.json").read_text())
    assert train["updates"] == single_train["updates"]  # same total batch: 2 x 4 per update, not 2 x 8

    sharded = results(run)
    listed = len((synth_tiny / "splits" / "k400_splits" / "val.txt").read_text().splitlines())
    assert sharded["k400/val"][2] == listed  # every video once: no padding duplicates
    assert main(["evaluate", str(run)]) == 0  # the same checkpoint, one process
    assert results(run) == sharded
