"""Spatial transforms of a clip: the paper's train augmentation and test crops.

Frames arrive as uint8 (T, H, W, 3) from a video reader and leave as (T, 3, S, S) clips:
uint8 where every step is integral (``pixels=True`` with ``resize="official"``), float32 on
the 0-255 scale otherwise; ``normalize`` (ImageNet mean/std on the 0-255 scale) makes the
model's input, and ``model_input`` is what the engine calls on a batch where the model runs. One crop, flip and
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

How the pixels are resampled: ``train_crop`` / ``view_crops`` with ``resize=``

* ``"official"`` (default; the official ``datasets/build.py`` pipelines, whose ``Resize``
  calls ``mmcv.imresize``, i.e. ``cv2.resize`` with ``INTER_LINEAR`` on uint8 frames).
  Training resamples twice: the whole frame to the new size that ``mmcv.rescale_size``
  rounds (each side ``int(side * short_side / short + 0.5)``), stored as uint8; then the
  ``MultiScaleCrop`` box, cut on that integer grid (offsets ``k * ((side - crop) // 4)``, a
  crop side within 3 px of S taken as S), is resized again to S x S
  (``Resize(keep_ratio=False)``; a crop that is already S x S is copied). Test resamples once:
  short side -> ``short_side`` (1 crop) or -> S (3 crops), then ``CenterCrop``
  (``(side - S) // 2``) or ``ThreeCrop`` (offsets 0, ``(side - S) // 2``, twice that) cut
  the S x S views without a second resize. Bilinear, half-pixel centres, no antialiasing:
  a downscale by more than 2 skips source pixels. ``resize_like_opencv`` reproduces
  OpenCV's fixed-point arithmetic (11-bit weights, the rounding of its SIMD row blend), so
  the uint8 frames equal ``cv2.resize``'s bit for bit where OpenCV blends rows with its
  SIMD code (checked against opencv-python-headless 4.14 on x86-64 by
  ``benchmarks/resize_modes.py``; a build without SIMD rounds the row blend once, not
  twice, and differs by one level on about 1 value in 8); the colour jitter that follows runs in float where the official
  one rounds each PIL op to uint8 (``ColorJitter``).
* ``"single_antialiased"`` (ours before issue #15): one resample per view, from the
  original frame: the crop box is computed in resized coordinates, mapped back to
  original pixels and resized to S x S with torch's antialiased bilinear when it shrinks
  (plain bilinear when it grows). The geometry is the same up to rounding; it costs less
  (one resize of the crop, not of the whole frame), averages all the source pixels a
  downscale covers instead of aliasing, and when no rescaling is needed (e.g. the
  synthetic 72-px clips with short_side 72 and a centre crop) pixels pass through exactly.
  Its measured difference from the official resampling is in benchmarks/README.md.
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


def _draw_crop(base: float, scales: tuple[float, ...], max_scale_gap: int,
               rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(crop_w, crop_h, px, py): a multi-scale size and one of five positions in quarters."""
    sizes = [int(base * s) for s in scales]
    pairs = [(cw, ch) for i, cw in enumerate(sizes) for j, ch in enumerate(sizes) if abs(i - j) <= max_scale_gap]
    crop_w, crop_h = pairs[rng.integers(len(pairs))]
    positions = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)]  # top-left, top-right, bottom-left, bottom-right, centre
    px, py = positions[rng.integers(len(positions))]
    return crop_w, crop_h, px, py


def multiscale_crop_box(
    height: int,
    width: int,
    short_side: int,
    rng: np.random.Generator,
    scales: tuple[float, ...] = MULTISCALE,
    max_scale_gap: int = 1,
) -> Box:
    """Random multi-scale crop at one of five fixed positions (corners, centre), in original
    pixels (``resize="single_antialiased"``)."""
    scale, rh, rw = _resized_shape(height, width, short_side)
    crop_w, crop_h, px, py = _draw_crop(min(rh, rw), scales, max_scale_gap, rng)
    step_w, step_h = (rw - crop_w) / 4, (rh - crop_h) / 4
    return _to_original((px * step_w, py * step_h, crop_w, crop_h), scale, height, width)


def official_multiscale_crop_box(
    height: int,
    width: int,
    size: int,
    rng: np.random.Generator,
    scales: tuple[float, ...] = MULTISCALE,
    max_scale_gap: int = 1,
) -> Box:
    """The same draw as ``multiscale_crop_box``, as the official ``MultiScaleCrop`` places it
    on a frame already resized to ``height`` x ``width``: integer steps, and a side within
    3 px of ``size`` taken as ``size`` (so that crop is not resampled again)."""
    crop_w, crop_h, px, py = _draw_crop(min(height, width), scales, max_scale_gap, rng)
    crop_w, crop_h = (size if abs(side - size) < 3 else side for side in (crop_w, crop_h))
    step_w, step_h = (width - crop_w) // 4, (height - crop_h) // 4
    return Box(px * step_w, py * step_h, crop_w, crop_h)


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


RESIZE_MODES = ("official", "single_antialiased")
_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS: bilinear weights in 1/2048ths


def rescaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side at ``short_side``, rounded as ``mmcv.rescale_size``
    does (``int(side * scale + 0.5)``): 240 x 320 -> 256 x 341."""
    scale = short_side / min(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def _opencv_taps(n_in: int, n_out: int, clamp_weights: bool) -> tuple[torch.Tensor, ...]:
    """Along one axis: the two source indices and the fixed-point weights of each output
    pixel under cv2.INTER_LINEAR. OpenCV places the sample at (i + 0.5) * n_in / n_out - 0.5
    (scale in double, position in float). Along x it moves a sample that falls outside the
    frame onto the edge pixel with weight 1; along y it keeps the weights and only clamps
    the row indices, so an edge row is blended with itself (which the rounding of the row
    blend can tell apart)."""
    scale = 1.0 / (n_out / n_in)
    pos = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * scale - 0.5).float()
    first = pos.floor()
    frac = pos - first
    first = first.long()
    if clamp_weights:
        low, high = first < 0, first >= n_in - 1
        frac = torch.where(low | high, torch.zeros_like(frac), frac)
        first = torch.where(low, torch.zeros_like(first), torch.where(high, torch.full_like(first, n_in - 1), first))
    one = float(1 << _COEF_BITS)
    w0 = ((1.0 - frac) * one).round().int()  # cvRound: half to even, as torch.round
    w1 = (frac * one).round().int()
    return first.clamp(0, n_in - 1), (first + 1).clamp(0, n_in - 1), w0, w1


def resize_like_opencv(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 (T, H, W, C) -> uint8 (T, height, width, C), as ``cv2.resize(INTER_LINEAR)``.

    Columns first, in exact integers (pixel x weight, 2**11 per unit); then each output row
    blends two of those rows the way OpenCV's SIMD code does: both dropped by 4 bits, each
    product's high 16 bits kept, + 2, >> 2. No antialiasing. Same size: a copy, as OpenCV.
    """
    if tuple(frames.shape[1:3]) == (height, width):
        return frames
    x0, x1, a0, a1 = _opencv_taps(frames.shape[2], width, clamp_weights=True)
    y0, y1, b0, b1 = _opencv_taps(frames.shape[1], height, clamp_weights=False)
    src = frames.index_select(1, torch.cat([y0, y1])).int()  # only the rows the output reads
    rows = src.index_select(2, x0) * a0.view(1, 1, -1, 1) + src.index_select(2, x1) * a1.view(1, 1, -1, 1)
    top, bottom = (rows >> 4).split(height, dim=1)  # >> 4: OpenCV's rows fit int16 this way
    blend = ((top * b0.view(1, -1, 1, 1)) >> 16) + ((bottom * b1.view(1, -1, 1, 1)) >> 16)
    return ((blend + 2) >> 2).clamp_(0, 255).to(torch.uint8)


def _short_side_like_opencv(frames: np.ndarray, short_side: int) -> torch.Tensor:
    """uint8 (T, H, W, 3) frames with the short side resized to ``short_side`` as the official
    pipeline does (``rescaled_size``'s rounding, ``resize_like_opencv``), uint8 tensor out."""
    return resize_like_opencv(torch.from_numpy(np.ascontiguousarray(frames)),
                              *rescaled_size(frames.shape[1], frames.shape[2], short_side))


def _as_clip(frames: torch.Tensor, pixels: bool = False) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (T, 3, H, W) on the 0-255 scale, or uint8 (T, 3, H, W)
    with ``pixels`` (the same values: the float is an exact copy of the integers)."""
    clip = frames.permute(0, 3, 1, 2)
    return clip.contiguous() if pixels else clip.float()


def _check_pixels(pixels: bool, resize: str) -> None:
    if pixels and resize != "official":  # antialiased float resampling: uint8 would round it
        raise ValueError(f"uint8 clips need resize='official' (its resampling is on uint8), not {resize!r}")


def _cut(frames: torch.Tensor, box: Box) -> torch.Tensor:
    return frames[:, box.y : box.y + box.h, box.x : box.x + box.w]


def train_crop(frames: np.ndarray, short_side: int, size: int, rng: np.random.Generator,
               scales: tuple[float, ...] = MULTISCALE, resize: str = "official",
               pixels: bool = False) -> torch.Tensor:
    """The multi-scale training crop of uint8 (T, H, W, 3) frames -> float32 (T, 3, size, size),
    or uint8 with ``pixels`` (``resize="official"`` only)."""
    _check_pixels(pixels, resize)
    height, width = frames.shape[1:3]
    if resize == "single_antialiased":
        return crop_resize(frames, multiscale_crop_box(height, width, short_side, rng, scales), size)
    resized = _short_side_like_opencv(frames, short_side)
    box = official_multiscale_crop_box(resized.shape[1], resized.shape[2], size, rng, scales)
    return _as_clip(resize_like_opencv(_cut(resized, box), size, size), pixels)


def view_crops(frames: np.ndarray, short_side: int, size: int, num_crops: int,
               resize: str = "official", pixels: bool = False) -> list[torch.Tensor]:
    """The test views of uint8 (T, H, W, 3) frames: 1 centre crop or 3 crops along the long
    side, each float32 (T, 3, size, size), or uint8 with ``pixels`` (``resize="official"`` only)."""
    _check_pixels(pixels, resize)
    height, width = frames.shape[1:3]
    if resize == "single_antialiased":
        boxes = ([center_crop_box(height, width, short_side, size)] if num_crops == 1
                 else three_crop_boxes(height, width, size))
        return [crop_resize(frames, box, size) for box in boxes]
    target = short_side if num_crops == 1 else size
    resized = _short_side_like_opencv(frames, target)
    return [_as_clip(_cut(resized, box), pixels) for box in official_test_boxes(*resized.shape[1:3], size, num_crops)]


def official_test_boxes(height: int, width: int, size: int, num_crops: int) -> list[Box]:
    """``CenterCrop`` / ``ThreeCrop`` boxes on a frame already resized to ``height`` x ``width``.
    Three crops come in our order, start / centre / end (the official lists start, end,
    centre; the views are averaged, so the order does not change a score)."""
    if num_crops == 1:
        return [Box((width - size) // 2, (height - size) // 2, size, size)]
    if width >= height:
        step = (width - size) // 2
        return [Box(k * step, 0, size, size) for k in range(3)]
    step = (height - size) // 2
    return [Box(0, k * step, size, size) for k in range(3)]


def normalize(clip: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) on the 0-255 scale, uint8 or float -> ImageNet-normalised float (float32
    for uint8), on the clip's device. A uint8 clip gives bit for bit what its float32 copy
    gives: the conversion is exact and the same float32 subtraction and division follow."""
    dtype = clip.dtype if clip.is_floating_point() else torch.float32
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype, device=clip.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype, device=clip.device).view(1, 3, 1, 1)
    return (clip.to(dtype) - mean) / std


def model_input(video: torch.Tensor) -> torch.Tensor:
    """A batch of clips as the model takes it, where the model runs: uint8 pixels (what the
    dataset sends where its transform is integral: ``VideoDataset.pixels``) are normalised
    here; float clips were normalised where they were built and pass unchanged."""
    return video if video.is_floating_point() else normalize(video)


def to_pixels(video: torch.Tensor) -> torch.Tensor:
    """A dataset item or batch back on the 0-255 float scale, either transport (uint8 pixels
    exactly; a normalised float clip up to float rounding): for tests and figures."""
    return denormalize(video) if video.is_floating_point() else video.float()


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
