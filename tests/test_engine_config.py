"""Run configs: resolution order, run ids, protocol settings, one-line errors."""

from __future__ import annotations

import pytest

from tcclip.errors import ConfigError
from tcclip.engine.run_config import _training_section, resolve_run_config, run_id, training_identity

PAPER = {"scale": "paper"}


def test_protocol_settings_at_each_scale():
    paper = resolve_run_config(["paper"])
    assert (paper.train.epochs, paper.train.warmup_epochs, paper.train.lr, paper.train.total_batch) == (10, 5.0, 8e-6, 256)
    assert (paper.train.mix.mixup_alpha, paper.train.mix.cutmix_alpha, paper.train.mix.label_smoothing) == (0.8, 1.0, 0.1)
    assert (paper.data.num_frames, paper.data.input_size, paper.data.num_clips, paper.data.num_crops) == (16, 224, 2, 1)
    assert paper.eval.wiseft == 0.7 and paper.model.backbone.arch == "ViT-B-16-quickgelu"
    embedded = resolve_run_config(["embedded"])
    assert (embedded.data.num_frames, embedded.data.input_size) == (8, 64)
    assert embedded.model.backbone.arch == "tiny-clip-p16" and embedded.train.amp is False


def test_overrides_win_and_numbers_parse():
    cfg = resolve_run_config(["paper"], ["train.lr=1e-4", "train.epochs=3", "train.warmup_epochs=1", "model.preset=vifi_clip", "seed=5"])
    assert cfg.train.lr == 1e-4 and cfg.train.epochs == 3 and cfg.seed == 5
    assert cfg.model.vision.temporal == "frame" and cfg.model.text.prompt == "handcrafted"


def test_run_id_ignores_evaluation_and_operational_fields():
    base = resolve_run_config(["paper"])
    same = resolve_run_config(["paper"], ["data.num_clips=4", "eval.batch_size=1", "train.workers=3",
                                          "output=elsewhere", "protocol.roots.k400=/videos"])
    assert run_id(base) == run_id(same)
    for change in ("seed=2", "train.lr=1e-5", "data.num_frames=8", "model.vision.num_context=32"):
        assert run_id(resolve_run_config(["paper"], [change])) != run_id(base), change


def test_untrained_runs_share_an_id_whatever_the_training_settings():
    a = resolve_run_config(["paper"], ["train.epochs=0", "train.lr=1e-3"])
    b = resolve_run_config(["paper"], ["train.epochs=0", "seed=1"])
    assert run_id(a) == run_id(b)
    assert training_identity(a)["train"] == {"epochs": 0}


def test_every_protocol_resolves_at_the_embedded_scale():
    # each protocol's embedded block must fit the embedded run config (batch sizes included)
    for name in ("zero_shot", "few_shot", "base2novel", "fully_supervised"):
        cfg = resolve_run_config(["embedded"], [f"protocol.name={name}"])
        assert cfg.train.total_batch % cfg.train.micro_batch(1) == 0


def test_selection_follows_the_protocol():
    few = resolve_run_config(["paper"], ["protocol.name=few_shot"])
    assert (few.eval.checkpoint, few.eval.select_on, few.train.epochs) == ("best", "only", 50)
    b2n = resolve_run_config(["paper"], ["protocol.name=base2novel"])
    assert (b2n.eval.checkpoint, b2n.eval.select_on) == ("best", "base")


def _validated(cfg) -> list[int]:
    return [e for e in range(1, cfg.train.epochs + 1) if cfg.eval.validates(e, cfg.train.epochs)]


def test_validation_epochs_follow_the_official_loop_at_the_paper_scale():
    """Official: 0-based epochs divisible by save_freq, the first and the last are validated."""
    few = resolve_run_config(["paper"], ["protocol.name=few_shot"])
    assert _validated(few) == [1, 11, 21, 31, 41, 50]
    b2n = resolve_run_config(["paper"], ["protocol.name=base2novel"])
    assert _validated(b2n) == list(range(1, 13))
    before = resolve_run_config(["paper"], ["protocol.name=few_shot", "eval.eval_every_epochs=5",
                                            "eval.eval_first_epoch=null"])
    assert _validated(before) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]  # ours before issue #15, by name
    assert run_id(before) != run_id(few)
    for name in ("few_shot", "base2novel"):  # the embedded budgets keep epochs 2, 4, 6
        assert _validated(resolve_run_config(["embedded"], [f"protocol.name={name}"])) == [2, 4, 6]


@pytest.mark.parametrize("overrides, message", [
    (["nonsense=1"], "unknown key 'nonsense'"),
    (["train.mix.mixup=0.5"], "unknown key 'train.mix.mixup'"),
    (["model.preset=resnet"], "unknown model preset 'resnet'"),
    (["protocol.name=imagined"], "protocol 'imagined'"),
    (["data.num_crops=2"], "data.num_crops"),
    (["eval.checkpoint=best", "eval.select_on=null"], "eval.select_on"),
    (["eval.eval_first_epoch=0"], "eval.eval_first_epoch"),
    (["train.total_batch=12", "train.batch_size=8"], "train.total_batch=12 is not a multiple of train.batch_size=8"),
])
def test_config_errors(overrides, message):
    with pytest.raises(Exception, match=message.replace(".", r"\.")) as info:
        resolve_run_config(["paper"], overrides)
    assert "\n" not in str(info.value)


def test_protocol_training_keys_are_checked():
    assert _training_section({"base_lr": 1e-3, "optimizer": {"name": "adamw", "betas": [0.9, 0.99]}, "mixup": 0.0}, "p") == {
        "lr": 1e-3, "betas": [0.9, 0.99], "mix": {"mixup_alpha": 0.0}}
    with pytest.raises(ConfigError, match="training.lr_decay: unknown setting"):
        _training_section({"lr_decay": 0.5}, "p")
    with pytest.raises(ConfigError, match="only adamw"):
        _training_section({"optimizer": {"name": "sgd"}}, "p")
