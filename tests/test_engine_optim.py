"""Optimiser groups and learning-rate schedules against the official TC-CLIP recipe, with
values computed by hand from timm's CosineLRScheduler formula (issue #15, items 2 and 3)."""

from __future__ import annotations

import math

import pytest
import torch

from test_engine_train import ToyVideos, config
from test_model import micro_model
from tcclip.engine.optim import (TimmCosine, WarmupCosine, build_optimizer, is_prompt_parameter,
                                 parameter_groups, prompt_module)
from tcclip.engine.runtime import Dist
from tcclip.engine.train import Trainer, build_schedule, loader_batches
from tcclip.model.prompts import PROMPTS


# ------------------------------------------------------------------ groups
def groups_by_name(groups: list[dict]) -> dict[str, dict]:
    return {name: g for g in groups for name in g["names"]}


def test_official_groups_prompt_parts_at_10x_everything_decayed():
    model = micro_model()
    groups = parameter_groups(model, lr=1e-3, weight_decay=0.001, prompt_lr_mult=10.0)
    assert [g["group"] for g in groups] == ["base", "prompt_learner", "prompt_generation"]  # the official order
    by_name = groups_by_name(groups)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(by_name) == trainable
    tenfold = {n for n, g in by_name.items() if g["lr"] == 1e-3 * 10.0}
    assert tenfold == {n for n in trainable if n == "text.ctx" or n.startswith("text.vp.")}
    assert {n for n, g in by_name.items() if g["lr"] == 1e-3} == trainable - tenfold
    assert all(g["weight_decay"] == 0.001 for g in groups)
    for name in ("clip.logit_scale", "vision.attn_bias", "clip.visual.ln_pre.bias", "text.vp.ln_kv.weight"):
        assert by_name[name]["weight_decay"] == 0.001


def test_no_decay_1d_restores_the_exemption():
    model = micro_model()
    by_name = groups_by_name(parameter_groups(model, 1e-3, 0.001, 10.0, weight_decay_rule="no_decay_1d"))
    for name in ("clip.logit_scale", "clip.visual.ln_pre.bias", "clip.visual.class_embedding", "text.vp.ln_kv.weight",
                 "text.vp.attn.in_proj_bias"):
        assert by_name[name]["weight_decay"] == 0.0, name
    for name in ("clip.visual.conv1.weight", "vision.attn_bias", "text.ctx", "text.vp.attn.in_proj_weight"):
        assert by_name[name]["weight_decay"] == 0.001, name
    assert by_name["text.vp.ln_kv.weight"]["lr"] == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="no_decay_1d"):
        parameter_groups(model, 1e-3, 0.001, 10.0, weight_decay_rule="bias_only")


@pytest.mark.parametrize("variant", PROMPTS.names())
def test_every_text_side_parameter_is_in_the_10x_group(variant):
    """The text module owns only what its variant adds to CLIP: all of it is the official
    prompt_learner / prompt_generation part (or our late-fusion block), nothing else is."""
    model = micro_model(text__prompt=variant)
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert is_prompt_parameter(name) == name.startswith("text."), name
    assert prompt_module("text.ctx") == "prompt_learner" and prompt_module("text.ctx_extra") is None
    assert prompt_module("text.vp.mlp.c_fc.weight") == "prompt_generation"
    assert not is_prompt_parameter("clip.text_projection")


# ------------------------------------------------------------------ the official schedule, by hand
def official(total_epochs=10, warmup_epochs=5, per_epoch=20, min_lr=0.01, **clock) -> TimmCosine:
    """200 updates, 100 of warm-up, one loader iteration per update: t = update - 1."""
    return TimmCosine(1.0, total_epochs, warmup_epochs, min_lr, per_epoch, **clock)


def cosine(t: int, total: int = 200, base: float = 1.0, floor: float = 0.01) -> float:
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * t / total))


def test_official_curve_by_hand():
    s = official()
    assert (s.total, s.warmup) == (200, 100)
    assert s(0) == 0.0 and s(1) == 0.0  # update 0: the rate set at construction; update 1: step_update(0)
    assert s(2) == pytest.approx(0.01)  # step_update(1): 1/100 of the warm-up
    assert s(50) == pytest.approx(0.49)
    assert s(100) == pytest.approx(0.99)
    # the cosine counts from update 0: right after the warm-up, cos(pi/2) -> half way to the floor
    assert s(101) == pytest.approx(0.505)
    assert s(150) == pytest.approx(cosine(149)) and s(150) == pytest.approx(0.1605, abs=1e-4)
    assert s(199) == pytest.approx(cosine(198)) and s(199) == pytest.approx(0.010244, abs=1e-6)
    old = WarmupCosine(1.0, 200, 100, 0.01)
    assert old(150) == pytest.approx(0.505)  # ours before: a full cosine over the updates after the warm-up
    ratio = sum(s(u) for u in range(200)) / sum(old(u) for u in range(200))
    assert ratio == pytest.approx(0.68, abs=0.01)


def test_official_floor_is_absolute_for_every_group():
    s = official()
    assert s.group_lr(10.0, 199) == pytest.approx(cosine(198, base=10.0))  # ~0.0125, not 10x the floor's curve
    assert s.at(10.0, 200) == s.at(1.0, 200) == 0.01  # past the cycle: the one floor
    optimizer = torch.optim.AdamW([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr_scale": 1.0},
                                   {"params": [torch.nn.Parameter(torch.zeros(1))], "lr_scale": 10.0}], lr=1.0)
    s.apply(optimizer, 150)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([cosine(149), cosine(149, base=10.0)])
    old = WarmupCosine(1.0, 200, 100, 0.01)
    old.apply(optimizer, 199)  # the old schedule scales its floor with the group
    assert optimizer.param_groups[1]["lr"] == pytest.approx(10 * old(199))


def test_official_clock_counts_loader_iterations_with_accumulation_and_tail():
    # 10 loader batches per epoch, 4 per update: 2 updates per epoch, 2 batches of tail;
    # step_update(epoch * 10 + i) after the update that batch i closes (i = 3, 7)
    s = TimmCosine(1.0, 3, 1, 0.0, updates_per_epoch=2, accumulation=4, iterations_per_epoch=10)
    assert (s.total, s.warmup) == (30, 10)
    assert [s.iteration_before(u) for u in range(6)] == [None, 3, 7, 13, 17, 23]
    assert [s(u) for u in range(3)] == pytest.approx([0.0, 0.3, 0.7])
    assert s(3) == pytest.approx(0.5 * (1 + math.cos(math.pi * 13 / 30)))
    no_warmup = TimmCosine(1.0, 3, 0, 0.0, updates_per_epoch=2, accumulation=4, iterations_per_epoch=10)
    assert no_warmup(0) == 1.0  # the scheduler starts the groups at their initial rates


def test_trainer_builds_the_official_clock():
    trainer = Trainer(micro_model(), ToyVideos(n=28), 3, config(epochs=2, warmup_epochs=1), seed=7,
                      checkpoint_dir="unused", rt=Dist())
    s = trainer.schedule
    assert isinstance(s, TimmCosine)
    assert (s.updates_per_epoch, s.accumulation, s.iterations_per_epoch) == (3, 2, 7)  # 28 // 4 batches: 1 of tail
    assert loader_batches(config(), 28, 2) == 3  # 14 videos per process, 4 per batch
    old = build_schedule(config(schedule="cosine_after_warmup", min_lr=None), 3, 2, 7)
    assert isinstance(old, WarmupCosine) and old.min_lr == 1e-3 * 0.01
    assert build_schedule(config(min_lr=2e-6), 3, 2, 7).min_lr == 2e-6


# ------------------------------------------------------------------ two AdamW updates at those rates
def reference_adamw(p, grads, lrs, wd, betas=(0.9, 0.98), eps=1e-8):
    """AdamW written out (decoupled decay, bias-corrected moments)."""
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    for step, (g, lr) in enumerate(zip(grads, lrs), start=1):
        p = p * (1 - lr * wd)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** step), v / (1 - betas[1] ** step)
        p = p - lr * m_hat / (v_hat.sqrt() + eps)
    return p


def test_two_adamw_updates_apply_the_schedule_rates():
    model = micro_model(torch.float64)
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    start = {n: p.detach().clone() for n, p in named.items()}
    gen = torch.Generator().manual_seed(0)
    grads = [{n: torch.randn(p.shape, generator=gen, dtype=p.dtype) for n, p in named.items()} for _ in range(2)]
    optimizer = build_optimizer(model, 1e-3, 0.001, 10.0, (0.9, 0.98), 1e-8)
    # no warm-up, 4 loader batches per epoch, 2 per update: update 0 at the base rates, update 1
    # at step_update(1) = min + (b - min)(1 + cos(pi/8)) / 2 for each group's b
    s = TimmCosine(1e-3, 2, 0, 1e-5, updates_per_epoch=2, accumulation=2, iterations_per_epoch=4)
    for update in range(2):
        s.apply(optimizer, update)
        for n, p in named.items():
            p.grad = grads[update][n].clone()
        optimizer.step()
    for name, p in named.items():
        base = 1e-2 if is_prompt_parameter(name) else 1e-3
        lrs = [base, 1e-5 + 0.5 * (base - 1e-5) * (1 + math.cos(math.pi / 8))]
        expected = reference_adamw(start[name], [g[name] for g in grads], lrs, wd=0.001)
        torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-15, msg=name)
