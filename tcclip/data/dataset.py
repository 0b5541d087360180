"""The video dataset: annotation list + video root -> clips (uint8 pixels or normalised float).

``VideoDataset[i]`` returns ``{"video": tensor, "label": int, "index": int}``:

* train mode: video (T, 3, S, S): TSN random-offset frames, the paper's augmentation;
* test mode: video (V, T, 3, S, S), V = num_clips x num_crops views, clip-major
  (view v = clip v // num_crops, crop v % num_crops).

The video travels as uint8 pixels where its whole transform is integral
(``VideoDataset.pixels``: test views and un-jittered training clips with
``resize="official"``), a quarter of float32's bytes through the DataLoader workers, the
pinned batch and the host-to-device copy; the engine normalises it where the model runs
(``transforms.model_input``, bit for bit what normalising here gave). Otherwise it is
float32, normalised here, as before.

Bad videos (missing, undecodable, no frames) follow ``DataConfig.on_error``:

* ``raise``: a one-line VideoError naming the file (and the list line) stops the run;
* ``skip``: the sample comes back with ``video=None`` and the reason; ``collate_videos``
  drops it from the batch and lists it under ``batch["skipped"]``, so the count survives
  DataLoader worker processes. Feed the batches to a ``SkipLog`` to get the totals for
  the metrics file. ``dataset.skipped`` additionally records the skips seen in this
  process (complete when num_workers=0).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from tcclip.data import sampling, transforms
from tcclip.data.annotations import Annotation, read_annotation_list
from tcclip.data.errors import CatalogError, VideoError
from tcclip.data.video import open_video, resolve_backend
from tcclip.errors import ConfigError


@dataclass
class DataConfig:
    """How clips are sampled, decoded and transformed. Defaults are the paper's values.

    mode            "train" (one augmented clip) or "test" (clips x crops views)
    num_frames      T: frames per clip, one per TSN segment (paper 16; embedded 8)
    input_size      S: side of the square crop fed to the model (paper 224; embedded 64)
    short_side      frames are scaled so their short side is this before cropping, in
                    training and 1-crop testing (paper 256; embedded 72 = the rendered size)
    num_clips       test: temporal views per video (zero-shot/few-shot 2, fully-supervised 4)
    num_crops       test: 1 = centre crop, 3 = start/centre/end crops after short side -> S
    view_sampling   test: "official" (1 clip: segment centres; more: random offsets per
                    clip, seeded per video) or "deterministic" (evenly shifted positions)
    view_seed       seed of the official random views (combined with the video index)
    backend         "decord" or "pyav". Without decord, "decord" falls back to PyAV with a
                    warning at the embedded scale and is an error at the paper scale (PyAV's
                    frame indexing can differ): "pyav" asks for it explicitly
    on_error        "raise" or "skip" (counted; see module docstring)
    hflip           train: random horizontal flip p=0.5 (False for SSv2 and any dataset
                    whose classes name a left/right direction)
    scales          train: multi-scale crop scales of the short side
    color_jitter_p  train: probability of colour jitter (brightness/contrast/saturation/hue),
                    decided once per clip (official p=0.8)
    brightness, contrast, saturation, hue
                    train: jitter ranges (official 0.4, 0.4, 0.2, 0.1; ours before issue #15
                    had saturation 0.4)
    color_jitter    train: "per_frame" (official: torchvision's ColorJitter on each frame, new
                    factors and op order per frame) or "per_clip" (ours before issue #15: one
                    draw for the whole clip)
    grayscale_p     train: probability of converting the clip to greyscale
    resize          how frames are resampled, train and test (``transforms`` docstring):
                    "official" (OpenCV bilinear on uint8 without antialiasing: the frame to
                    short side ``short_side``, then in training the crop again to S x S) or
                    "single_antialiased" (ours before issue #15: one antialiased resize of
                    the crop from the original frame)
    shuffle_labels  negative control: the training list's labels are permuted across its
                    videos (seeded by the run's seed) so that no video keeps a label it
                    shows; evaluation lists are never touched. None/False: off (None keeps
                    the run ids of configs that do not set it)
    """

    mode: Literal["train", "test"] = "train"
    num_frames: int = 16
    input_size: int = 224
    short_side: int = 256
    num_clips: int = 1
    num_crops: int = 1
    view_sampling: Literal["official", "deterministic"] = "official"
    view_seed: int = 0
    backend: Literal["decord", "pyav"] = "decord"
    on_error: Literal["raise", "skip"] = "raise"
    hflip: bool = True
    scales: list[float] = field(default_factory=lambda: list(transforms.MULTISCALE))
    color_jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    color_jitter: Literal["per_frame", "per_clip"] = "per_frame"
    grayscale_p: float = 0.2
    resize: Literal["official", "single_antialiased"] = "official"
    shuffle_labels: bool | None = None

    @classmethod
    def paper(cls, **overrides) -> "DataConfig":
        return cls(**overrides)

    @classmethod
    def embedded(cls, **overrides) -> "DataConfig":
        """Embedded scale: 72-px synthetic clips, 64-px crops, 8 frames."""
        return cls(**{"num_frames": 8, "input_size": 64, "short_side": 72, **overrides})

    @property
    def num_views(self) -> int:
        return self.num_clips * self.num_crops

    def replace(self, **changes) -> "DataConfig":
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        def need(ok: bool, key: str, expected: str) -> None:
            if not ok:
                raise ConfigError(f"data.{key}: expected {expected}, got {getattr(self, key)!r}")

        need(self.mode in ("train", "test"), "mode", "'train' or 'test'")
        need(self.num_frames >= 1, "num_frames", "an integer >= 1")
        need(self.input_size >= 1, "input_size", "an integer >= 1")
        need(self.short_side >= self.input_size, "short_side", f">= input_size ({self.input_size})")
        need(self.num_clips >= 1, "num_clips", "an integer >= 1")
        need(self.num_crops in (1, 3), "num_crops", "1 or 3")
        need(self.view_sampling in sampling.VIEW_SAMPLING, "view_sampling", " or ".join(sampling.VIEW_SAMPLING))
        need(self.backend in ("decord", "pyav"), "backend", "'decord' or 'pyav'")
        need(self.on_error in ("raise", "skip"), "on_error", "'raise' or 'skip'")
        need(len(self.scales) > 0 and all(0 < s <= 1 for s in self.scales), "scales", "scales in (0, 1]")
        for key in ("color_jitter_p", "grayscale_p"):
            need(0.0 <= getattr(self, key) <= 1.0, key, "a probability in [0, 1]")
        need(0.0 <= self.hue <= 0.5, "hue", "a value in [0, 0.5]")
        for key in ("brightness", "contrast", "saturation"):
            need(0.0 <= getattr(self, key) <= 1.0, key, "a value in [0, 1]")
        need(self.color_jitter in transforms.JITTER_MODES, "color_jitter", " or ".join(transforms.JITTER_MODES))
        need(self.resize in transforms.RESIZE_MODES, "resize", " or ".join(transforms.RESIZE_MODES))

    def __post_init__(self) -> None:
        self.validate()


@dataclass(frozen=True)
class SkippedVideo:
    index: int
    path: str
    kind: str  # missing | unreadable | empty
    error: str


class VideoDataset(Dataset):
    """Videos of one annotation list. See the module docstring for what an item is."""

    def __init__(
        self,
        annotation_list: str | Path,
        video_root: str | Path,
        config: DataConfig | None = None,
        num_classes: int | None = None,
        entries: list[Annotation] | None = None,
    ):
        self.config = config or DataConfig()
        self.annotation_list = Path(annotation_list)
        self.video_root = Path(video_root)
        self.entries: list[Annotation] = (read_annotation_list(self.annotation_list, num_classes) if entries is None
                                          else list(entries))
        self.backend = resolve_backend(self.config.backend)  # warn about a missing decord once, here
        self.skipped: list[SkippedVideo] = []
        self._jitter = transforms.ColorJitter(
            self.config.brightness, self.config.contrast, self.config.saturation, self.config.hue,
            self.config.color_jitter,
        )

    @property
    def pixels(self) -> bool:
        """Whether items carry uint8 pixels (normalised by the engine) rather than normalised
        float32. Only where every step before normalisation yields integers 0..255: the
        official resampling (OpenCV-exact, on uint8), cuts and flips. Colour jitter (which
        runs in float here; the official one rounds each PIL op to uint8) and greyscale
        (0.299 R + 0.587 G + 0.114 B) are not integral, nor is ``single_antialiased``
        resampling, so a config that may apply them keeps float32 transport: rounding those
        clips to uint8 would change the numbers. The decision is per config, not per clip, so
        every item of a dataset has the same dtype (one batch, one dtype)."""
        cfg = self.config
        if cfg.resize != "official":
            return False
        return cfg.mode == "test" or (cfg.color_jitter_p == 0 and cfg.grayscale_p == 0)

    @classmethod
    def from_split(cls, split, config: DataConfig | None = None) -> "VideoDataset":
        """From a resolved protocol split (``tcclip.data.protocols.SplitSpec``); its hflip rule applies."""
        config = config or DataConfig()
        if split.video_root is None:
            raise CatalogError(f"{split.key}: no video root (set the dataset's root in the catalog or data.roots)")
        if not split.hflip and config.hflip:
            config = config.replace(hflip=False)
        return cls(split.annotation_list, split.video_root, config, num_classes=len(split.class_names))

    @classmethod
    def from_paths(cls, paths: list[str], video_root: str | Path = "", config: DataConfig | None = None,
                   source: str = "<videos>") -> "VideoDataset":
        """Unlabelled videos (label 0; ``tcclip predict``): each path relative to ``video_root``
        and, as a listed path is, the key of its official random test views."""
        entries = [Annotation(path=str(p), label=0, line=i) for i, p in enumerate(paths, start=1)]
        return cls(source, video_root, config, entries=entries)

    def __len__(self) -> int:
        return len(self.entries)

    def shuffle_labels(self, seed: int) -> None:
        """Negative control (``data.shuffle_labels``): permute the labels across the videos,
        seeded by the run's seed. Class frequencies stay; which video shows which class is lost."""
        labels = [entry.label for entry in self.entries]
        order = np.random.default_rng([seed, 0x5EED]).permutation(len(labels))
        self.entries = [dataclasses.replace(e, label=labels[j]) for e, j in zip(self.entries, order)]

    @property
    def labels(self) -> list[int]:
        return [entry.label for entry in self.entries]

    def video_path(self, index: int) -> Path:
        return self.video_root / self.entries[index].path

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.entries[index]
        path = self.video_root / entry.path
        try:
            if self.config.mode == "train":
                video = self._train_clip(path)
            else:
                video = self._test_views(path, index)
        except VideoError as err:
            if self.config.on_error == "raise":
                if entry.line:  # say where the video is listed too
                    listed = entry.source or self.annotation_list
                    err = VideoError(err.path, f"{err.problem} (listed at {listed}:{entry.line})", err.kind)
                if get_worker_info() is not None:  # a worker: VideoLoader raises it, as the main process would
                    return {"video": None, "label": entry.label, "index": index, "error": err}
                raise err from None
            skip = SkippedVideo(index, str(path), err.kind, str(err))
            self.skipped.append(skip)
            return {"video": None, "label": entry.label, "index": index, "skipped": skip}
        return {"video": video, "label": entry.label, "index": index}

    # -- the two modes -------------------------------------------------------------------

    def _train_clip(self, path: Path) -> torch.Tensor:
        cfg = self.config
        # torch's generator is seeded per DataLoader worker (and by torch.manual_seed in the
        # main process), so drawing the clip's seed from it keeps runs reproducible.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        reader = open_video(path, self.backend)
        indices = sampling.train_indices(reader.num_frames, cfg.num_frames, rng)
        return self.augment(_read(reader, indices), rng)

    def augment(self, frames: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """The train transform of decoded uint8 (T, H, W, 3) frames -> (T, 3, S, S): uint8
        pixels if ``self.pixels`` (jitter and greyscale then have probability 0), else normalised
        float32. The same draws from ``rng`` either way."""
        cfg = self.config
        clip = transforms.train_crop(frames, cfg.short_side, cfg.input_size, rng, tuple(cfg.scales), cfg.resize,
                                     pixels=self.pixels)
        if cfg.hflip and rng.random() < 0.5:
            clip = clip.flip(-1)
        if rng.random() < cfg.color_jitter_p:
            clip = self._jitter(clip, rng)
        if rng.random() < cfg.grayscale_p:
            clip = transforms.grayscale(clip)
        return clip.contiguous() if self.pixels else transforms.normalize(clip).contiguous()

    def _test_views(self, path: Path, index: int) -> torch.Tensor:
        cfg = self.config
        reader = open_video(path, self.backend)
        rng = sampling.view_rng(cfg.view_seed, self.entries[index].path)
        clip_indices = sampling.view_indices(reader.num_frames, cfg.num_frames, cfg.num_clips, cfg.view_sampling, rng)
        views = [view
                 for frames in _read_many(reader, clip_indices)
                 for view in transforms.view_crops(frames, cfg.short_side, cfg.input_size, cfg.num_crops, cfg.resize,
                                                   pixels=self.pixels)]
        views = torch.stack(views)  # (V, T, 3, S, S)
        return views if self.pixels else transforms.normalize(views)

    # -- loading -------------------------------------------------------------------------

    def collate(self, samples: list[dict]) -> dict[str, Any]:
        return collate_videos(samples, self.sample_shape, torch.uint8 if self.pixels else torch.float32)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        cfg = self.config
        frame = (cfg.num_frames, 3, cfg.input_size, cfg.input_size)
        return frame if cfg.mode == "train" else (cfg.num_views, *frame)


def _read(reader, indices: np.ndarray) -> np.ndarray:
    """Frames at ``indices`` (repeats allowed), decoding each distinct frame once."""
    unique, inverse = np.unique(indices, return_inverse=True)
    return reader.get_batch(unique.tolist())[inverse]


def _read_many(reader, clip_indices: np.ndarray) -> list[np.ndarray]:
    frames = _read(reader, clip_indices.reshape(-1))
    return list(frames.reshape(clip_indices.shape[0], clip_indices.shape[1], *frames.shape[1:]))


def collate_videos(samples: list[dict], sample_shape: tuple[int, ...],
                   dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """Stack the good samples; list the skipped ones under ``skipped`` (never dropped silently).
    A worker's unreadable video (on_error=raise) travels as the batch's ``error``. ``dtype``:
    the items' (an all-skipped batch is an empty tensor of it)."""
    errors = [s["error"] for s in samples if s.get("error") is not None]
    if errors:
        return {"error": errors[0]}
    good = [s for s in samples if s["video"] is not None]
    skipped = [s["skipped"] for s in samples if s["video"] is None]
    video = torch.stack([s["video"] for s in good]) if good else torch.empty((0, *sample_shape), dtype=dtype)
    return {
        "video": video,
        "label": torch.tensor([s["label"] for s in good], dtype=torch.long),
        "index": torch.tensor([s["index"] for s in good], dtype=torch.long),
        "skipped": skipped,
    }


class SkipLog:
    """Totals of the skipped videos over an epoch or an evaluation, for the metrics file."""

    def __init__(self) -> None:
        self.videos: dict[int, SkippedVideo] = {}

    def update(self, batch: dict) -> None:
        for skip in batch.get("skipped", []):
            self.videos[skip.index] = skip

    @property
    def count(self) -> int:
        return len(self.videos)

    def to_dict(self, max_listed: int = 20) -> dict[str, Any]:
        kinds = Counter(skip.kind for skip in self.videos.values())
        listed = [dataclasses.asdict(s) for s in sorted(self.videos.values(), key=lambda s: s.index)[:max_listed]]
        return {"skipped_videos": self.count, "by_kind": dict(sorted(kinds.items())), "examples": listed}


def build_loader(
    dataset: VideoDataset,
    batch_size: int,
    shuffle: bool | None = None,
    num_workers: int = 0,
    drop_last: bool | None = None,
    seed: int | None = None,
) -> DataLoader:
    """A DataLoader with the skip-aware collate; shuffles and drops the last batch in train mode."""
    train = dataset.config.mode == "train"
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return VideoLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train if shuffle is None else shuffle,
        num_workers=num_workers,
        drop_last=train if drop_last is None else drop_last,
        collate_fn=dataset.collate,
        generator=generator,
        persistent_workers=num_workers > 0,
    )


class VideoLoader(DataLoader):
    """A DataLoader whose worker processes report a bad video as the main process does: the
    one-line VideoError (naming the file and its list line), not torch's re-raised traceback.
    The list it loads is named by a worker-death message (tcclip.system_errors: LOADING while
    it iterates, WORKER_LISTS by worker pid for as long as its workers live)."""

    def __iter__(self):
        from tcclip.system_errors import LOADING, WORKER_LISTS, raise_if_interrupted

        source = self.dataset.dataset if isinstance(self.dataset, torch.utils.data.Subset) else self.dataset
        name = str(getattr(source, "annotation_list", source))
        LOADING.append(name)
        try:
            batches = super().__iter__()
            # Persistent workers outlive an epoch's iteration: a worker killed between epochs
            # (during validation or a checkpoint save) is named by its pid, not by LOADING.
            for worker in getattr(batches, "_workers", ()):
                WORKER_LISTS[str(worker.pid)] = name
            for batch in batches:
                if isinstance(batch, dict) and batch.get("error") is not None:
                    raise batch["error"]
                raise_if_interrupted()  # a Ctrl-C/SIGTERM lost in a finalizer stops at the next batch
                yield batch
        except RuntimeError as err:  # the list is popped below: let a worker-death message still name it
            err.tcclip_loading = name
            raise
        finally:
            LOADING.pop()
