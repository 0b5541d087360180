"""The engine through its command line on the tiny synthetic benchmark: determinism,
untrained runs, one-line config errors (kills and resume: tests/faults/test_kills_and_numerics.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.engine.checkpoint import load_checkpoint
from tcclip.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")


def cli(*args: str) -> int:
    return main(list(args))


def metrics_of(run: Path, name: str = "metrics.json") -> dict:
    return json.loads((run / name).read_text())


def test_same_seed_same_metrics_and_weights(synth_tiny, tmp_path):
    catalog = synth_tiny / "catalog.yaml"
    for name in ("a", "b"):
        assert cli("train", *fast_run_args(catalog, tmp_path / name, "train.epochs=2")) == 0
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


def test_a_finished_run_keeps_weights_not_optimizer_state(synth_tiny, tmp_path):
    catalog = synth_tiny / "catalog.yaml"
    assert cli("train", *fast_run_args(catalog, tmp_path / "slim", "train.epochs=2")) == 0
    assert cli("train", *fast_run_args(catalog, tmp_path / "full", "train.epochs=2",
                                        "train.keep_optimizer_state=true")) == 0
    slim, full = only_run(tmp_path / "slim"), only_run(tmp_path / "full")
    assert slim.name == full.name  # an operational option: same run id
    slim_state, full_state = load_checkpoint(slim / "checkpoints/last.pt"), load_checkpoint(full / "checkpoints/last.pt")
    assert "optimizer" not in slim_state and "optimizer" in full_state
    assert all(torch.equal(slim_state["model"][k], full_state["model"][k]) for k in full_state["model"])
    assert slim_state["epoch"] == 2 and len(slim_state["history"]) == 2
    # the slim file is smaller by AdamW's moments (two per trainable parameter; how large a share
    # of the file that is depends on what is frozen, e.g. the token embedding by default)
    moments = sum(t.numel() * t.element_size() for s in full_state["optimizer"]["state"].values()
                  for t in s.values() if torch.is_tensor(t) and t.ndim > 0)
    saved = (full / "checkpoints/last.pt").stat().st_size - (slim / "checkpoints/last.pt").stat().st_size
    assert moments > 0 and saved >= 0.95 * moments
    # a finished run re-run (Snakemake after its metrics were deleted) trains nothing and still evaluates
    before = json.loads((slim / "train.json").read_text())
    assert cli("run", *fast_run_args(catalog, tmp_path / "slim", "train.epochs=2")) == 0
    after = json.loads((slim / "train.json").read_text())
    assert after["history"] == before["history"] and metrics_of(slim)["train"]["epochs"] == 2


def test_untrained_run_and_wiseft_rows(synth_tiny, tmp_path, capsys):
    catalog = synth_tiny / "catalog.yaml"
    # vanilla CLIP: nothing to train; evaluate creates the run from the config
    assert cli("evaluate", *fast_run_args(catalog, tmp_path, "model.preset=vanilla_clip", "train.epochs=0",
                                     "protocol.name=zero_shot")) == 0
    metrics = metrics_of(only_run(tmp_path))
    assert [r["key"] for r in metrics["results"]] == [f"{d}/{s}" for d in ("hmdb51", "ucf101")
                                                      for s in ("val1", "val2", "val3")] + [f"k600/zs_split{i}" for i in (1, 2, 3)]
    assert metrics["weights"]["checkpoint"] is None and metrics["train"]["epochs"] == 0
    assert set(metrics["summary"]) == {"hmdb51", "ucf101", "k600", "all"}


def test_wiseft_ratio_one_equals_the_finetuned_model(synth_tiny, tmp_path):
    catalog = synth_tiny / "catalog.yaml"
    assert cli("train", *fast_run_args(catalog, tmp_path, "train.epochs=1")) == 0
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
    assert cli("train", *fast_run_args(catalog, tmp_path), *override.split()) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not list(tmp_path.glob("*/checkpoints"))


def test_weights_of_another_architecture_are_refused(synth_tiny, tmp_path, capsys):
    from tcclip.model.backbone import create_clip

    torch.save(create_clip("tiny-clip-p8").visual.state_dict(), tmp_path / "wrong.pt")
    catalog = synth_tiny / "catalog.yaml"
    assert cli("train", *fast_run_args(catalog, tmp_path), f"model.backbone.weights={tmp_path / 'wrong.pt'}") == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit architecture 'tiny-clip-p16'" in err and "\n" not in err
