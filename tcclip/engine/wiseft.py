"""WiSE-FT: weight-space ensembling of a fine-tuned model with the CLIP it started from.

θ = (1 − ratio)·θ_CLIP + ratio·θ_finetuned for every parameter that has a CLIP
counterpart (model state-dict names ``clip.<name>``); the parameters the variant adds
(local-global bias, prompt vectors, VP block, ...) have none and keep their fine-tuned
values. The paper's ratio is 0.7. Applied at evaluation time, so it needs no retraining.
"""

from __future__ import annotations

import torch

from tcclip.errors import ConfigError

CLIP_PREFIX = "clip."


def check_ratio(ratio: float) -> float:
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"wiseft ratio: must be in [0, 1] (weight of the fine-tuned model), got {ratio}")
    return ratio


def ensemble_weights(finetuned: dict[str, torch.Tensor], clip: dict[str, torch.Tensor], ratio: float) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Ensembled state dict and the names that were ensembled.

    ``finetuned``: the video model's state dict; ``clip``: the CLIP backbone's own state
    dict (names without the ``clip.`` prefix), as the model was initialised from.
    """
    check_ratio(ratio)
    merged: dict[str, torch.Tensor] = {}
    ensembled: list[str] = []
    for name, tuned in finetuned.items():
        original = clip.get(name[len(CLIP_PREFIX):]) if name.startswith(CLIP_PREFIX) else None
        if original is None or not tuned.is_floating_point():
            merged[name] = tuned
            continue
        if original.shape != tuned.shape:
            raise ConfigError(f"wiseft: {name} has shape {tuple(tuned.shape)} in the run but {tuple(original.shape)} in the CLIP weights")
        merged[name] = ((1.0 - ratio) * original.to(tuned) + ratio * tuned).to(tuned.dtype)
        ensembled.append(name)
    return merged, ensembled
