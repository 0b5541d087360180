"""Resampling (``data.resize``): the official two bilinear resizes vs ours, one antialiased resize.

In one run:
1. OpenCV check: ``transforms.resize_like_opencv`` against ``cv2.resize(INTER_LINEAR)`` on
   noise and texture frames (downscale, exact 2x, upscale); skipped with a line where cv2 is
   not importable (it is not a dependency: ``pip install --target DIR
   opencv-python-headless`` and put DIR on PYTHONPATH).
2. Pixels: mean and max |official - single_antialiased| on the 0-255 scale, the same crop
   draws in both, for the training crop and the 1-crop test view. Paper geometry: frames of
   a random texture with a natural-image spectrum (amplitude ~ 1/f), 340 x 256 (Kinetics as
   usually pre-resized) and 1280 x 720 (a raw 720p video), short side 256, crops -> 224.
   Embedded: decoded 72-px clips of the synthetic benchmark, short side 72, crops -> 64.
3. Speed: clips/s of the whole train transform (``VideoDataset.augment``: crop and resize,
   flip, per-frame colour jitter, greyscale, normalise; no decoding) and of its crop-and-
   resize stage alone, both modes round-robin in this process.

Exits 1 only where cv2 is importable and disagrees with ``resize_like_opencv``.

    python benchmarks/resize_modes.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from common import banner, init_threads, median, round_robin, spread, table  # noqa: E402  (sets sys.path)

from tcclip.data import transforms
from tcclip.data.dataset import DataConfig, VideoDataset
from tcclip.data.sampling import centre_indices
from tcclip.data.video import read_all_frames

MODES = transforms.RESIZE_MODES


def texture(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 (T, H, W, 3): random phases, amplitude ~ 1/f (the spectrum of natural images)."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(height, width))
    shape = (frames, 3, height, fx.shape[1])
    spectrum = amplitude * np.exp(2j * np.pi * rng.random(shape))
    pictures = np.fft.irfft2(spectrum, s=(height, width))
    pictures = (pictures - pictures.mean()) / pictures.std() * 40 + 128
    return np.clip(pictures, 0, 255).round().astype(np.uint8).transpose(0, 2, 3, 1)


def cv2_check(quick: bool) -> tuple[list, bool]:
    try:
        import cv2
    except ImportError:
        print("opencv check: skipped (cv2 not importable)")
        return [], True
    cv2.setNumThreads(1)
    cases = [((256, 340), (256, 340)), ((720, 1280), (256, 455)), ((512, 680), (256, 340)), ((240, 320), (256, 341)),
             ((256, 341), (224, 224)), ((192, 168), (224, 224)), ((72, 72), (64, 64)), ((63, 72), (64, 64))]
    rows, ok = [], True
    for (h, w), (nh, nw) in cases[:3] if quick else cases:
        for name, frames in (("noise", np.random.default_rng(h + w).integers(0, 256, (2, h, w, 3), dtype=np.uint8)),
                             ("texture", texture(2, h, w, h + w))):
            ours = transforms.resize_like_opencv(torch.from_numpy(frames), nh, nw).numpy()
            ref = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_LINEAR) for f in frames])
            differ = int((ours != ref).sum())
            ok &= differ == 0
            rows.append([f"{w}x{h} -> {nw}x{nh}", name, ours.size, differ])
    print(f"opencv {cv2.__version__}: resize_like_opencv vs cv2.resize(INTER_LINEAR)")
    print(table(rows, ["resize", "frames", "values", "values that differ"]))
    return rows, ok


def mode_difference(frames: np.ndarray, short_side: int, size: int, draws: int) -> tuple[str, str, str, str]:
    """(train mean, train max, test mean, test max) of |official - single_antialiased|."""
    train = []
    for seed in range(draws):
        a, b = (transforms.train_crop(frames, short_side, size, np.random.default_rng(seed), resize=m) for m in MODES)
        train.append((a - b).abs())
    (a,), (b,) = (transforms.view_crops(frames, short_side, size, 1, m) for m in MODES)
    train, test = torch.stack(train), (a - b).abs()
    return f"{train.mean():.2f}", f"{train.max():.0f}", f"{test.mean():.2f}", f"{test.max():.0f}"


def synthetic_clips(count: int) -> list[np.ndarray]:
    """Decoded 8-frame clips (segment centres) of the tiny synthetic benchmark, rendered here."""
    from tcclip.synth.generator import generate

    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp) / "synth", seed=0, size="tiny", workers=1, images=False)
        videos = sorted((Path(tmp) / "synth").rglob("*.mp4"))[:count]
        clips = []
        for video in videos:
            frames = read_all_frames(video, "pyav")
            clips.append(frames[centre_indices(len(frames), 8)])
    return clips


def pixel_table(quick: bool) -> list:
    draws = 4 if quick else 16
    rows = []
    for width, height in ((340, 256), (1280, 720)):
        frames = texture(4 if quick else 8, height, width, seed=width)
        rows.append([f"texture {width}x{height}, 256 -> 224", *mode_difference(frames, 256, 224, draws)])
    clips = synthetic_clips(2 if quick else 8)
    diffs = [mode_difference(clip, 72, 64, draws) for clip in clips]
    mean = lambda k: f"{np.mean([float(d[k]) for d in diffs]):.2f}"  # noqa: E731
    top = lambda k: f"{max(float(d[k]) for d in diffs):.0f}"  # noqa: E731
    rows.append([f"synthetic 72x72 ({len(clips)} clips), 72 -> 64", mean(0), top(1), mean(2), top(3)])
    return rows


def speed_table(quick: bool) -> list:
    repeats = 3 if quick else 7
    cases = [("paper 340x256, 16 frames", DataConfig.paper(), texture(16, 256, 340, 1)),
             ("paper 1280x720, 16 frames", DataConfig.paper(), texture(16, 720, 1280, 2)),
             ("embedded 72x72, 8 frames", DataConfig.embedded(), texture(8, 72, 72, 3))]
    rows = []
    for name, config, frames in cases[::2] if quick else cases:
        fns = {}
        for mode in MODES:
            cfg = config.replace(resize=mode)
            dataset = VideoDataset("<benchmark>", "", cfg, entries=[])
            rng = np.random.default_rng(0)
            fns[f"{mode} whole"] = lambda d=dataset, r=rng: d.augment(frames, r)
            fns[f"{mode} crop"] = lambda c=cfg, r=rng: transforms.train_crop(
                frames, c.short_side, c.input_size, r, tuple(c.scales), c.resize)
        times = round_robin(fns, repeats)
        for stage in ("whole", "crop"):
            official, ours = (times[f"{m} {stage}"] for m in MODES)
            rows.append([name, "train transform" if stage == "whole" else "crop + resize only",
                         f"{1 / median(official):.1f}", f"{1 / median(ours):.1f}",
                         f"{median(official) / median(ours):.2f}x", f"{spread(official)} / {spread(ours)}"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer geometries, draws and repeats")
    args = parser.parse_args()
    banner("resize modes: official (two bilinear resizes) vs single_antialiased", sys.argv)
    threads = init_threads()
    _, cv2_ok = cv2_check(args.quick)
    print("\n|official - single_antialiased|, 0-255 scale, the same crop draws")
    print(table(pixel_table(args.quick), ["frames", "train mean", "train max", "test mean", "test max"]))
    print(f"\nclips/s, {threads} torch thread(s), median of repeats (official / ours time ratio)")
    print(table(speed_table(args.quick), ["geometry", "stage", "official", "single_antialiased",
                                          "official time / ours", "spread (s)"]))
    return 0 if cv2_ok else 1


if __name__ == "__main__":
    sys.exit(main())
