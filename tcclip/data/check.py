"""`tcclip data check`: find every problem of an annotation list in one pass, before training.

Problems, by kind:
  bad_line            a line that is not ``relative/path.ext <integer label>``
  label_out_of_range  a label >= the number of classes in the label file
  missing             the video file does not exist
  empty               a 0-byte file or a video without frames
  unreadable          the decoder cannot open it or cannot decode the frames read

How much is decoded (``decode``): "open" (container + frame count), "ends" (default: the
first and last frame, which catches truncated files cheaply) or "all" (every frame).
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tcclip.data.annotations import iter_annotation_list, load_class_names
from tcclip.data.errors import AnnotationError, VideoError
from tcclip.data.video import open_video, resolve_backend

KINDS = ("bad_line", "label_out_of_range", "missing", "empty", "unreadable")
DECODE_MODES = ("open", "ends", "all")


@dataclass(frozen=True)
class Problem:
    kind: str
    line: int
    path: str
    message: str


@dataclass
class CheckReport:
    annotation_list: str
    video_root: str
    num_classes: int | None
    lines: int = 0
    videos_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    fingerprint: str | None = None  # entries + class names (tcclip.data.fingerprint.list_fingerprint)
    videos_fingerprint: str | None = None  # the listed videos' bytes, when asked for

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        found = Counter(p.kind for p in self.problems)
        return {kind: found.get(kind, 0) for kind in KINDS}

    def to_dict(self) -> dict:
        return {
            "annotation_list": self.annotation_list,
            "video_root": self.video_root,
            "num_classes": self.num_classes,
            "lines": self.lines,
            "videos_checked": self.videos_checked,
            "ok": self.ok,
            "counts": self.counts(),
            "fingerprint": self.fingerprint,
            "videos_fingerprint": self.videos_fingerprint,
            "problems": [asdict(p) for p in self.problems],
        }

    def summary(self, max_listed: int = 10) -> str:
        counts = self.counts()
        head = (
            f"{self.annotation_list}: {self.lines} entries, {self.videos_checked} videos decoded, "
            f"{len(self.problems)} problem(s): " + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
        listed = [f"  line {p.line}: {p.kind}: {p.message}" for p in self.problems[:max_listed]]
        if self.fingerprint:
            listed.insert(0, f"  fingerprint (entries + labels): {self.fingerprint}")
        if self.videos_fingerprint:
            listed.insert(1, f"  fingerprint (video contents): {self.videos_fingerprint}")
        if len(self.problems) > max_listed:
            listed.append(f"  ... {len(self.problems) - max_listed} more (write them all with --report FILE)")
        return "\n".join([head, *listed])

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path


def probe_video(path: str, backend: str, decode: str) -> tuple[str, str] | None:
    """None if the video is fine, else (kind, message). Top-level so worker processes can run it."""
    try:
        reader = open_video(path, backend)
        if decode == "ends":
            reader.get_batch(sorted({0, reader.num_frames - 1}))
        elif decode == "all":
            reader.get_batch(range(reader.num_frames))
    except VideoError as err:
        return err.kind, str(err)
    return None


def check_dataset(
    annotation_list: str | Path,
    video_root: str | Path,
    label_file: str | Path | None = None,
    num_classes: int | None = None,
    backend: str = "decord",
    decode: str = "ends",
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Check every line and video of ``annotation_list``; never raises for a bad entry."""
    if decode not in DECODE_MODES:
        raise AnnotationError(f"decode mode {decode!r}: expected one of {', '.join(DECODE_MODES)}")
    if label_file is not None:
        num_classes = len(load_class_names(label_file))
    backend = resolve_backend(backend)
    root = Path(video_root)
    report = CheckReport(str(annotation_list), str(root), num_classes)

    videos: list[tuple[int, str]] = []
    for item in iter_annotation_list(annotation_list):
        report.lines += 1
        if isinstance(item, AnnotationError):
            report.problems.append(Problem("bad_line", getattr(item, "line", 0), "", str(item)))
            continue
        if num_classes is not None and item.label >= num_classes:
            report.problems.append(
                Problem("label_out_of_range", item.line, item.path,
                        f"label {item.label} is out of range (expected 0..{num_classes - 1})")
            )
        videos.append((item.line, str(root / item.path)))

    results = _probe_all(videos, backend, decode, workers, progress)
    for (line, path), outcome in zip(videos, results):
        report.videos_checked += 1
        if outcome is not None:
            kind, message = outcome
            report.problems.append(Problem(kind, line, path, message))
    report.problems.sort(key=lambda p: (p.line, KINDS.index(p.kind)))
    return report


def _probe_all(videos, backend, decode, workers, progress) -> Iterable[tuple[str, str] | None]:
    paths = [path for _, path in videos]
    if workers <= 1:
        results = []
        for i, path in enumerate(paths):
            results.append(probe_video(path, backend, decode))
            if progress:
                progress(i + 1, len(paths))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = []
        for i, outcome in enumerate(pool.map(probe_video, paths, [backend] * len(paths), [decode] * len(paths), chunksize=64)):
            results.append(outcome)
            if progress:
                progress(i + 1, len(paths))
        return results
