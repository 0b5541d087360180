"""Optimiser and learning-rate schedule of the paper.

AdamW (betas 0.9/0.98, eps 1e-8, weight decay 0.001); the prompt learner and the
video-conditional prompting block (``text.*`` parameters) get 10x the base learning
rate, everything else (CLIP weights, the local-global attention bias) the base rate.
Biases, norms and other 1-d parameters get no weight decay (the usual rule for
transformers; CLIP's logit scale is one of them).

The schedule is per optimiser update: linear warmup from 0, then cosine to base/100.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PROMPT_PREFIXES = ("text.",)


def is_prompt_parameter(name: str) -> bool:
    """Prompt learner and VP parameters (the paper's 10x group)."""
    return name.startswith(PROMPT_PREFIXES)


def parameter_groups(model: nn.Module, lr: float, weight_decay: float, prompt_lr_mult: float) -> list[dict]:
    """AdamW groups; each carries ``lr_scale`` that the schedule multiplies in."""
    groups: dict[tuple[bool, bool], list] = {}
    names: dict[tuple[bool, bool], list[str]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = (is_prompt_parameter(name), param.ndim > 1 and not name.endswith(".bias"))
        groups.setdefault(key, []).append(param)
        names.setdefault(key, []).append(name)
    out = []
    for (prompt, decay), params in sorted(groups.items()):
        scale = prompt_lr_mult if prompt else 1.0
        out.append({
            "params": params,
            "names": names[(prompt, decay)],
            "lr": lr * scale,
            "lr_scale": scale,
            "weight_decay": weight_decay if decay else 0.0,
        })
    return out


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, prompt_lr_mult: float,
                    betas: tuple[float, float], eps: float) -> torch.optim.AdamW:
    groups = parameter_groups(model, lr, weight_decay, prompt_lr_mult)
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
