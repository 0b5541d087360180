"""Checkpoints and other run files, written atomically.

A reader never sees a half-written file: everything is written to a temporary file in
the same directory, fsynced, then moved over the target with ``os.replace`` (atomic on
POSIX within one file system). A run killed at any point leaves either the previous
checkpoint or the new one. A write that fails for a system reason (disk full, read-only,
permissions) is an OutputError naming the target, never a half-written file under its name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from tcclip.errors import TcclipError
from tcclip.system_errors import OutputError, describe, os_error_in

LAST = "last.pt"
BEST = "best.pt"


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    path = Path(path)
    try:
        _write_and_replace(path, write, mode)
    except Exception as err:
        cause = os_error_in(err)  # torch.save wraps a full disk in a RuntimeError
        if cause is None:
            raise
        kept = ", its previous version is kept" if path.exists() else ""
        raise OutputError(describe(cause, path, f" while writing it (nothing half-written{kept})")) from None


def _write_and_replace(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Persist the rename itself (the directory entry).
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    _atomic_write(Path(path), lambda handle: torch.save(obj, handle))


def atomic_write_text(text: str, path: str | Path) -> None:
    _atomic_write(Path(path), lambda handle: handle.write(text), mode="w")


def atomic_write_json(obj: Any, path: str | Path) -> None:
    atomic_write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", path)


def state_bytes(model: torch.nn.Module, optimizer_states: int = 2) -> int:
    """About how many bytes a training checkpoint of ``model`` takes: its weights and, per
    trainable parameter, the optimiser's states (AdamW: two)."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return weights + optimizer_states * trainable


def check_free_space(folder: str | Path, needed: int) -> None:
    """Refuse to start when ``folder``'s disk cannot take the next write of ``needed`` bytes
    (an atomic write needs room for the new file beside the old one)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OutputError(f"{folder}: {free / 1e6:.1f} MB free on its disk, its checkpoints need about "
                          f"{needed / 1e6:.1f} MB; free space there (df -h {folder}) or set output= to another "
                          "disk, then rerun the same command (a training resumes from its last checkpoint)")


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise TcclipError(f"checkpoint not found: {path}")
    try:
        # Our own files: tensors, numbers, strings and RNG states only.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise TcclipError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise TcclipError(f"checkpoint {path} is not a tcclip training checkpoint (no 'model' entry)")
    return state


def model_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    return checkpoint["model"]
