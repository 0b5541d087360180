"""Build one table's outputs (markdown, long-form CSV, figure) from its runs' metrics."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from tcclip.suite.plan import WorkflowConfig, plan
from tcclip.report.collect import collect, collect_videos
from tcclip.report.render import plot_differences, plot_table, write_outputs
from tcclip.suite.tables import load_table


def build_table(name: str, wf: WorkflowConfig, allow_partial: bool | None = None) -> list[str]:
    """Write results/tables/<name>.{md,html,csv}, <name>_differences.csv and
    results/figures/<name>.png, <name>_differences.png; returns what is missing (metrics
    files, per-video predictions files), an error unless partial tables are allowed."""
    spec, runs, partial = _table_inputs(name, wf, allow_partial)
    records, missing = collect(spec, runs, Path(wf.runs_dir), allow_partial=partial)
    videos, missing_videos = collect_videos(spec, runs, Path(wf.runs_dir), allow_partial=partial)
    notes = [f"no metrics: {m}" for m in missing] + [f"no per-video predictions (no interval over test videos): {m}"
                                                      for m in missing_videos]
    notes += uneven_seeds(spec, records)
    tables, figures = Path(wf.tables_dir), Path(wf.figures_dir)
    write_outputs(spec, records, wf.scale, tables / f"{name}.md", tables / f"{name}.csv", videos, notes,
                  footer=provenance_line(wf))
    plot_table(spec, records, figures / f"{name}.png")
    plot_differences(spec, records, videos, figures / f"{name}_differences.png")
    return missing + missing_videos


def _table_inputs(name: str, wf: WorkflowConfig, allow_partial: bool | None):
    spec = load_table(name)
    if wf.seeds:  # the workflow config replaced the table's seeds: say so in the table
        spec = dataclasses.replace(spec, seeds=list(wf.seeds))
    partial = wf.allow_partial if allow_partial is None else allow_partial
    return spec, plan([name], wf)[name], partial


def table_data(name: str, wf: WorkflowConfig, allow_partial: bool | None = None):
    """(spec, records, per-video hits) of a table, from its runs (what the claims read)."""
    spec, runs, partial = _table_inputs(name, wf, allow_partial)
    records, _ = collect(spec, runs, Path(wf.runs_dir), allow_partial=partial)
    videos, _ = collect_videos(spec, runs, Path(wf.runs_dir), allow_partial=partial)
    return spec, records, videos


def uneven_seeds(spec, records: pd.DataFrame) -> list[str]:
    """One line per row whose seeds differ from the baseline's (its differences use the shared seeds)."""
    if not spec.baseline or records.empty:
        return []
    seeds = records.groupby("row")["seed"].agg(lambda s: tuple(sorted(set(s))))
    reference = seeds.get(spec.baseline)
    return [f"row {row!r} has seeds {', '.join(map(str, mine))}, the baseline {', '.join(map(str, reference or ()))}: "
            "its differences use the seeds both have" for row, mine in seeds.items()
            if row != spec.baseline and mine != reference]


PROVENANCE_PREFIX = "Made by tcclip, code version "


def provenance_line(wf: WorkflowConfig) -> str:
    """The code version (git commit) and the data catalog's fingerprint a table was made from."""
    import hashlib

    from tcclip.engine.evaluate import code_version

    catalog = Path(wf.catalog)
    data = hashlib.sha256(catalog.read_bytes()).hexdigest()[:12] if catalog.is_file() else "unknown"
    return f"{PROVENANCE_PREFIX}{code_version()['git'] or 'unknown'}, data catalog {catalog} sha256 {data}."


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


def build_claims(wf: WorkflowConfig, tables: list[str] | None, markdown: Path) -> Path:
    """Write the claims table (markdown, .csv and .html beside it) for the claims of ``tables``
    (None: every claim). A claim whose table is not among the workflow config's tables, or
    whose table has not been built (no <table>.md), is listed as not run."""
    from tcclip.report.claims import claims_frame, load_claims, render_claims
    from tcclip.report.render import markdown_html

    claims = [c for c in load_claims() if tables is None or c.table in tables]
    configured = set(wf.tables or []) or None
    data = {}
    for name in dict.fromkeys(c.table for c in claims):
        built = (Path(wf.tables_dir) / f"{name}.md").is_file()
        if built and (configured is None or name in configured):
            data[name] = table_data(name, wf)
    frame = claims_frame(claims, data)
    markdown = Path(markdown)
    markdown.parent.mkdir(parents=True, exist_ok=True)
    text = render_claims(frame, provenance_line(wf))
    markdown.write_text(text)
    markdown.with_suffix(".html").write_text(markdown_html(text, "Claims"))
    frame.to_csv(markdown.with_suffix(".csv"), index=False, float_format="%.4f")
    return markdown


def stale_tables(tables_dir: Path) -> list[str]:
    """Table files (markdown) whose stated code version is older than another's beside them
    (an ancestor commit in git history): regenerated tables next to a stale one."""
    versions = {}
    for path in sorted(Path(tables_dir).glob("*.md")):
        line = next((l for l in path.read_text().splitlines() if l.startswith(PROVENANCE_PREFIX)), None)
        if line:
            versions[path] = line[len(PROVENANCE_PREFIX):].split(",")[0].removesuffix("-dirty")
    problems = []
    for path, version in versions.items():
        newer = sorted({v for v in versions.values() if _older(version, v)})
        if newer:
            problems.append(f"{path}: made by code version {version}, older than {newer[0]} of the tables beside it")
    return problems


def _older(mine: str, theirs: str) -> bool:
    """Is commit ``mine`` a strict ancestor of ``theirs`` in this repository's history?
    (Versions git cannot order, e.g. an unknown one, are not flagged.)"""
    import subprocess

    if mine == theirs or "unknown" in (mine, theirs):
        return False
    root = Path(__file__).resolve().parents[2]
    try:
        result = subprocess.run(["git", "-C", str(root), "merge-base", "--is-ancestor", mine, theirs],
                                capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0
