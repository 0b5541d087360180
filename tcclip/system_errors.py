"""One line for what the machine, not the input, did wrong.

A full disk, a read-only or missing folder, a permission problem, a data-loader worker
process that died, Ctrl-C or the scheduler's SIGTERM: the CLI turns each into one line
on stderr that names the path and says what to do (``describe``), instead of a stack
trace. Library code raises ``OutputError`` where it knows the final path of a failed
write (a temporary file's name would only confuse).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

from tcclip.errors import TcclipError

RERUN = "then rerun the same command (a training resumes from its last checkpoint)"

# errno -> (what happened, what to do); "{dir}" is the folder of the path at fault.
_ADVICE = {
    errno.ENOSPC: ("no space left on device",
                   "free space there (df -h {dir}) or set output= to another disk, " + RERUN),
    errno.EDQUOT: ("disk quota exceeded", "free space in your quota (quota -s) or set output= elsewhere, " + RERUN),
    errno.EROFS: ("read-only file system", "choose a writable folder (output=... or --out)"),
    errno.EACCES: ("permission denied",
                   "check its owner and mode (ls -ld {dir}) or choose a folder you can write"),
    errno.EPERM: ("operation not permitted", "check its owner and mode (ls -ld {dir}) or choose a folder you can write"),
    errno.ENOENT: ("no such file or folder", "check the path (a folder above it is missing or was removed)"),
    errno.ENOTDIR: ("a part of the path is not a folder", "check the path"),
    errno.EISDIR: ("is a folder, not a file", "check the path"),
    errno.EIO: ("input/output error", "the disk or the network file system failed: check it (dmesg, df), " + RERUN),
    errno.ESTALE: ("stale file handle on a network file system", RERUN),
    errno.ENOMEM: ("out of memory", "lower the batch size or the data-loader workers, " + RERUN),
}


class OutputError(TcclipError):
    """Writing a named output failed for a system reason (disk full, read-only, permissions)."""


def describe(err: OSError, path: str | os.PathLike | None = None, during: str = "") -> str:
    """'PATH: what happened[ during]; what to do' for an OSError (path: the file the user knows)."""
    path = path if path is not None else (err.filename if err.filename is not None else "")
    what, todo = _ADVICE.get(err.errno, ((err.strerror or str(err)).lower(), "check the path and the file system"))
    folder = Path(path).parent if path else Path(".")
    head = f"{path}: " if path else ""
    return f"{head}{what}{during}; {todo.format(dir=folder)}"


def os_error_in(exc: BaseException | None) -> OSError | None:
    """The OSError behind an exception (itself, or one it was raised from or while handling):
    torch.save reports a full disk as 'RuntimeError: ... unexpected pos', the ENOSPC is its context."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


_WORKER_DIED = re.compile(r"DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\) "
                          r"(is killed by signal: [^.]+|exited unexpectedly(?: with exit code -?\d+)?)")


def worker_death(err: BaseException) -> str | None:
    """One line for torch's 'DataLoader worker (pid N) is killed by signal: ...', else None."""
    if not isinstance(err, RuntimeError):
        return None
    match = _WORKER_DIED.search(str(err))
    if not match:
        return None
    pids, how = match.group(1).strip(), match.group(2)
    by_pid = next((WORKER_LISTS[pid] for pid in re.findall(r"\d+", pids) if pid in WORKER_LISTS), None)
    source = by_pid or getattr(err, "tcclip_loading", None) or (LOADING[-1] if LOADING else None)
    loading = f" while loading {source}" if source else ""
    return (f"a data-loader worker process died{loading} (pid {pids} {how}); usually the node ran out "
            "of memory (dmesg | grep -i oom): lower train.workers / eval.workers or the batch size, " + RERUN)


LOADING: list[str] = []
"""Annotation lists being loaded now (innermost last), to name in a worker-death message."""

WORKER_LISTS: dict[str, str] = {}
"""Data-loader worker pid -> the annotation list it loads (persistent workers live between epochs)."""


# ---------------------------------------------------------------- signals
class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's time limit, kill PID): handled exactly like Ctrl-C, so partial
    writes are cleaned up and the run resumes from its last checkpoint."""


_RECEIVED: list[int] = []  # SIGINT/SIGTERM received while the current command runs


def _interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    _RECEIVED.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def raise_if_interrupted() -> None:
    """Raise the interruption again at a safe point: the handler's exception is lost when the
    signal lands inside a finalizer (e.g. decord's VideoReader.__del__: Python prints
    'Exception ignored' and goes on training)."""
    if _RECEIVED:
        raise Terminated() if signal.SIGTERM in _RECEIVED else KeyboardInterrupt()


@contextmanager
def interrupts_remembered():
    """While the command runs, Ctrl-C raises KeyboardInterrupt and SIGTERM raises Terminated, and
    both are remembered for raise_if_interrupted (only the main thread can set handlers)."""
    try:
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (e.g. called from a worker thread): leave them
        yield
        return
    _RECEIVED.clear()
    previous_hook, sys.unraisablehook = sys.unraisablehook, _quiet_lost_interrupt(sys.unraisablehook)
    try:
        yield
        raise_if_interrupted()  # a command that swallowed it still ends as interrupted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_hook
        _RECEIVED.clear()


def _quiet_lost_interrupt(default):
    """An unraisable-exception hook that says nothing of an interruption raised inside a
    finalizer (Python would print 'Exception ignored in ... Traceback ... KeyboardInterrupt'
    under the one-line message): it is remembered in _RECEIVED and raised again at the next
    batch (raise_if_interrupted). Every other unraisable exception goes to ``default``."""
    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _RECEIVED:
            return
        default(unraisable)
    return hook
