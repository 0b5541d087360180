"""Products that decide something run in at least float32, also under autocast.

Under ``torch.autocast`` a matrix product runs in bfloat16 or float16 (8 or 11 bits of
mantissa). Where its result is a logit that is compared with others (the x100 class
logits, the [CLS] scores that pick seed tokens) or a similarity that picks a merge partner,
that rounding makes near-equal values tie and flips choices. These places compute in
float32 (float64 stays float64), with autocast off; in a float32 or float64 run nothing
changes (the casts are no-ops).
"""

from __future__ import annotations

import contextlib

import torch


def full_precision(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each tensor in float32, or in its own dtype when that is wider (float64)."""
    return tuple(t.to(torch.promote_types(t.dtype, torch.float32)) for t in tensors)


def autocast_off(device: torch.device) -> contextlib.AbstractContextManager:
    """A region where autocast does not lower products (on the tensors' device type; a device
    without autocast, such as "meta" where benchmarks/flops.py counts, needs nothing)."""
    if not torch.amp.is_autocast_available(device.type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, enabled=False)
