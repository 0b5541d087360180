"""`tcclip data index`: an annotation list from a folder-per-class layout.

Kinetics-400's training list is not shipped (it names ~240k YouTube clips, a user's copy
differs); it is rebuilt from ``ROOT/<class name>/<video>``. With a label file the
folder names are matched to its class names loosely (case, '_' vs ' ', quotes), so
"air_drumming" finds "air drumming"; without one the sorted folder names become the
classes (ids 0..K-1).
"""

from __future__ import annotations

import os
from pathlib import Path

from tcclip.data.annotations import Annotation, load_class_names, normalise_class_name
from tcclip.data.errors import AnnotationError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")


def build_index(
    root: str | Path,
    label_file: str | Path | None = None,
    relative_to: str | Path | None = None,
    extensions: tuple[str, ...] = VIDEO_EXTENSIONS,
) -> tuple[list[Annotation], list[str]]:
    """(entries sorted by label then path, class names) of the videos under ``root/<class>/``.

    Paths are written relative to ``relative_to`` (default ``root``): for Kinetics-400,
    index K400/train relative to K400 so that paths read train/<class>/<id>.mp4 like the
    shipped val list's val/<id>.mp4.
    """
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(f"{root}: folder not found")
    base = Path(relative_to) if relative_to is not None else root
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise AnnotationError(f"{root}: no class folders (expected ROOT/<class name>/<video files>)")
    names, label_of = _folder_labels(folders, label_file)
    suffixes = {e.lower() for e in extensions}
    entries = [Annotation(path, label_of[folder]) for folder in folders for path in _video_paths(folder, base, suffixes)]
    if not entries:
        raise AnnotationError(f"{root}: no video files ({', '.join(sorted(suffixes))}) in the class folders")
    entries.sort(key=lambda e: (e.label, e.path))
    return entries, names


def _folder_labels(folders: list[Path], label_file: str | Path | None) -> tuple[list[str], dict[Path, int]]:
    """(class names, label of each class folder): the label file's ids matched by name, or the
    sorted folder names as classes 0..K-1."""
    if label_file is None:
        return [folder.name.replace("_", " ") for folder in folders], {folder: i for i, folder in enumerate(folders)}
    names = load_class_names(label_file)
    by_key = {normalise_class_name(n): i for i, n in enumerate(names)}
    label_of = {}
    for folder in folders:
        key = normalise_class_name(folder.name)
        if key not in by_key:
            raise AnnotationError(f"{folder}: folder name matches no class of {label_file}")
        label_of[folder] = by_key[key]
    return names, label_of


def _video_paths(folder: Path, base: Path, suffixes: set[str]) -> list[str]:
    """The videos under one class folder (any depth), as POSIX paths relative to ``base``."""
    paths = []
    for video in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes):
        rel = Path(os.path.relpath(video, base)).as_posix()  # no symlink resolution: links are fine
        if rel.startswith("../"):
            raise AnnotationError(f"{video}: is not inside the relative-to folder {base}")
        paths.append(rel)
    return paths
