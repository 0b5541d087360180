"""The engine through its command line on the tiny synthetic benchmark: determinism,
kill -9 and resume, untrained runs, one-line config errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from data_fixtures import synth_tiny  # noqa: F401
from tcclip.checkpoint import load_checkpoint
from tcclip.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")


def run_args(catalog: Path, output: Path, *extra: str) -> list[str]:
    """A fast run: frame-wise tiny CLIP (random init), 2 frames, fully-supervised task on k400."""
    return [
        "--config", "embedded",
        f"protocol.catalog={catalog}", "protocol.name=fully_supervised", f"output={output}",
        "model.preset=vifi_clip", "model.backbone.weights=null",
        "data.num_frames=2", "data.num_clips=1", "data.num_crops=1",
        "train.epochs=3", "train.warmup_epochs=1", "train.total_batch=8", "train.batch_size=4",
        "train.lr=1e-4", "eval.batch_size=12", *extra,
    ]


def cli(*args: str) -> int:
    return main(list(args))


def metrics_of(run: Path, name: str = "metrics.json") -> dict:
    return json.loads((run / name).read_text())


def only_run(output: Path) -> Path:
    (run,) = [p for p in output.iterdir() if (p / "config.yaml").is_file()]
    return run


def test_same_seed_same_metrics_and_weights(synth_tiny, tmp_path):
    catalog = synth_tiny / "catalog.yaml"
    for name in ("a", "b"):
        assert cli("train", *run_args(catalog, tmp_path / name, "train.epochs=2")) == 0
        assert cli("evaluate", str(only_run(tmp_path / name))) == 0
    a, b = only_run(tmp_path / "a"), only_run(tmp_path / "b")
    assert a.name == b.name  # same config, same run id
    ma, mb = metrics_of(a), metrics_of(b)
    assert [(r["key"], r["top1"], r["top5"]) for r in ma["results"]] == [(r["key"], r["top1"], r["top5"]) for r in mb["results"]]
    sa, sb = load_checkpoint(a / "checkpoints/last.pt")["model"], load_checkpoint(b / "checkpoints/last.pt")["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # the run directory holds what it promises
    assert {p.name for p in a.iterdir()} >= {"config.yaml", "train.log", "train.json", "checkpoints", "metrics.json"}
    assert ma["config_hash"] == a.name and ma["seed"] == 1 and ma["views"]["clips"] == 1
    assert ma["train"]["epochs"] == 2 and ma["code_version"]["torch"]


def test_sigkill_mid_epoch_then_resume_gives_the_same_result(synth_tiny, tmp_path, monkeypatch):
    # Bitwise equality needs the same thread count in the killed (subprocess) and the in-process
    # runs; threads are set once per process, so ask this process what it will use.
    from tcclip.runtime import configure_threads

    monkeypatch.setenv("TCCLIP_THREADS", "1")
    threads = configure_threads()
    catalog = synth_tiny / "catalog.yaml"
    args = run_args(catalog, tmp_path / "killed", "train.epochs=4")
    env = {**os.environ, "TCCLIP_THREADS": str(threads)}
    proc = subprocess.Popen([sys.executable, "-m", "tcclip.cli", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        last = None
        while time.time() < deadline and proc.poll() is None:
            found = list((tmp_path / "killed").glob("*/checkpoints/last.pt"))
            if found:
                last = found[0]
                break
            time.sleep(0.05)
        assert last is not None, "no checkpoint appeared before the run ended"
        time.sleep(0.3)  # into the next epoch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = last.parent.parent
    assert not (run / "train.json").exists(), "the run finished before it was killed"
    epochs_done = load_checkpoint(last)["epoch"]
    assert 1 <= epochs_done < 4
    assert cli("train", *args) == 0  # --resume auto is the default
    assert cli("evaluate", str(run)) == 0

    straight = tmp_path / "straight"
    assert cli("train", *run_args(catalog, straight, "train.epochs=4")) == 0
    assert cli("evaluate", str(only_run(straight))) == 0
    resumed_state = load_checkpoint(run / "checkpoints/last.pt")
    straight_state = load_checkpoint(only_run(straight) / "checkpoints/last.pt")
    assert all(torch.equal(resumed_state["model"][k], straight_state["model"][k]) for k in straight_state["model"])
    strip = lambda m: [(r["key"], r["top1"], r["top5"]) for r in m["results"]]  # noqa: E731
    assert strip(metrics_of(run)) == strip(metrics_of(only_run(straight)))
    assert [h["loss"] for h in resumed_state["history"]] == [h["loss"] for h in straight_state["history"]]


def test_untrained_run_and_wiseft_rows(synth_tiny, tmp_path, capsys):
    catalog = synth_tiny / "catalog.yaml"
    # vanilla CLIP: nothing to train; evaluate creates the run from the config
    assert cli("evaluate", *run_args(catalog, tmp_path, "model.preset=vanilla_clip", "train.epochs=0",
                                     "protocol.name=zero_shot")) == 0
    metrics = metrics_of(only_run(tmp_path))
    assert [r["key"] for r in metrics["results"]] == [f"{d}/{s}" for d in ("hmdb51", "ucf101")
                                                      for s in ("val1", "val2", "val3")] + [f"k600/zs_split{i}" for i in (1, 2, 3)]
    assert metrics["weights"]["checkpoint"] is None and metrics["train"]["epochs"] == 0
    assert set(metrics["summary"]) == {"hmdb51", "ucf101", "k600", "all"}


def test_wiseft_ratio_one_equals_the_finetuned_model(synth_tiny, tmp_path):
    catalog = synth_tiny / "catalog.yaml"
    assert cli("train", *run_args(catalog, tmp_path, "train.epochs=1")) == 0
    run = only_run(tmp_path)
    assert cli("evaluate", str(run), "--wiseft", "1.0") == 0
    plain, ensembled = metrics_of(run), metrics_of(run, "metrics_wiseft1.json")
    assert ensembled["variant"] == "wiseft" and ensembled["wiseft_ratio"] == 1.0
    assert [r["top1"] for r in plain["results"]] == [r["top1"] for r in ensembled["results"]]


@pytest.mark.parametrize("override, message", [
    ("train.nope=1", "unknown key 'train.nope'"),
    ("train.epochs=ten", "train.epochs: expected an integer"),
    ("model.vision.temporal=sideways", "sideways"),
    ("protocol.name=few_shot protocol.shots=2", "3 tasks match"),
    ("protocol.dataset=imagenet", "no task matches"),
])
def test_config_errors_are_one_line_before_training(synth_tiny, tmp_path, capsys, override, message):
    catalog = synth_tiny / "catalog.yaml"
    assert cli("train", *run_args(catalog, tmp_path), *override.split()) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not list(tmp_path.glob("*/checkpoints"))


def test_weights_of_another_architecture_are_refused(synth_tiny, tmp_path, capsys):
    from tcclip.model.backbone import create_clip

    torch.save(create_clip("tiny-clip-p8").visual.state_dict(), tmp_path / "wrong.pt")
    catalog = synth_tiny / "catalog.yaml"
    assert cli("train", *run_args(catalog, tmp_path), f"model.backbone.weights={tmp_path / 'wrong.pt'}") == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit architecture 'tiny-clip-p16'" in err and "\n" not in err
