"""TSN segment sampling: which frames of a video become the model's T input frames.

The video's n frames are cut into T equal segments and one frame is taken per segment
(as in TSN and in the mmaction ``SampleFrames(clip_len=1, frame_interval=1)`` step that
the official TC-CLIP code uses):

* training: a random frame inside each segment; segments are ``n // T`` frames long,
  so the last ``n % T`` frames are never drawn (mmaction's integer segments);
* test: the centre of each segment, ``floor((i + 0.5) * n / T)``;
* videos shorter than T frames repeat frames in order (``round(i * n / T)`` in training);
* every index is finally taken modulo n: anything out of range wraps around.

Multi-view testing takes ``num_clips`` such samplings per video:

* ``official``: one clip = segment centres; several clips = independent random-offset
  samplings (what the official code does: its multi-view test pipeline samples like
  training), drawn from a generator seeded per video so evaluation is repeatable;
* ``deterministic``: clip c takes position ``(c + 0.5) / num_clips`` inside every segment
  (for one clip: the centres) — evenly shifted views, no randomness at all.
"""

from __future__ import annotations

import zlib

import numpy as np

VIEW_SAMPLING = ("official", "deterministic")


def _wrap(indices: np.ndarray, num_video_frames: int) -> np.ndarray:
    return np.mod(indices.astype(np.int64), num_video_frames)


def train_indices(num_video_frames: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """One random frame per segment (training)."""
    n, t = _check(num_video_frames, num_segments)
    segment = n // t
    if segment > 0:
        offsets = np.arange(t) * segment + rng.integers(0, segment, size=t)
    else:  # fewer frames than segments: spread them evenly, repeating frames
        offsets = np.round(np.arange(t) * n / t)
    return _wrap(offsets, n)


def centre_indices(num_video_frames: int, num_segments: int, position: float = 0.5) -> np.ndarray:
    """The frame at ``position`` (0..1, default the centre) of every segment (test)."""
    n, t = _check(num_video_frames, num_segments)
    if not 0.0 <= position < 1.0:
        raise ValueError(f"position must be in [0, 1), got {position}")
    offsets = np.floor((np.arange(t) + position) * n / t)
    return _wrap(offsets, n)


def view_indices(
    num_video_frames: int,
    num_segments: int,
    num_clips: int,
    mode: str = "official",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frame indices of every temporal view: (num_clips, num_segments)."""
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if mode == "deterministic" or (mode == "official" and num_clips == 1):
        return np.stack([centre_indices(num_video_frames, num_segments, (c + 0.5) / num_clips) for c in range(num_clips)])
    if mode == "official":
        if rng is None:
            raise ValueError("official multi-clip views draw random offsets: pass rng")
        return np.stack([train_indices(num_video_frames, num_segments, rng) for _ in range(num_clips)])
    raise ValueError(f"view sampling {mode!r}: expected one of {', '.join(VIEW_SAMPLING)}")


def view_rng(seed: int, video: str) -> np.random.Generator:
    """Per-video generator for random test views, keyed by the video's listed path: the same
    views whatever the worker, and whichever list (split) the video is evaluated in."""
    return np.random.default_rng([int(seed), zlib.crc32(video.encode("utf-8"))])


def _check(num_video_frames: int, num_segments: int) -> tuple[int, int]:
    if num_video_frames < 1:
        raise ValueError(f"a video needs at least one frame, got {num_video_frames}")
    if num_segments < 1:
        raise ValueError(f"num_segments must be >= 1, got {num_segments}")
    return int(num_video_frames), int(num_segments)
