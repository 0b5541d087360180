"""Build one table's outputs (markdown, long-form CSV, figure) from its runs' metrics."""

from __future__ import annotations

from pathlib import Path

from tcclip.plan import WorkflowConfig, plan
from tcclip.report.collect import collect
from tcclip.report.render import plot_table, write_outputs
from tcclip.report.tables import load_table


def build_table(name: str, wf: WorkflowConfig, allow_partial: bool | None = None) -> list[str]:
    """Write results/tables/<name>.{md,csv} and results/figures/<name>.png; returns missing metrics."""
    spec = load_table(name)
    runs = plan([name], wf)[name]
    partial = wf.allow_partial if allow_partial is None else allow_partial
    records, missing = collect(spec, runs, Path(wf.runs_dir), allow_partial=partial)
    tables, figures = Path(wf.tables_dir), Path(wf.figures_dir)
    write_outputs(spec, records, wf.scale, tables / f"{name}.md", tables / f"{name}.csv")
    plot_table(spec, records, figures / f"{name}.png")
    return missing
