"""Mixup / CutMix on video batches with label smoothing (the official runs' recipe).

Per batch, one of the two is applied (CutMix with probability ``switch_prob`` when both
are on), mixing each video with a partner from the same (per-process) batch; the CutMix
box is the same for every frame of a clip, and its lambda is corrected to the box's
actual area. The soft targets are label-smoothed one-hot vectors mixed with the same
lambda.

Partners (``MixConfig.partner``): ``permutation`` (the official code: a random permutation
of the batch, so a clip can draw itself and stay unmixed) or ``reversed`` (ours before
issue #15: the batch in reverse order, never itself unless it is the middle of an odd batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class MixConfig:
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1
    partner: Literal["permutation", "reversed"] = "permutation"
    """Whom each video mixes with: a random permutation of the batch drawn from the run's
    generator (official; a video can pair with itself) or the reversed batch (ours before issue #15)."""


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    off = smoothing / num_classes
    target = torch.full((labels.shape[0], num_classes), off, device=labels.device)
    return target.scatter_(1, labels[:, None], 1.0 - smoothing + off)


def _cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return y0, y1, x0, x1


def mix_batch(video: torch.Tensor, labels: torch.Tensor, num_classes: int, cfg: MixConfig,
              rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, 3, H, W) videos and int labels -> mixed videos and soft targets (B, K).

    ``rng`` is the run's own generator (seeded per epoch), so mixing does not depend on
    how many random numbers data loading drew.
    """
    target = smooth_one_hot(labels, num_classes, cfg.label_smoothing)
    use_mixup, use_cutmix = cfg.mixup_alpha > 0, cfg.cutmix_alpha > 0
    if not (use_mixup or use_cutmix) or video.shape[0] < 2:
        return video, target
    cutmix = use_cutmix and (not use_mixup or rng.random() < cfg.switch_prob)
    alpha = cfg.cutmix_alpha if cutmix else cfg.mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    partner = mix_partners(video.shape[0], cfg.partner, rng).to(video.device)
    other = video[partner]
    if cutmix:
        h, w = video.shape[-2:]
        y0, y1, x0, x1 = _cutmix_box(h, w, lam, rng)
        video = video.clone()
        video[..., y0:y1, x0:x1] = other[..., y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
    else:
        video = video * lam + other * (1.0 - lam)
    return video, target * lam + target[partner] * (1.0 - lam)


def mix_partners(batch: int, rule: str, rng: np.random.Generator) -> torch.Tensor:
    """Index of each video's partner: ``rule`` is MixConfig.partner."""
    if rule == "reversed":  # draws nothing: the stream of the run's generator stays as it was
        return torch.arange(batch - 1, -1, -1)
    if rule == "permutation":
        return torch.from_numpy(rng.permutation(batch))
    raise ValueError(f"train.mix.partner: expected 'permutation' or 'reversed', got {rule!r}")


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets, computed in float32 (safe under autocast)."""
    return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
