"""Building splits from a seed: K-shot subsets, base/novel class partitions, relabelling.

Used by the synthetic benchmark (which writes its own split files) and by the protocols
when a user asks for K-shot splits generated from a seed instead of the given lists.
Everything is a pure function of its inputs and the seed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from tcclip.data.annotations import Annotation
from tcclip.data.errors import AnnotationError


def by_class(entries: Sequence[Annotation]) -> dict[int, list[Annotation]]:
    groups: dict[int, list[Annotation]] = defaultdict(list)
    for entry in entries:
        groups[entry.label].append(entry)
    return dict(sorted(groups.items()))


def k_shot(entries: Sequence[Annotation], k: int, seed: int, source: str = "pool") -> list[Annotation]:
    """Exactly ``k`` entries of every class present in ``entries``, drawn without replacement.

    Classes are listed in label order; a class with fewer than k entries is an error.
    The draw for a class depends only on (seed, that class's entries), so adding a class
    to the pool does not change the others' shots.
    """
    if k < 1:
        raise AnnotationError(f"{source}: K must be >= 1, got {k}")
    out: list[Annotation] = []
    for label, group in by_class(entries).items():
        if len(group) < k:
            raise AnnotationError(f"{source}: class {label} has {len(group)} videos, fewer than K={k}")
        ordered = sorted(group, key=lambda e: e.path)  # independent of the pool's line order
        rng = np.random.default_rng([int(seed), int(k), int(label)])
        picks = rng.choice(len(ordered), size=k, replace=False)
        out.extend(Annotation(ordered[i].path, label) for i in sorted(picks))
    return out


def base_novel_classes(num_classes: int, num_base: int, seed: int) -> tuple[list[int], list[int]]:
    """A seeded partition of class ids into base (num_base) and novel (the rest), each sorted."""
    if not 0 < num_base < num_classes:
        raise ValueError(f"num_base must be in 1..{num_classes - 1}, got {num_base}")
    order = np.random.default_rng(seed).permutation(num_classes)
    return sorted(order[:num_base].tolist()), sorted(order[num_base:].tolist())


def relabel(entries: Sequence[Annotation], old_ids: Sequence[int]) -> list[Annotation]:
    """Keep the entries whose label is in ``old_ids`` and renumber them 0..len(old_ids)-1
    in that order (how base/novel and zero-shot class subsets get their own label files)."""
    new_id = {old: new for new, old in enumerate(old_ids)}
    return [Annotation(e.path, new_id[e.label]) for e in entries if e.label in new_id]
