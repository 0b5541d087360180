"""Data-side errors: each message is one line naming the file (and line) and what is expected.

They subclass TcclipError, so the CLI prints them without a traceback, and callers can
catch a narrower kind (e.g. a loader that skips unreadable videos catches VideoError only).
"""

from __future__ import annotations

from tcclip.errors import TcclipError


class DataError(TcclipError):
    """Any problem with dataset files (lists, label files, videos, catalogs, protocols)."""


class AnnotationError(DataError):
    """A malformed annotation list or label file."""


class VideoError(DataError):
    """A video that is missing, cannot be decoded, or has no frames."""

    def __init__(self, path, problem: str, kind: str = "unreadable"):
        self.path = str(path)
        self.problem = problem
        self.kind = kind  # "missing" | "unreadable" | "empty" — the check report counts by kind
        super().__init__(f"{path}: {problem}")

    def __reduce__(self):  # keep path/kind when sent back from a worker process
        return (type(self), (self.path, self.problem, self.kind))


class CatalogError(DataError):
    """A dataset catalog or protocol file names something that is not there."""
