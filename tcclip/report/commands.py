"""`tcclip table NAME`: gather a table's metrics into markdown, CSV and a figure;
`tcclip claims`: the paper's claims tested on the built tables;
`tcclip plan`: list the runs every table needs (what the DAG will train);
`tcclip context-figure RUN`: which patches formed the context tokens."""

from __future__ import annotations

import argparse
from pathlib import Path


def _table(args: argparse.Namespace) -> int:
    from tcclip.suite.plan import workflow_config_from_file
    from tcclip.report.build import build_table

    wf = workflow_config_from_file(args.workflow_config)
    if args.check:
        from tcclip.report.build import unfilled_cells

        from tcclip.report.build import stale_tables

        problems = unfilled_cells(args.name, wf)
        for problem in problems:
            print(f"unfilled: {problem}")
        stale = stale_tables(Path(wf.tables_dir))
        for problem in stale:
            print(f"stale: {problem}")
        print(f"table {args.name}: {'every row filled' if not problems else f'{len(problems)} cells unfilled'}"
              + (f"; {len(stale)} stale table files beside it" if stale else ""))
        return 1 if problems or stale else 0
    missing = build_table(args.name, wf, allow_partial=args.allow_partial or None)
    if missing:
        print(f"tcclip: warning: table {args.name} is partial: {len(missing)} metrics files missing")
    print(Path(wf.tables_dir) / f"{args.name}.md")
    return 0


def _claims(args: argparse.Namespace) -> int:
    from tcclip.suite.plan import workflow_config_from_file
    from tcclip.report.build import build_claims

    wf = workflow_config_from_file(args.workflow_config)
    out = args.out or Path(wf.tables_dir) / ("claims.md" if not args.tables else f"claims_{'_'.join(args.tables)}.md")
    print(build_claims(wf, args.tables or None, Path(out)))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from tcclip.suite.plan import plan, workflow_config_from_file
    from tcclip.suite.tables import table_names

    wf = workflow_config_from_file(args.workflow_config)
    names = args.tables or wf.tables or table_names()
    plans = plan(names, wf)
    view = Table("table", "rows", "seeds", "tasks", "runs", "trainings")
    unique: set[str] = set()
    for name, runs in plans.items():
        ids = {r.run_id for r in runs}
        unique |= ids
        view.add_row(name, str(len({r.row for r in runs})), str(len({r.seed for r in runs})),
                     str(len({r.task for r in runs})), str(len(runs)), str(len(ids)))
    Console().print(view)
    print(f"{len(unique)} distinct trainings in all")
    if args.index:
        from tcclip.suite.plan import write_run_index

        print(f"run index: {write_run_index(plans, wf.runs_dir, args.index)}")
    return 0


def _context_figure(args: argparse.Namespace) -> int:
    from tcclip.report.context_figure import context_figure

    print(context_figure(args.run, args.out, videos=args.videos))
    return 0


def add_commands(subparsers) -> None:
    table = subparsers.add_parser("table", help="gather a paper table from its runs' metrics")
    table.add_argument("name", help="table name (ablations/tables/<name>.yaml)")
    table.add_argument("--workflow-config", default="workflow/config/synthetic.yaml")
    table.add_argument("--allow-partial", action="store_true", help="render even if some metrics are missing")
    table.add_argument("--check", action="store_true",
                       help="check the built table (its CSV) has a value for every row, column and seed, and that no "
                            "table file beside it was made by an older code version; exit 1 if not")
    table.set_defaults(func=_table)
    claims = subparsers.add_parser("claims", help="test the paper's claims on the built tables (claims.md + .csv)")
    claims.add_argument("tables", nargs="*", help="only the claims of these tables (default: every claim)")
    claims.add_argument("--workflow-config", default="workflow/config/synthetic.yaml")
    claims.add_argument("--out", help="markdown file to write (default: <tables_dir>/claims[_<tables>].md)")
    claims.set_defaults(func=_claims)
    plan = subparsers.add_parser("plan", help="list the runs the tables need")
    plan.add_argument("tables", nargs="*")
    plan.add_argument("--workflow-config", default="workflow/config/synthetic.yaml")
    plan.add_argument("--index", metavar="CSV", help="also write which run folder fills each table row, seed and task "
                                                    "(the DAG writes results/runs/index.csv)")
    plan.set_defaults(func=_plan)
    figure = subparsers.add_parser("context-figure", help="draw which patches formed the context tokens of a TC run")
    figure.add_argument("run", help="run directory of a trained TC-CLIP run")
    figure.add_argument("--out", required=True, help="PNG file to write")
    figure.add_argument("--videos", type=int, default=4)
    figure.set_defaults(func=_context_figure)
