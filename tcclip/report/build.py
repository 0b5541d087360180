"""Build one table's outputs (markdown, long-form CSV, figure) from its runs' metrics."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from tcclip.suite.plan import WorkflowConfig, plan
from tcclip.report.collect import collect
from tcclip.report.render import plot_table, write_outputs
from tcclip.suite.tables import load_table


def build_table(name: str, wf: WorkflowConfig, allow_partial: bool | None = None) -> list[str]:
    """Write results/tables/<name>.{md,csv} and results/figures/<name>.png; returns missing metrics."""
    spec = load_table(name)
    if wf.seeds:  # the workflow config replaced the table's seeds: say so in the table
        spec = dataclasses.replace(spec, seeds=list(wf.seeds))
    runs = plan([name], wf)[name]
    partial = wf.allow_partial if allow_partial is None else allow_partial
    records, missing = collect(spec, runs, Path(wf.runs_dir), allow_partial=partial)
    tables, figures = Path(wf.tables_dir), Path(wf.figures_dir)
    write_outputs(spec, records, wf.scale, tables / f"{name}.md", tables / f"{name}.csv")
    plot_table(spec, records, figures / f"{name}.png")
    return missing


def unfilled_cells(name: str, wf: WorkflowConfig) -> list[str]:
    """Cells of a built table that lack a value for some seed (columns no row fills are skipped:
    the workflow config may run only some tasks, e.g. fewer few-shot K at the embedded scale)."""
    from tcclip.report.aggregate import cells, per_seed

    spec = load_table(name)
    seeds = list(wf.seeds or spec.seeds)
    records = pd.read_csv(Path(wf.tables_dir) / f"{name}.csv")
    table = cells(per_seed(records, spec.derived()))
    filled_columns = set(table["column"])
    problems = []
    for row in spec.rows:
        for column in spec.columns:
            if column.name not in filled_columns:
                continue
            match = table[(table["row"] == row.name) & (table["column"] == column.name)]
            n = int(match["n"].iloc[0]) if len(match) else 0
            if n < len(seeds):
                problems.append(f"{row.name} / {column.title}: {n} of {len(seeds)} seeds")
    return problems
