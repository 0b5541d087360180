"""Annotation lists and label files: the two text formats every dataset is described by.

* An annotation list has one video per line: ``relative/path.ext <integer label>``
  (the path is relative to the dataset's video root; it may contain spaces, the label is
  the last field).
* A label file maps ids 0..K-1 to class names: a CSV with header ``id,name`` or an
  LLM-rephrased JSON ``{"0": "Name: one-sentence description", ...}``.

Every problem is reported as one line naming the file and line number.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from tcclip.data.errors import AnnotationError


@dataclass(frozen=True)
class Annotation:
    """One line of an annotation list."""

    path: str  # relative to the video root, as written in the list
    label: int
    line: int = 0  # 1-based line number in the list file (0 = built in memory)
    source: str | None = None  # the list file, where it is not the dataset's own (merged eval sets)


# --------------------------------------------------------------------------- lists


def _bad_line(source: str | Path, line_no: int, message: str) -> AnnotationError:
    err = AnnotationError(f"{source}:{line_no}: {message}")
    err.line = line_no  # lets the dataset check report it by line
    return err


def parse_annotation_line(text: str, source: str | Path, line_no: int) -> Annotation:
    """Parse ``path label``; raise AnnotationError naming ``source:line_no`` otherwise."""
    parts = text.strip().rsplit(None, 1)
    if len(parts) != 2:
        raise _bad_line(source, line_no, f"expected 'relative/path.ext <integer label>', got {text.strip()!r}")
    path, label = parts
    try:
        value = int(label)
    except ValueError:
        raise _bad_line(
            source, line_no, f"label {label!r} is not an integer (expected 'relative/path.ext <integer label>')"
        ) from None
    if value < 0:
        raise _bad_line(source, line_no, f"label {value} is negative (expected 0..K-1)")
    return Annotation(path=path, label=value, line=line_no)


def iter_annotation_list(path: str | Path) -> Iterator[Annotation | AnnotationError]:
    """Yield each non-blank line as an Annotation, or the AnnotationError it raised.

    Lets `tcclip data check` report every bad line in one pass instead of stopping at the first.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: annotation list not found")
    with path.open(encoding="utf-8") as handle:
        for line_no, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield parse_annotation_line(text, path, line_no)
            except AnnotationError as err:
                yield err


def read_annotation_list(path: str | Path, num_classes: int | None = None) -> list[Annotation]:
    """All entries of a list; the first malformed line (or label >= num_classes) raises."""
    entries = []
    for item in iter_annotation_list(path):
        if isinstance(item, AnnotationError):
            raise item
        if num_classes is not None and item.label >= num_classes:
            raise AnnotationError(
                f"{path}:{item.line}: label {item.label} is out of range (expected 0..{num_classes - 1})"
            )
        entries.append(item)
    if not entries:
        raise AnnotationError(f"{path}: annotation list is empty")
    return entries


def write_annotation_list(path: str | Path, entries: Iterable[Annotation | tuple[str, int]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for entry in entries:
        rel, label = (entry.path, entry.label) if isinstance(entry, Annotation) else entry
        lines.append(f"{rel} {int(label)}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- label files


def load_class_names(label_file: str | Path) -> list[str]:
    """Class names ordered by id, from a CSV ``id,name`` or a rephrased JSON ``{"id": "Name: ..."}``.

    Ids must be exactly 0..K-1; duplicate ids, duplicate or empty names are errors.
    """
    label_file = Path(label_file)
    if not label_file.is_file():
        raise AnnotationError(f"{label_file}: label file not found")
    if label_file.suffix.lower() == ".json":
        rows = _read_json_rows(label_file)
    else:
        rows = _read_csv_rows(label_file)
    return _check_rows(label_file, rows)


def load_class_list(path: str | Path) -> list[str]:
    """Class names ordered by id from a label file (``load_class_names``: a CSV whose header is
    ``id,name``, or a rephrased JSON) or from a plain text file of one name per line (blank
    lines skipped; empty or duplicate names are errors, as in a label file)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: class-name file not found")
    if path.suffix.lower() == ".json":
        return load_class_names(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    first = next((line for line in lines if line.strip()), "")
    if [field.strip().lower() for field in first.split(",")[:2]] == ["id", "name"]:
        return load_class_names(path)
    rows: list[tuple[int, str, str]] = []
    for number, text in enumerate(lines, start=1):
        if text.strip():
            rows.append((number, str(len(rows)), text))
    return _check_rows(path, rows)


def _read_csv_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line, id text, name) per data row; the header must be ``id,name``."""
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["id", "name"]:
            raise AnnotationError(f"{path}:1: expected the header 'id,name', got {','.join(header or [])!r}")
        for record in reader:
            line = reader.line_num
            if not record or all(not field.strip() for field in record):
                continue
            if len(record) != 2:
                raise AnnotationError(f"{path}:{line}: expected 2 fields 'id,name', got {len(record)}")
            rows.append((line, record[0], record[1]))
    return rows


def _read_json_rows(path: Path) -> list[tuple[int, str, str]]:
    text = path.read_text(encoding="utf-8")

    def line_of(key: str) -> int:
        at = text.find(f'"{key}"')
        return text.count("\n", 0, at) + 1 if at >= 0 else 0

    def no_duplicates(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise AnnotationError(f"{path}:{line_of(key)}: id {key!r} appears twice")
            seen.add(key)
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise AnnotationError(f'{path}: expected a JSON object {{"0": "Name: description", ...}}')
    rows = []
    for key, value in data.items():
        if not isinstance(value, str):
            raise AnnotationError(f"{path}:{line_of(key)}: id {key!r}: expected a string, got {type(value).__name__}")
        rows.append((line_of(key), key, value))
    return rows


def _check_rows(path: Path, rows: list[tuple[int, str, str]]) -> list[str]:
    by_id: dict[int, str] = {}
    line_of_name: dict[str, int] = {}
    for line, raw_id, raw_name in rows:
        try:
            class_id = int(raw_id)
        except ValueError:
            raise AnnotationError(f"{path}:{line}: id {raw_id!r} is not an integer") from None
        name = raw_name.strip()
        if not name:
            raise AnnotationError(f"{path}:{line}: class {class_id} has an empty name")
        if class_id in by_id:
            raise AnnotationError(f"{path}:{line}: id {class_id} appears twice")
        if name in line_of_name:
            raise AnnotationError(
                f"{path}:{line}: name {name!r} duplicates line {line_of_name[name]} (class names must be unique)"
            )
        by_id[class_id] = name
        line_of_name[name] = line
    if not by_id:
        raise AnnotationError(f"{path}: no classes")
    missing = sorted(set(range(len(by_id))) - set(by_id))
    if missing:
        extra = max(by_id)
        raise AnnotationError(
            f"{path}: ids must be 0..{len(by_id) - 1} without gaps; id {missing[0]} is missing (largest id {extra})"
        )
    return [by_id[i] for i in range(len(by_id))]


def write_label_csv(path: str | Path, names: list[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "name"])
        for class_id, name in enumerate(names):
            writer.writerow([class_id, name])
    return path


def write_rephrased_json(path: str | Path, descriptions: list[str]) -> Path:
    """``{"0": "Name: description", ...}`` in id order (FROSTER's format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {str(i): text for i, text in enumerate(descriptions)}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- names for prompts

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def split_camel_case(name: str) -> str:
    """'ApplyEyeMakeup' -> 'Apply Eye Makeup' (UCF-101's names; the paper prompts with words)."""
    return _CAMEL_BOUNDARY.sub(" ", name).replace("_", " ").strip()


def normalise_class_name(name: str) -> str:
    """Loose key for matching folder names to label-file names: case, '_' vs ' ', quotes."""
    return re.sub(r"[\s_]+", " ", name.replace('"', "").replace("'", "")).strip().lower()
