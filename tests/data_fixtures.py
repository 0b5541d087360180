"""Shared fixtures of the data tests: one tiny synthetic benchmark per session, small videos.

Import the fixtures a test module needs: ``from data_fixtures import synth_tiny  # noqa: F401``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TINY_SEED = 7


_GENERATED: dict[str, Path] = {}  # one benchmark per session, whichever module asks first


@pytest.fixture(scope="session")
def synth_tiny(tmp_path_factory) -> Path:
    """`tcclip synth --size tiny` through the CLI, generated once per session (a few seconds).

    Each importing module gets its own copy of this fixture definition, so the cache above
    is what makes it once per session rather than once per module.
    """
    from tcclip.cli import main

    if "tiny" not in _GENERATED:
        out = tmp_path_factory.mktemp("synth") / "tiny"
        args = ["synth", "--out", str(out), "--size", "tiny", "--seed", str(TINY_SEED), "--workers", "1", "--quiet"]
        assert main(args) == 0
        _GENERATED["tiny"] = out
    return _GENERATED["tiny"]


def moving_square_frames(num_frames: int = 12, height: int = 72, width: int = 72, seed: int = 0) -> np.ndarray:
    """A smooth background with a red square moving right: easy to recognise after decoding."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 100 + 30 * np.sin(x / 9.0 + rng.uniform(0, 6))[..., None] + 20 * np.cos(y / 11.0)[..., None]
    frames = np.repeat(np.clip(base + np.array([0, 10, 20]), 0, 255)[None], num_frames, axis=0)
    for t in range(num_frames):
        x0 = 4 + 3 * t
        frames[t, 20:40, x0 : x0 + 20] = (220, 30, 30)
    return frames.astype(np.uint8)


def write_list(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def fast_run_args(catalog: Path, output: Path, *extra: str) -> list[str]:
    """`tcclip train` arguments of a fast run: frame-wise embedded CLIP (random init), 2 frames,
    the fully-supervised task on the tiny benchmark's k400, 3 epochs of 3 updates."""
    return [
        "--config", "embedded",
        f"protocol.catalog={catalog}", "protocol.name=fully_supervised", f"output={output}",
        "model.preset=vifi_clip", "model.backbone.weights=null",
        "data.num_frames=2", "data.num_clips=1", "data.num_crops=1",
        "train.epochs=3", "train.warmup_epochs=1", "train.total_batch=8", "train.batch_size=4",
        "train.lr=1e-4", "eval.batch_size=12", *extra,
    ]


def only_run(output: Path) -> Path:
    """The one run directory under ``output``."""
    (run,) = [p for p in output.iterdir() if (p / "config.yaml").is_file()]
    return run
