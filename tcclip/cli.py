"""The ``tcclip`` command line.

Each command group lives in its own module that exposes ``add_commands(subparsers)``;
a command's handler is stored as ``func`` on its parser and receives the parsed args.
A TcclipError is printed as one line (no traceback) and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tcclip.errors import TcclipError

# Modules that contribute sub-commands. Imported lazily so `tcclip --help` stays fast.
COMMAND_MODULES = [
    "tcclip.model.commands",  # check-weights
    "tcclip.model.variant_commands",  # variants
    "tcclip.synth.commands",  # synth
    "tcclip.data.commands",  # data check, data index, data protocol
    "tcclip.engine.commands",  # train, evaluate, pretrain-clip, ...
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
        result = args.func(args)
    except TcclipError as err:
        print(f"tcclip: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
