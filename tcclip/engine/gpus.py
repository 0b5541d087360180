"""`tcclip gpus N -- COMMAND...`: run COMMAND on N GPUs of this machine that no other such
command holds, by setting CUDA_VISIBLE_DEVICES.

Why: Snakemake's ``--resources gpu=N`` only counts GPUs, it never says which are a job's; every
local GPU job saw all of them and opened GPU 0, so concurrent jobs shared one device (the
workflow/profiles/gpu advice alone did not prevent it). Each GPU has a lock file; a command
claims N free ones with flock, which the kernel releases when the command ends, however it ends
(a killed job never leaves a device taken). Without free GPUs it waits, so a run with more jobs
than GPUs queues instead of sharing.

Left alone: N = 0, or CUDA_VISIBLE_DEVICES already set (Slurm's --gpus sets it; so may a user).
TCCLIP_GPUS lists the devices to share out (default: every GPU torch sees); TCCLIP_GPU_LOCKS the
lock folder (default: <tmp>/tcclip-gpus-<uid>, shared by every job of this user on this machine).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path

from tcclip.errors import TcclipError

POLL_S = 5.0


def lock_folder() -> Path:
    folder = os.environ.get("TCCLIP_GPU_LOCKS") or Path(tempfile.gettempdir()) / f"tcclip-gpus-{os.getuid()}"
    return Path(folder)


def machine_gpus() -> list[str]:
    """The device ids to share out: TCCLIP_GPUS (comma-separated), else 0..count-1."""
    listed = os.environ.get("TCCLIP_GPUS", "").strip()
    if listed:
        return [part.strip() for part in listed.split(",") if part.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def try_claim(pool: list[str], count: int, folder: Path) -> list[tuple[str, int]] | None:
    """Lock ``count`` free devices of ``pool``, lowest first: [(device, fd)], or None (nothing held)."""
    folder.mkdir(parents=True, exist_ok=True)
    held: list[tuple[str, int]] = []
    for device in pool:
        fd = os.open(folder / f"gpu{device}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        held.append((device, fd))
        if len(held) == count:
            return held
    release(held)
    return None


def release(held: list[tuple[str, int]]) -> None:
    for _, fd in held:
        os.close(fd)  # closing the last descriptor drops the flock


def claim(pool: list[str], count: int, folder: Path, poll_s: float = POLL_S) -> list[tuple[str, int]]:
    """``try_claim`` until it succeeds; says once that it waits."""
    if count > len(pool):
        raise TcclipError(f"tcclip gpus: {count} GPUs asked, this machine shares out {len(pool)} "
                          f"({','.join(pool) or 'none'}; TCCLIP_GPUS sets them)")
    said = False
    while (held := try_claim(pool, count, folder)) is None:
        if not said:
            print(f"tcclip gpus: waiting for {count} of GPUs {','.join(pool)} (held by other jobs; locks in "
                  f"{folder})", file=sys.stderr, flush=True)
            said = True
        time.sleep(poll_s)
    return held


def run_on_gpus(count: int, command: list[str]) -> int:
    """Replace this process by ``command`` with CUDA_VISIBLE_DEVICES set to its claimed GPUs; the
    locks travel with it (inheritable descriptors survive exec) and end with it."""
    if not command:
        raise TcclipError("tcclip gpus: no command given (tcclip gpus N -- COMMAND ...)")
    env = dict(os.environ)
    pool = machine_gpus() if count > 0 and not env.get("CUDA_VISIBLE_DEVICES") else []
    if count > 0 and not env.get("CUDA_VISIBLE_DEVICES") and not pool:
        # a machine without CUDA (the paper-scale rehearsal: gpus 2 means 2 gloo processes on CPUs)
        print(f"tcclip gpus: no GPU on this machine; {count} asked, the command runs on CPUs", file=sys.stderr,
              flush=True)
    elif pool:
        held = claim(pool, count, lock_folder())
        for _, fd in held:
            os.set_inheritable(fd, True)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(device for device, _ in held)
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        raise TcclipError(f"tcclip gpus: command not found: {command[0]}") from None


def add_commands(sub) -> None:
    parser = sub.add_parser("gpus", help="run a command on N GPUs no other `tcclip gpus` command holds",
                            description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="GPUs the command needs (0: run it as it is)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    parser.set_defaults(func=lambda args: run_on_gpus(args.count, _after_separator(args.command)))


def _after_separator(words: list[str]) -> list[str]:
    return words[1:] if words and words[0] == "--" else words
