"""Spatial transforms of a clip: the paper's train augmentation and test crops.

Frames arrive as uint8 (T, H, W, 3) from a video reader and leave as float32
(T, 3, S, S), normalised with ImageNet mean/std on the 0-255 scale. One crop, flip and
greyscale decision is drawn per clip and applied to all of its frames (a crop that moved
from frame to frame would invent motion); colour jitter factors are drawn per frame, as in
the official pipeline, unless ``ColorJitter(mode="per_clip")``.

Training (protocols.md): short side -> ``short_side``; multi-scale crop with scales
(1, .875, .75, .66) of the short side, width and height scales at most one step apart,
placed at one of five fixed positions (four corners, centre); resize to S x S;
horizontal flip p=0.5 (off for direction-sensitive data such as SSv2); colour jitter
p=0.8 (brightness/contrast 0.4, saturation 0.2, hue 0.1, drawn per frame as in the official
pipeline; ``ColorJitter``); greyscale p=0.2.
Test: 1 crop = short side -> ``short_side``, centre crop S; 3 crops = short side -> S,
then three S x S crops along the long side (start, centre, end).

Why crop boxes are computed in resized coordinates and cut from the original frames:
one interpolation instead of two (resize whole frame, then crop and resize again) gives
the same geometry at a fraction of the cost; when no rescaling is needed (e.g. the
synthetic 72-px clips with short_side 72 and a centre crop) pixels pass through exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # 0-255 scale, as in the paper (not CLIP's own stats)
IMAGENET_STD = (58.395, 57.12, 57.375)
MULTISCALE = (1.0, 0.875, 0.75, 0.66)


@dataclass(frozen=True)
class Box:
    """A crop window in original-frame pixels."""

    x: int
    y: int
    w: int
    h: int


def _resized_shape(height: int, width: int, short_side: int) -> tuple[float, float, float]:
    scale = short_side / min(height, width)
    return scale, height * scale, width * scale


def _to_original(box_resized: tuple[float, float, float, float], scale: float, height: int, width: int) -> Box:
    x, y, w, h = (v / scale for v in box_resized)
    x0, y0 = int(round(x)), int(round(y))
    x1, y1 = int(round(x + w)), int(round(y + h))
    x0, y0 = max(0, min(x0, width - 1)), max(0, min(y0, height - 1))
    x1, y1 = max(x0 + 1, min(x1, width)), max(y0 + 1, min(y1, height))
    return Box(x0, y0, x1 - x0, y1 - y0)


def multiscale_crop_box(
    height: int,
    width: int,
    short_side: int,
    rng: np.random.Generator,
    scales: tuple[float, ...] = MULTISCALE,
    max_scale_gap: int = 1,
) -> Box:
    """Random multi-scale crop at one of five fixed positions (corners, centre)."""
    scale, rh, rw = _resized_shape(height, width, short_side)
    base = min(rh, rw)
    sizes = [int(base * s) for s in scales]
    pairs = [(cw, ch) for i, cw in enumerate(sizes) for j, ch in enumerate(sizes) if abs(i - j) <= max_scale_gap]
    crop_w, crop_h = pairs[rng.integers(len(pairs))]
    step_w, step_h = (rw - crop_w) / 4, (rh - crop_h) / 4
    positions = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)]  # top-left, top-right, bottom-left, bottom-right, centre
    px, py = positions[rng.integers(len(positions))]
    return _to_original((px * step_w, py * step_h, crop_w, crop_h), scale, height, width)


def center_crop_box(height: int, width: int, short_side: int, size: int) -> Box:
    scale, rh, rw = _resized_shape(height, width, short_side)
    size = min(size, rh, rw)
    return _to_original(((rw - size) / 2, (rh - size) / 2, size, size), scale, height, width)


def three_crop_boxes(height: int, width: int, size: int) -> list[Box]:
    """Short side -> size, then start / centre / end crops along the long side."""
    scale, rh, rw = _resized_shape(height, width, size)
    if rw >= rh:
        spots = [(0.0, 0.0), ((rw - size) / 2, 0.0), (rw - size, 0.0)]
    else:
        spots = [(0.0, 0.0), (0.0, (rh - size) / 2), (0.0, rh - size)]
    return [_to_original((x, y, size, size), scale, height, width) for x, y in spots]


def crop_resize(frames: np.ndarray, box: Box, size: int) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (T, 3, size, size) on the 0-255 scale."""
    patch = frames[:, box.y : box.y + box.h, box.x : box.x + box.w]
    clip = torch.from_numpy(np.ascontiguousarray(patch)).permute(0, 3, 1, 2).float()
    if (box.h, box.w) != (size, size):
        downscale = box.h > size or box.w > size
        clip = F.interpolate(clip, size=(size, size), mode="bilinear", align_corners=False, antialias=downscale)
        clip = clip.clamp_(0.0, 255.0)
    return clip


def normalize(clip: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, dtype=clip.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=clip.dtype).view(1, 3, 1, 1)
    return (clip - mean) / std


def denormalize(clip: torch.Tensor) -> torch.Tensor:
    """Back to the 0-255 scale (for tests and visual inspection)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=clip.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=clip.dtype).view(1, 3, 1, 1)
    return clip * std + mean


JITTER_MODES = ("per_frame", "per_clip")


@dataclass(frozen=True)
class ColorJitter:
    """Brightness, contrast and saturation factors drawn uniformly in [1 - x, 1 + x], hue in
    [-hue, hue] of a full turn, the four applied in a random order.

    ``mode="per_frame"`` (the official pipeline: torchvision's ColorJitter called on each frame
    separately) draws new factors and a new order for every frame, so the colours flicker from
    frame to frame; ``"per_clip"`` (ours before issue #15) draws them once and applies them to
    every frame. Works on float (T, 3, H, W) clips on the 0-255 scale; ops run in float (the
    official code rounds each op's PIL output to uint8).
    """

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    mode: str = "per_frame"

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        x = clip / 255.0
        if self.mode == "per_clip":
            x = self._jitter(x, rng)
        else:
            x = torch.stack([self._jitter(frame, rng) for frame in x])
        return x.clamp_(0.0, 1.0) * 255.0

    def _jitter(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """One draw of factors and order, applied to ``x`` ((3, H, W) or (T, 3, H, W), 0-1 scale)."""
        from torchvision.transforms.v2 import functional as TF

        ops = []
        if self.brightness > 0:
            ops.append(lambda t, f=rng.uniform(1 - self.brightness, 1 + self.brightness): TF.adjust_brightness(t, f))
        if self.contrast > 0:
            ops.append(lambda t, f=rng.uniform(1 - self.contrast, 1 + self.contrast): TF.adjust_contrast(t, f))
        if self.saturation > 0:
            ops.append(lambda t, f=rng.uniform(1 - self.saturation, 1 + self.saturation): TF.adjust_saturation(t, f))
        if self.hue > 0:
            ops.append(lambda t, f=rng.uniform(-self.hue, self.hue): TF.adjust_hue(t, f))
        for k in rng.permutation(len(ops)):
            x = ops[k](x)
        return x


def grayscale(clip: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=clip.dtype).view(1, 3, 1, 1)
    return (clip * weights).sum(dim=1, keepdim=True).expand_as(clip).contiguous()
