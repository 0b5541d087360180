"""Seed-token selection: which patch tokens of each frame feed the context tokens.

Every strategy is ``fn(stats, n_seeds) -> (indices, scores)`` with ``indices`` of
shape (F, n_seeds) in descending order of the strategy's score (the order matters:
bipartite merging splits the seeds by position) and ``scores`` the strategy's score
of each picked patch. ``fn.needs`` names the optional statistics it reads, so the
encoder computes only those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from tcclip.errors import ConfigError
from tcclip.registry import Registry

OPTIONAL_STATS = frozenset({"value_norm", "patch_entropy"})


@dataclass
class AttentionStats:
    """What seed selection may read from one layer's attention (F = B*T frames)."""

    # (F, H, N): post-softmax probability of each frame's [CLS] query on its N patch keys
    # (the softmax ran over local + context keys, bias included).
    cls_attn: torch.Tensor
    # (F, N): L2 norm of each patch token's value vector, all heads concatenated.
    value_norm: torch.Tensor | None = None
    # (F, H, N): entropy of each patch query's own attention row (over all its keys).
    patch_entropy: torch.Tensor | None = None


Selector = Callable[[AttentionStats, int], "tuple[torch.Tensor, torch.Tensor]"]
SEED_SELECTORS: Registry[Selector] = Registry("seed selection", optional_needs=OPTIONAL_STATS)


# Register a strategy: @seed_selector("name", needs={...optional stats}).
seed_selector = SEED_SELECTORS.register


def num_seeds(num_patches: int, alpha: float) -> int:
    """n_s = floor(alpha * N) seeds per frame."""
    if not 0 < alpha <= 1:
        raise ConfigError(f"seed ratio alpha must be in (0, 1], got {alpha}")
    n = math.floor(alpha * num_patches)
    if n < 1:
        raise ConfigError(f"alpha={alpha} keeps no seed of {num_patches} patches")
    return n


def _require(stats: AttentionStats, name: str) -> torch.Tensor:
    value = getattr(stats, name)
    if value is None:
        raise ValueError(f"this seed selection needs AttentionStats.{name}")
    return value


def _check_n(n: int, num_patches: int) -> None:
    if not 1 <= n <= num_patches:
        raise ValueError(f"n_seeds must be in [1, {num_patches}], got {n}")


def _top(score: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    _check_n(n, score.shape[-1])
    scores, indices = score.topk(n, dim=-1, largest=True, sorted=True)
    return indices, scores


def patch_saliency_scores(patch_entropy: torch.Tensor) -> torch.Tensor:
    """(F, H, N) row entropies -> (F, N) saliency in [0, 1] (vid-TLDR).

    Sharp attention rows (low entropy) are salient: negative entropy averaged over
    heads, min-max normalised per frame.
    """
    s = -patch_entropy.mean(dim=1)
    lo = s.amin(dim=-1, keepdim=True)
    hi = s.amax(dim=-1, keepdim=True)
    # A frame whose patches are all equally sharp would divide 0 by 0.
    return (s - lo) / (hi - lo).clamp_min(torch.finfo(s.dtype).tiny)


@seed_selector("cls_avg")
def cls_avg(stats: AttentionStats, n_seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS]->patch attention averaged over heads, top-n (TC-CLIP code; the default)."""
    return _top(stats.cls_attn.mean(dim=1), n_seeds)


@seed_selector("cls_headwise")
def cls_headwise(stats: AttentionStats, n_seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each head picks its own top ceil(n/H) patches by its [CLS] attention (TC-CLIP paper).

    No exact rule is published; this is ours: the union of the heads' picks comes
    first, ordered by the head-averaged score, then the best remaining patches by the
    averaged score fill it up to n. A union larger than n keeps its n members with
    the highest averaged score. Scores are the averaged [CLS] attention.
    """
    attn = stats.cls_attn
    num_frames, heads, num_patches = attn.shape
    _check_n(n_seeds, num_patches)
    avg = attn.mean(dim=1)
    per_head = min(math.ceil(n_seeds / heads), num_patches)
    picked = attn.topk(per_head, dim=-1).indices.reshape(num_frames, -1)
    in_union = torch.zeros_like(avg, dtype=torch.bool).scatter_(1, picked, True)
    # Rank by averaged score, then move union members to the front keeping that rank.
    by_avg = avg.argsort(dim=-1, descending=True, stable=True)
    union_first = (~in_union.gather(1, by_avg)).to(torch.uint8).argsort(dim=-1, stable=True)
    indices = by_avg.gather(1, union_first)[:, :n_seeds]
    return indices, avg.gather(1, indices)


@seed_selector("patch_saliency", needs={"patch_entropy"})
def patch_saliency(stats: AttentionStats, n_seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches whose own attention is sharpest, top-n (vid-TLDR, Choi et al., CVPR 2024).

    Score: negative entropy of the patch's attention row averaged over heads,
    min-max normalised per frame (see ``patch_saliency_scores``).
    """
    return _top(patch_saliency_scores(_require(stats, "patch_entropy")), n_seeds)


@seed_selector("ats", needs={"value_norm"})
def ats(stats: AttentionStats, n_seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive Token Sampling significance, deterministic top-n (Fayyaz et al., ECCV 2022).

    S_j = mean_h a^h[cls -> j] * ||v_j||, normalised to sum 1 per frame. ATS's
    inverse-CDF sampling is not used: top-n keeps the selection deterministic.
    """
    s = stats.cls_attn.mean(dim=1) * _require(stats, "value_norm")
    return _top(s / s.sum(dim=-1, keepdim=True), n_seeds)


@seed_selector("random")
def random_patches(stats: AttentionStats, n_seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Control: n patches per frame uniformly at random (no paper).

    Uses torch's global RNG (seeded runs reproduce); picks come in random order,
    scores are their head-averaged [CLS] attention.
    """
    avg = stats.cls_attn.mean(dim=1)
    _check_n(n_seeds, avg.shape[-1])
    # argsort of iid uniforms = one independent random permutation per frame.
    noise = torch.rand(avg.shape, device=avg.device)
    indices = noise.argsort(dim=-1)[:, :n_seeds]
    return indices, avg.gather(1, indices)
