"""`tcclip variants`: every registered strategy, the config key that selects it, and its docstring.

This is the list the README points at: a variant registered in code shows up here
without any other file to edit.
"""

from __future__ import annotations

import argparse
import inspect


def _registries() -> list[tuple[str, object]]:
    """(config key, registry) for every swappable axis of the model."""
    from tcclip.model.prompts import PROMPTS
    from tcclip.model.seeds import SEED_SELECTORS
    from tcclip.model.summarize import SUMMARIZERS
    from tcclip.model.temporal import TEMPORAL

    return [("model.vision.temporal", TEMPORAL), ("model.vision.seed_selection", SEED_SELECTORS),
            ("model.vision.summarization", SUMMARIZERS), ("model.text.prompt", PROMPTS)]


def _summary(obj: object, whole_paragraph: bool) -> str:
    """The first line of a docstring, or its first paragraph on one line."""
    doc = inspect.getdoc(obj) or "(no docstring)"
    return " ".join(doc.split("\n\n")[0].split()) if whole_paragraph else doc.splitlines()[0]


def _list_variants(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=args.width)
    for key, registry in _registries():
        table = Table(title=f"{registry.kind}: {key}=NAME", title_justify="left", show_lines=False)
        table.add_column("name", style="bold", no_wrap=True)
        table.add_column("what it computes")
        for name, fn in registry.items():
            table.add_row(name, _summary(fn, args.verbose))
        console.print(table)
    return 0


def add_commands(subparsers) -> None:
    variants = subparsers.add_parser("variants", help="list every registered variant (temporal, seeds, summarization, prompts)")
    variants.add_argument("--verbose", action="store_true", help="the whole first paragraph of each docstring")
    variants.add_argument("--width", type=int, default=None, help="output width (default: the terminal's)")
    variants.set_defaults(func=_list_variants)
