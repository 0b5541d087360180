"""One writer per run folder: an OS lock held while a training or an evaluation writes it.

A training holds ``RUN/.tcclip.lock`` exclusively; an evaluation holds it shared (several
evaluations of one finished run may write their own metrics files side by side) and each
metrics file it writes exclusively (``.NAME.lock`` beside it). The lock is ``flock(2)``:
the kernel drops it when its process dies, however it dies (SIGKILL included), so a lock
is never stale. A second writer does not wait: it stops with one line naming the process
that holds the lock (from /proc/locks; the holder's own record in the file names its
host, which matters on a network file system where /proc/locks shows only local holders).

Why not the filelock package: it truncates the lock file on every attempt (the holder's
record would be lost) and has no shared mode.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import os
import socket
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from tcclip.errors import TcclipError
from tcclip.system_errors import OutputError, describe

LOCK_NAME = ".tcclip.lock"
_held: dict[str, int] = {}  # lock files this process holds -> their descriptor (flock is per open file)


class RunLocked(TcclipError):
    """Another process is writing the same run folder (or output file)."""


def _main_process() -> bool:
    """Under torchrun only rank 0 writes (and locks); the other ranks follow it."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def hold(lock_file: Path, what: str, shared: bool = False) -> Iterator[None]:
    """Hold ``lock_file`` (created, with its folder) for the block, or raise RunLocked at once.

    Creating it is also the first write into that folder: a read-only, missing or full
    folder fails here, before any compute (the CLI prints the OSError as one line)."""
    lock_file = Path(lock_file)
    key = str(lock_file.resolve())
    if key in _held or not _main_process():  # already ours (train then evaluate in one process)
        yield
        return
    if shared and not lock_file.parent.is_dir():  # nothing there to protect; the caller says what is missing
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    if not shared:
        _check_writable(lock_file.parent)
    fd = _open(lock_file, shared)
    if fd is None:  # a reader of a folder it cannot write (another user's finished run): no writer to stop
        yield
        return
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(f"{lock_file.parent}: another process is writing this run: {_holder(fd, lock_file)}; "
                            "wait for it to finish (or stop it), then rerun the same command") from None
        if not shared:
            _record(fd, what)
        _held[key] = fd
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def run_lock(run: Path, what: str, outputs: list[Path] = (), shared: bool = False) -> Iterator[None]:
    """The run folder's lock (exclusive for a training, shared for an evaluation) and an
    exclusive lock per output file (each metrics file has one writer)."""
    with ExitStack() as stack:
        stack.enter_context(hold(Path(run) / LOCK_NAME, what, shared=shared))
        for output in outputs:
            output = Path(output)
            stack.enter_context(hold(output.parent / f".{output.name}.lock", what))
        yield


def _check_writable(folder: Path) -> None:
    """A writer's folder must take a new file: read-only, another user's or full fails here, in one line."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OutputError(describe(err, folder, " (a writer of this run needs to create files in it)")) from None


def _open(lock_file: Path, shared: bool) -> int | None:
    """A descriptor to flock; None for a shared holder that may not create the file."""
    try:
        return os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        if lock_file.exists():
            return os.open(lock_file, os.O_RDONLY)  # another user's lock file: flock works on a read-only fd
        if shared:
            return None
        raise


def _record(fd: int, what: str) -> None:
    """Who holds the lock, for the next process that finds it taken."""
    since = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"pid={os.getpid()} host={socket.gethostname()} user={_user()} since={since} what={what}: {command_line()}\n"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, line.encode(), 0)
    except OSError:  # a read-only descriptor (another user's file): the lock itself is what matters
        pass


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


def _holder(fd: int, lock_file: Path) -> str:
    """'PID 1234 (tcclip train ..., user u, since ...)': the holders /proc/locks lists, else the record."""
    record = _read_record(lock_file)
    pids = _local_holders(os.fstat(fd))
    if not pids and record.get("pid"):  # only remote holders (network file system), or no /proc/locks
        where = f" on host {record.get('host')}" if record.get("host") != socket.gethostname() else ""
        return f"process {record['pid']}{where} ({_describe(record)})"
    described = [f"PID {pid} ({_describe(record) if str(pid) == record.get('pid') else _command(pid)})"
                 for pid in pids]
    return ", ".join(described) or "another process"


def _read_record(lock_file: Path) -> dict[str, str]:
    try:
        text = lock_file.read_text(errors="replace").strip()
    except OSError:
        return {}
    head, _, what = text.partition(" what=")
    record = dict(item.split("=", 1) for item in head.split() if "=" in item)
    record["what"] = what
    return record


def _describe(record: dict[str, str]) -> str:
    what = record.get("what") or "tcclip"
    what = what if len(what) <= 100 else what[:97] + "..."
    return f"{what}; user {record.get('user', '?')}, since {record.get('since', '?')}"


def _local_holders(stat: os.stat_result) -> list[int]:
    """PIDs of the processes this kernel lists as holding a flock on the file (/proc/locks)."""
    wanted = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    pids = []
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 6:  # a waiter, not a holder
            continue
        if fields[1] == "FLOCK" and fields[5] == wanted and fields[4].isdigit() and int(fields[4]) > 0:
            pids.append(int(fields[4]))
    return sorted(set(pids))


def _command(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "command unknown"
    text = " ".join(part.decode(errors="replace") for part in argv if part)
    return text if len(text) <= 120 else text[:117] + "..."


def command_line() -> str:
    """This process's command, as a lock record names it."""
    text = " ".join(["tcclip", *sys.argv[1:]])
    return text if len(text) <= 200 else text[:197] + "..."
