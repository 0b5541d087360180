"""Evaluation arithmetic: multi-view aggregation, top-k accuracy, harmonic mean.

Pure functions on tensors/numbers so that each can be checked against hand-computed
values (tests/test_engine_metrics.py).
"""

from __future__ import annotations

import math

import torch


def aggregate_views(logits: torch.Tensor) -> torch.Tensor:
    """Per-video scores from per-view logits (B, V, K): the sum of the views' softmax.

    This is the paper's test protocol (clips x crops, softmax scores summed); summing
    probabilities rather than logits keeps one over-confident view from dominating.
    """
    if logits.ndim != 3:
        raise ValueError(f"expected logits of shape (videos, views, classes), got {tuple(logits.shape)}")
    return logits.float().softmax(dim=-1).sum(dim=1)


TOPK = (1, 5)
"""The accuracies every evaluation reports (top-1, top-5); the predictions files keep max(TOPK) ids."""


def top_ranked(scores: torch.Tensor, k: int) -> torch.return_types.topk:
    """The k highest scores of each row and their class ids, k capped at the number of classes:
    the one ranking both the accuracies and the per-video predictions use (ties resolve alike)."""
    return scores.topk(min(k, scores.shape[-1]), dim=-1)


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = TOPK) -> dict[int, torch.Tensor]:
    """For each k, a bool (B,) tensor: is the label among the k highest scores?

    k larger than the number of classes counts every video as correct (top-5 of a
    3-class set is trivially 100%); callers report the effective k.
    """
    num_classes = scores.shape[-1]
    top = top_ranked(scores, max(ks)).indices  # (B, kmax)
    hits = top == labels[:, None]
    return {k: hits[:, : min(k, num_classes)].any(dim=-1) for k in ks}


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = TOPK) -> dict[int, float]:
    """Top-k accuracy in percent over videos."""
    if len(labels) == 0:
        raise ValueError("no videos to score")
    return {k: 100.0 * int(hit.sum()) / len(labels) for k, hit in topk_correct(scores, labels, ks).items()}


def harmonic_mean(base: float, novel: float) -> float:
    """HM = 2BN / (B + N), the base-to-novel summary (0 when both are 0)."""
    if base + novel == 0:
        return 0.0
    return 2.0 * base * novel / (base + novel)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population std (ddof 0), the paper's 'a ± b' over evaluation splits."""
    if not values:
        raise ValueError("mean_std of an empty list")
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
