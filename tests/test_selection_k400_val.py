"""Best-epoch selection on a catalog split (issue #15): the zero-shot and fully-supervised
protocols test, and WiSE-FT, the epoch with the best Kinetics-400 val top-1 (1 view, checked
after every epoch), as the official main.py; the last epoch stays reachable by name."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.cli import main
from tcclip.data.protocols import protocol_path
from tcclip.engine.checkpoint import load_checkpoint
from tcclip.engine.run_config import (SELECTION_KEYS, _evaluation_section, resolve_run_config, run_id,
                                      selection_data, training_identity)
from tcclip.errors import ConfigError

LAST_BY_NAME = ["eval.checkpoint=last", "eval.select_on=null"]


@pytest.mark.parametrize("scale", ["paper", "embedded"])
@pytest.mark.parametrize("name", ["zero_shot", "fully_supervised"])
def test_the_protocol_selects_on_k400_val_with_one_view_every_epoch(scale, name):
    cfg = resolve_run_config([scale], [f"protocol.name={name}"])
    assert (cfg.eval.checkpoint, cfg.eval.select_on) == ("best", "k400/val")
    views = selection_data(cfg)
    assert (views.num_clips, views.num_crops, views.mode) == (1, 1, "test")
    assert all(cfg.eval.validates(epoch, cfg.train.epochs) for epoch in range(1, cfg.train.epochs + 1))
    if scale == "paper":  # the test views stay the protocol's: only the selection pass is 1 x 1
        assert (cfg.data.num_clips, cfg.data.num_crops) == {"zero_shot": (2, 1), "fully_supervised": (4, 3)}[name]


def test_the_last_epoch_is_reachable_by_name_with_the_run_id_of_before(tmp_path):
    """eval.checkpoint=last eval.select_on=null trains the run a protocol with `checkpoint: last`
    (ours before issue #15) trains: same run id, no selection pass; the official recipe has another
    id on purpose (which weights are tested is part of the recipe)."""
    raw = yaml.safe_load(protocol_path("zero_shot").read_text())
    raw["evaluation"] = {k: v for k, v in raw["evaluation"].items() if k not in (*SELECTION_KEYS, "eval_every_epochs")}
    raw["evaluation"]["checkpoint"] = "last"
    before = tmp_path / "zero_shot_last.yaml"
    before.write_text(yaml.safe_dump(raw))
    old = resolve_run_config(["paper"], [f"protocol.name={before}"])
    by_name = resolve_run_config(["paper"], LAST_BY_NAME)
    assert _unnamed(by_name) == _unnamed(old) and "select_clips" not in training_identity(by_name)["eval"]
    official = resolve_run_config(["paper"])
    assert run_id(official) != run_id(old)
    # scoring the same trained run's last epoch is an evaluation setting: the run id stays
    assert run_id(resolve_run_config(["paper"], ["eval.checkpoint=last"])) == run_id(official)
    assert run_id(resolve_run_config(["paper"], ["eval.select_clips=2"])) != run_id(official)


def _unnamed(cfg) -> dict:
    """The training identity without the protocol's name (a file path names the same protocol)."""
    identity = training_identity(cfg)
    identity["protocol"].pop("name")
    return identity


@pytest.mark.parametrize("evaluation, overrides, message", [
    ({"checkpoint": "last", "select_on": "k400/val"}, None, "evaluation.select_on: only with checkpoint best_epoch"),
    (None, ["eval.select_crops=2"], "eval.select_crops: must be 1, 3 or null"),
    (None, ["eval.select_clips=0"], "eval.select_clips: must be >= 1"),
])
def test_selection_setting_errors_are_one_line(evaluation, overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        if evaluation is not None:
            _evaluation_section(evaluation, "p.yaml")
        else:
            resolve_run_config(["paper"], overrides)
    assert "\n" not in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("select_on, message", [
    ("k400/nope", "has no split 'nope'"),
    ("kinetics/val", "no dataset 'kinetics'"),
    ("nonsense", "a catalog split dataset/split"),
])
def test_a_missing_selection_split_stops_in_one_line_before_training(synth_tiny, tmp_path, capsys, monkeypatch,
                                                                     select_on, message):
    from tcclip.engine import train as train_module

    monkeypatch.setenv("TCCLIP_THREADS", "1")
    monkeypatch.setattr(train_module, "VideoCLIP", None)  # building the model would fail loudly: never reached
    args = fast_run_args(synth_tiny / "catalog.yaml", tmp_path, "protocol.name=zero_shot", f"eval.select_on={select_on}")
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and f"eval.select_on={select_on!r}" in err and "\n" not in err
    assert not list(tmp_path.glob("*/checkpoints")) and not list(tmp_path.glob("*/config.yaml"))  # nothing trained


@pytest.mark.slow
def test_the_best_epoch_is_tested_and_wiseft_ensembled(synth_tiny, tmp_path, monkeypatch):
    """A 3-epoch zero-shot run, test views 2 clips: the real selection pass scores k400/val at 1
    view after every epoch; its scores are scripted so that epoch 2 is the best and not the last.
    best.pt holds epoch 2's weights, and the fine-tuned and WiSE-FT rows both evaluate them."""
    from tcclip.engine import evaluate as evaluate_module
    from tcclip.engine import train as train_module

    monkeypatch.setenv("TCCLIP_THREADS", "1")
    passes, real_predict, real_validator = [], evaluate_module.predict, train_module.selection_validator

    def spy(model, dataset, *args, **kwargs):
        passes.append((dataset.annotation_list.name, dataset.config.num_clips, dataset.config.num_crops, len(dataset)))
        return real_predict(model, dataset, *args, **kwargs)

    def scripted(*args):
        validate = real_validator(*args)
        return lambda model, epoch: validate(model, epoch) is not None and {1: 40.0, 2: 70.0, 3: 55.0}[epoch]

    monkeypatch.setattr(evaluate_module, "predict", spy)  # the selection pass's; evaluation uses predict_many
    monkeypatch.setattr(train_module, "selection_validator", scripted)
    args = fast_run_args(synth_tiny / "catalog.yaml", tmp_path, "protocol.name=zero_shot", "data.num_clips=2")
    assert main(["run", *args, "--wiseft", "0.7"]) == 0
    run = only_run(tmp_path)
    assert passes == [("val.txt", 1, 1, passes[0][3])] * 3 and passes[0][3] > 0
    trained = json.loads((run / "train.json").read_text())
    assert trained["best"] == {"epoch": 2, "top1": 70.0} and [h["select_top1"] for h in trained["history"]] == [40, 70, 55]
    assert trained["selection_set"] == "k400/val" and trained["selection_views"] == {"clips": 1, "crops": 1}
    best, last = load_checkpoint(run / "checkpoints/best.pt"), load_checkpoint(run / "checkpoints/last.pt")
    assert best["epoch"] == 2 and last["epoch"] == 3
    assert any(not torch.equal(best["model"][k], last["model"][k]) for k in best["model"])
    for name in ("metrics.json", "metrics_wiseft0.7.json"):
        metrics = json.loads((run / name).read_text())
        assert metrics["weights"]["checkpoint"].endswith("best.pt") and metrics["weights"]["epoch"] == 2, name
        assert metrics["weights"]["selection_top1"] == 70.0 and metrics["train"]["selection_set"] == "k400/val"
        assert metrics["views"]["clips"] == 2  # the test views are the protocol's, not the selection pass's
    assert json.loads((run / "metrics_wiseft0.7.json").read_text())["weights"]["wiseft_ensembled_tensors"] > 0
