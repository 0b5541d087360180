"""Render a table: markdown with ours beside the paper's, a long-form CSV, seaborn figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from tcclip.report.aggregate import cells, format_cell, format_delta, paired_deltas, per_seed
from tcclip.report.tables import TableSpec

SCALE_NOTES = {
    "embedded": "embedded scale: synthetic videos and a tiny CLIP pretrained by the suite — "
    "compare rows with each other, not with the paper's absolute numbers",
    "paper": "paper scale: real datasets, CLIP ViT-B/16",
}


def _paper_cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        mean, std = value
        return f"{mean:.1f} ± {std:.1f}"
    return f"{value:.1f}"


def _paper_delta_cell(value) -> str:
    return "—" if value is None else f"{value:+.1f}"


def table_frames(spec: TableSpec, records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(per-seed values, cells, deltas) for a table's records."""
    seed_values = per_seed(records, spec.derived())
    table_cells = cells(seed_values)
    deltas = paired_deltas(seed_values, spec.baseline) if spec.baseline else pd.DataFrame()
    return seed_values, table_cells, deltas


DEGENERATE_MARGIN = 2.0  # points: a column whose every row is this close to 100% or to chance is flagged


def signal_warnings(spec: TableSpec, records: pd.DataFrame, seed_values: pd.DataFrame, table_cells: pd.DataFrame) -> list[str]:
    """Warnings under a table that cannot show what it exists to show: a column where every row
    is within DEGENERATE_MARGIN of 100% or of chance, and a fine-tuned row whose paired 95%
    interval over seeds against the untrained row (``train: false``) includes 0."""
    lines = []
    chance = records.groupby("column")["chance"].mean().to_dict() if "chance" in records else {}
    for column in spec.columns:
        level = (sum(chance.get(p, math.nan) for p in column.mean_of) / len(column.mean_of)
                 if column.mean_of else chance.get(column.name, math.nan))
        means = table_cells.loc[table_cells["column"] == column.name, "mean"]
        near = (means >= 100 - DEGENERATE_MARGIN) | ((means - level).abs() <= DEGENERATE_MARGIN)
        if len(means) and near.all():
            lines.append(f"**Warning — degenerate column {column.title}:** every row is within {DEGENERATE_MARGIN:g} "
                         f"points of 100% or of chance ({level:.1f}%); it cannot tell the rows apart.")
    untrained = next((r.name for r in spec.rows if not r.train), None)
    trained = {r.name for r in spec.rows if r.train}
    deltas = paired_deltas(seed_values, untrained) if untrained else pd.DataFrame(columns=["row"])
    for row in [r.name for r in spec.rows if r.name in trained]:
        found = {d.column: d for d in deltas[deltas["row"] == row].itertuples()}
        noise = [f"{c.title} {format_delta(found[c.name].delta, found[c.name].half_width)}" for c in spec.columns
                 if c.name in found and not math.isnan(found[c.name].half_width)
                 and abs(found[c.name].delta) <= found[c.name].half_width]
        if noise:
            lines.append(f"**Warning — {row} is within noise of the untrained “{untrained}”** (paired 95% interval "
                         f"includes 0): {', '.join(noise)}.")
    return lines


def render_markdown(spec: TableSpec, records: pd.DataFrame, scale: str) -> str:
    seed_values, table_cells, deltas = table_frames(spec, records)
    expected = len(spec.seeds)
    lookup = {(r.row, r.column): r for r in table_cells.itertuples()}
    show_paper = any(row.paper for row in spec.rows)
    header = ["Method"]
    for column in spec.columns:
        header.append(column.title)
        if show_paper:
            header.append(f"{column.title} (paper{' Δ' if spec.paper_values == 'delta' else ''})")
    lines = [f"# {spec.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in spec.rows:
        out = [row.name]
        for column in spec.columns:
            cell = lookup.get((row.name, column.name))
            out.append(format_cell(cell.mean, cell.std, cell.n, expected) if cell else "—")
            if show_paper:
                value = row.paper.get(column.name)
                out.append(_paper_delta_cell(value) if spec.paper_values == "delta" else _paper_cell(value))
        lines.append("| " + " | ".join(out) + " |")

    lines += ["", f"Ours: mean ± sample std over {expected} training seeds ({', '.join(map(str, spec.seeds))}); "
              "each seed's value is the protocol's metric, averaged over its evaluation splits where it has several "
              "(the long-form CSV beside this file keeps every seed × split value). "
              "A cell marked (n=…) is missing seeds."]
    unrun = [c.title for c in spec.columns if not any((row.name, c.name) in lookup for row in spec.rows)]
    if unrun:  # whole columns left out by the workflow config's `tasks:` (or a derived column over them)
        lines.append(f"Not run in this workflow config (its `tasks:`), or averaging such a column: {', '.join(unrun)}.")
    if spec.paper_note and show_paper:
        lines.append(f"Paper column: {spec.paper_note}.")
    lines.append(f"Scale: {SCALE_NOTES.get(scale, scale)}.")
    lines += signal_warnings(spec, records, seed_values, table_cells)

    if spec.baseline and not deltas.empty:
        lines += ["", f"## Difference from “{spec.baseline}” (paired by seed, mean [95% t-interval])", ""]
        delta_lookup = {(r.row, r.column): r for r in deltas.itertuples()}
        lines.append("| Method | " + " | ".join(c.title for c in spec.columns) + " |")
        lines.append("|" + "---|" * (len(spec.columns) + 1))
        for row in spec.rows:
            if row.name == spec.baseline:
                continue
            out = [row.name]
            for column in spec.columns:
                d = delta_lookup.get((row.name, column.name))
                out.append(format_delta(d.delta, d.half_width) if d else "—")
            lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(spec: TableSpec, records: pd.DataFrame, scale: str, markdown: Path, csv: Path) -> None:
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(render_markdown(spec, records, scale))
    records.assign(table=spec.name, scale=scale).to_csv(csv, index=False)


def plot_table(spec: TableSpec, records: pd.DataFrame, path: Path) -> None:
    """Per-seed points, mean ± std error bars, and the paper's values as marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    seed_values, _, _ = table_frames(spec, records)
    order = [r.name for r in spec.rows]
    columns = [c.name for c in spec.columns]
    titles = {c.name: c.title for c in spec.columns}
    n = len(columns)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 0.45 * len(order) * nrows + 1.5), squeeze=False)
    for index, (ax, column) in enumerate(zip(axes.flat, columns)):
        data = seed_values[seed_values["column"] == column]
        sns.pointplot(data=data, y="row", x="value", order=order, errorbar="sd", linestyle="none",
                      color="tab:blue", capsize=0.2, ax=ax)
        sns.stripplot(data=data, y="row", x="value", order=order, color="tab:blue", alpha=0.4, size=4, ax=ax)
        if spec.paper_values == "absolute":
            paper = [(r.name, r.paper.get(column)) for r in spec.rows if r.paper.get(column) is not None]
            for name, value in paper:
                mean = value[0] if isinstance(value, (list, tuple)) else value
                ax.plot(mean, order.index(name), marker="x", color="tab:red", linestyle="none")
        ax.set_title(titles[column])
        ax.set_xlabel("accuracy (%)")
        ax.set_ylabel("")
        if index % ncols:  # row names only on the left-most panels
            ax.set_yticklabels([])
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{spec.title} — ours (blue: seeds, mean ± sd)" + (", paper (red ×)" if spec.paper_values == "absolute" else ""))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
