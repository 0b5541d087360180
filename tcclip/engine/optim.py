"""Optimiser and learning-rate schedule of the paper, as the official TC-CLIP code runs them
(naver-ai/tc-clip, which follows ViFi-CLIP's optimiser and scheduler).

Groups (``parameter_groups``): AdamW (betas 0.9/0.98, eps 1e-8). The randomly initialised
parts, which the official code finds by name (see PROMPT_MODULES), train at
``prompt_lr_mult`` (10) x the base rate, everything else (CLIP's weights, the local-global
attention bias, the logit scale) at the base rate. ``weight_decay_rule="all"`` (official)
decays every trainable parameter, biases, norms and logit scale included; ``"no_decay_1d"``
(ours before issue #15) exempts 1-d parameters and biases, the usual rule for transformers.

Schedules, per optimiser update, each a callable ``update -> base-group lr`` with ``apply``:

- ``TimmCosine`` (official): timm's CosineLRScheduler as the official code builds and steps
  it: linear warm-up from 0, then a cosine evaluated at the position counted from the start
  of training (warm-up included), so the rate drops to about half the base rate when the
  warm-up ends; one absolute floor for every group; the rate of each update is the one set
  after the previous update (a lag of one loader iteration).
- ``WarmupCosine`` (ours before issue #15, and the tiny-CLIP pretraining's): linear warm-up
  from 0, then a full cosine from the base rate over the updates after the warm-up, down to
  ``base * min_ratio``; every group's rate, floor included, is the curve times its scale.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# The official rule (lr_10x) puts every parameter whose name contains "prompt_learner",
# "VPT" or "prompt_generation" in the 10x group. Our modules are named otherwise:
#   prompt_learner    official prompt_learner.ctx, the n_ctx prompt vectors   -> text.ctx
#   prompt_generation official text_encoder.prompt_generation_layer.*, VP   -> text.vp.*
#   VPT               ViFi-CLIP's visual prompt tokens                        -> none (not implemented;
#                     our vifi_clip preset is the prompt-free, fully fine-tuned ViFi-CLIP)
#   late_fusion       ours only (prompts.LateFusionPrompt: text.ln_q, text.ln_kv, text.attn): newly
#                     initialised like the official keywords' parts, so it joins the 10x group
# Everything our text side owns (``text.*``) is one of these: the text module holds only the
# parameters its variant adds to CLIP (tests/test_engine_optim.py checks every prompt variant).
PROMPT_MODULES: dict[str, tuple[str, ...]] = {
    "prompt_learner": ("text.ctx",),
    "prompt_generation": ("text.vp",),
    "late_fusion": ("text.ln_q", "text.ln_kv", "text.attn"),
}
BASE_GROUP = "base"
WEIGHT_DECAY_RULES = ("all", "no_decay_1d")


def prompt_module(name: str) -> str | None:
    """The official keyword group (PROMPT_MODULES key) a parameter belongs to, or None (base rate)."""
    for group, modules in PROMPT_MODULES.items():
        if any(name == m or name.startswith(m + ".") for m in modules):
            return group
    return None


def is_prompt_parameter(name: str) -> bool:
    """Prompt learner, VP and late-fusion parameters (the paper's 10x group)."""
    return prompt_module(name) is not None


def _trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _group(named: list[tuple[str, nn.Parameter]], lr: float, scale: float, weight_decay: float, label: str) -> dict:
    return {"params": [p for _, p in named], "names": [n for n, _ in named], "lr": lr * scale,
            "lr_scale": scale, "weight_decay": weight_decay, "group": label}


def official_groups(model: nn.Module, lr: float, weight_decay: float, prompt_lr_mult: float) -> list[dict]:
    """The official order: the base group, then one group per keyword that matches (empty ones
    left out), every one with the same weight decay."""
    by_label: dict[str, list] = {BASE_GROUP: [], **{label: [] for label in PROMPT_MODULES}}
    for name, param in _trainable(model):
        by_label[prompt_module(name) or BASE_GROUP].append((name, param))
    return [_group(named, lr, 1.0 if label == BASE_GROUP else prompt_lr_mult, weight_decay, label)
            for label, named in by_label.items() if named]


def no_decay_1d_groups(model: nn.Module, lr: float, weight_decay: float, prompt_lr_mult: float) -> list[dict]:
    """Ours before issue #15 (same groups, same order): 1-d parameters and biases get no decay."""
    by_key: dict[tuple[bool, bool], list] = {}
    for name, param in _trainable(model):
        decay = param.ndim > 1 and not name.endswith(".bias")
        by_key.setdefault((is_prompt_parameter(name), decay), []).append((name, param))
    return [_group(named, lr, prompt_lr_mult if prompt else 1.0, weight_decay if decay else 0.0,
                   f"{'prompt' if prompt else BASE_GROUP}{'' if decay else '_no_decay'}")
            for (prompt, decay), named in sorted(by_key.items())]


def parameter_groups(model: nn.Module, lr: float, weight_decay: float, prompt_lr_mult: float,
                     weight_decay_rule: str = "all") -> list[dict]:
    """AdamW groups; each carries ``names``, ``group`` (its label) and ``lr_scale``, the factor
    on the base rate that the schedules apply."""
    if weight_decay_rule == "all":
        return official_groups(model, lr, weight_decay, prompt_lr_mult)
    if weight_decay_rule == "no_decay_1d":
        return no_decay_1d_groups(model, lr, weight_decay, prompt_lr_mult)
    raise ValueError(f"weight decay rule {weight_decay_rule!r}: expected one of {', '.join(WEIGHT_DECAY_RULES)}")


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, prompt_lr_mult: float,
                    betas: tuple[float, float], eps: float, weight_decay_rule: str = "all") -> torch.optim.AdamW:
    groups = parameter_groups(model, lr, weight_decay, prompt_lr_mult, weight_decay_rule)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


class WarmupCosine:
    """lr(u) for update u = 0 .. total-1: linear from 0 over ``warmup`` updates, then
    cosine from ``base`` down to ``base * min_ratio`` at the last update."""

    def __init__(self, base: float, total: int, warmup: int, min_ratio: float = 0.01):
        self.base, self.total, self.warmup = base, max(total, 1), max(min(warmup, total), 0)
        self.min_lr = base * min_ratio

    def __call__(self, update: int) -> float:
        if update < self.warmup:
            return self.base * update / self.warmup
        span = max(self.total - self.warmup, 1)
        progress = min((update - self.warmup) / span, 1.0)
        return self.min_lr + 0.5 * (self.base - self.min_lr) * (1.0 + math.cos(math.pi * progress))

    def apply(self, optimizer: torch.optim.Optimizer, update: int) -> float:
        lr = self(update)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr


class TimmCosine:
    """The official schedule: timm's CosineLRScheduler(t_initial=total, warmup_t=warmup,
    warmup_lr_init=0, lr_min=min_lr, cycle_limit=1, t_in_epochs=False; warmup_prefix False),
    stepped as the official training loop steps it.

    Its clock is the official loop's: iterations = data-loader batches of one process (L per
    epoch, tail included), total = int(epochs * L), warmup = int(warmup_epochs * L). With
    ``accumulation`` batches per update, the loop calls step_update(epoch * L + i) after the
    update that batch i completes; the rate set there is the one the *next* update runs at. So
    update u runs at the rate of the iteration that closed update u - 1, and update 0 at the
    rate set when the scheduler was built (0 with a warm-up, else the base rate). Without
    accumulation and tail (L = updates per epoch) that is the rate of update u - 1.

    At iteration t, a group of initial rate b (its ``lr_scale`` x ``base``) gets
    ``t * b / warmup`` during the warm-up, then ``min_lr + (b - min_lr) (1 + cos(pi t / total)) / 2``;
    ``min_lr`` is the same absolute floor for every group.
    """

    def __init__(self, base: float, epochs: int, warmup_epochs: float, min_lr: float, updates_per_epoch: int,
                 accumulation: int = 1, iterations_per_epoch: int | None = None):
        self.base, self.min_lr = base, min_lr
        self.updates_per_epoch, self.accumulation = updates_per_epoch, accumulation
        self.iterations_per_epoch = iterations_per_epoch or updates_per_epoch * accumulation
        self.total = int(epochs * self.iterations_per_epoch)
        self.warmup = int(warmup_epochs * self.iterations_per_epoch)

    def iteration_before(self, update: int) -> int | None:
        """The iteration the official loop last passed to step_update before ``update`` (None: none yet)."""
        if update == 0:
            return None
        epoch, index = divmod(update - 1, self.updates_per_epoch)
        return epoch * self.iterations_per_epoch + (index + 1) * self.accumulation - 1

    def at(self, base: float, t: int) -> float:
        """timm's rate at iteration t for a group of initial rate ``base`` (same operations, same rounding)."""
        if t < self.warmup:
            return t * (base / self.warmup)  # warmup_lr_init = 0
        if t >= self.total:  # cycle_limit=1: past the one cycle, the floor
            return self.min_lr
        return self.min_lr + 0.5 * (base - self.min_lr) * (1 + math.cos(math.pi * t / self.total))

    def group_lr(self, base: float, update: int) -> float:
        t = self.iteration_before(update)
        if t is None:
            return 0.0 if self.warmup else base
        return self.at(base, t)

    def __call__(self, update: int) -> float:
        return self.group_lr(self.base, update)

    def apply(self, optimizer: torch.optim.Optimizer, update: int) -> float:
        for group in optimizer.param_groups:
            group["lr"] = self.group_lr(self.base * group.get("lr_scale", 1.0), update)
        return self(update)


SCHEDULES = ("timm_cosine", "cosine_after_warmup")
