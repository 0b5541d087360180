"""The ``tcclip`` command line.

Each command group lives in its own module that exposes ``add_commands(subparsers)``;
a command's handler is stored as ``func`` on its parser and receives the parsed args.
A TcclipError is printed as one line (no traceback) and exits with status 2; so are the
machine's faults (full disk, read-only or missing folder, permissions, a data-loader worker
that died: tcclip.system_errors). Ctrl-C exits with 130, SIGTERM (a scheduler's time limit)
with 143, each with one line; a command whose parser sets ``resumable`` says it resumes, one
that sets ``after_interrupt`` (args -> str) says what it left behind.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tcclip.errors import TcclipError
from tcclip.system_errors import Terminated, describe, interrupts_remembered, os_error_in, worker_death

# Modules that contribute sub-commands. Imported lazily so `tcclip --help` stays fast.
COMMAND_MODULES = [
    "tcclip.model.commands",  # check-weights
    "tcclip.model.variant_commands",  # variants
    "tcclip.synth.commands",  # synth
    "tcclip.data.commands",  # data check, data index, data protocol
    "tcclip.engine.commands",  # train, evaluate, pretrain-clip, ...
    "tcclip.engine.gpus",  # gpus N -- COMMAND (local GPU jobs: their own devices)
    "tcclip.report.commands",  # table, plan
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tcclip", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with interrupts_remembered():
            result = args.func(args)
    except TcclipError as err:
        return _fail(str(err))
    except KeyboardInterrupt as err:
        return _interrupted(args, isinstance(err, Terminated))
    except Exception as err:
        line = system_fault(err)
        if line is None:  # a bug: keep its traceback
            raise
        return _fail(line)
    return int(result or 0)


def system_fault(err: Exception) -> str | None:
    """One line for a fault of the machine (OS error, torch's wrapped disk error, dead worker), else None."""
    died = worker_death(err)
    if died:
        return died
    os_error = err if isinstance(err, OSError) else os_error_in(err) if isinstance(err, RuntimeError) else None
    return describe(os_error) if os_error is not None else None


def _fail(line: str) -> int:
    print(f"tcclip: error: {line}", file=sys.stderr)
    return 2


def _interrupted(args, terminated: bool) -> int:
    after = getattr(args, "after_interrupt", None)  # a command's own word on what it left behind
    if after is not None:
        then = after(args)
    elif getattr(args, "resumable", False):
        then = "rerun the same command to resume"
    else:
        then = "rerun the same command to start it again"
    what = "terminated (SIGTERM)" if terminated else "interrupted"
    print(f"tcclip: {what}; {then}", file=sys.stderr)
    return 143 if terminated else 130


if __name__ == "__main__":
    sys.exit(main())
