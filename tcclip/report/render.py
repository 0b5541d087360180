"""Render a table: markdown with ours beside the paper's, a long-form CSV, seaborn figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from tcclip.report import stats
from tcclip.report.aggregate import cells, format_cell, format_delta, paired_deltas, per_seed
from tcclip.report.differences import main_column, paper_delta, table_evidence
from tcclip.report.provenance import provenance_line
from tcclip.suite.tables import TableSpec

# What each ± is, said wherever one is printed.
SEED_PM = "sample std (ddof 1) over training seeds"
SPLIT_PM = "population std (ddof 0) over the evaluation splits of one model"

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


def render_markdown(spec: TableSpec, records: pd.DataFrame, scale: str, videos: pd.DataFrame | None = None,
                    notes: list[str] = ()) -> str:
    """The table, ours in the paper's convention, the differences with both intervals, power
    and pooled evidence; ``notes``: lines on what is partial (named runs)."""
    seed_values, table_cells, _ = table_frames(spec, records)
    evidence = table_evidence(spec, records, videos)
    lines = _main_table(spec, table_cells, scale)
    built_from = provenance_line(records.attrs.get("provenance"))
    if built_from:
        lines.append(built_from)
    lines += signal_warnings(spec, records, seed_values, table_cells)
    lines += _paper_convention(spec, seed_values)
    if evidence.comparisons:
        lines += _difference_tables(spec, evidence)
    lines += _power_lines(spec, evidence, videos)
    lines += _pooled_lines(spec, evidence)
    if notes:
        lines += ["", "## Partial", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _main_table(spec: TableSpec, table_cells: pd.DataFrame, scale: str) -> list[str]:
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
    lines += ["", f"Ours: mean ± sample std (ddof 1) over {expected} training seed{'s' if expected != 1 else ''} ({', '.join(map(str, spec.seeds))}); "
              "each seed's value is the protocol's metric, averaged over its evaluation splits where it has several "
              "(the long-form CSV beside this file keeps every seed × split value). "
              "A cell marked (n=…) is missing seeds."]
    unrun = [c.title for c in spec.columns if not any((row.name, c.name) in lookup for row in spec.rows)]
    if unrun:  # whole columns left out by the workflow config's `tasks:` (or a derived column over them)
        lines.append(f"Not run in this workflow config (its `tasks:`), or averaging such a column: {', '.join(unrun)}.")
    if spec.paper_note and show_paper:
        lines.append(f"Paper column: {spec.paper_note}.")
    lines.append(f"Scale: {SCALE_NOTES.get(scale, scale)}.")
    return lines


def _paper_convention(spec: TableSpec, seed_values: pd.DataFrame) -> list[str]:
    """Our numbers as the paper writes its zero-shot cells: one model's mean ± population std
    over its evaluation splits (averaged over our seeds), for columns with several splits."""
    split_columns = [c for c in spec.columns
                     if (seed_values.loc[seed_values["column"] == c.name, "n_splits"] > 1).any()]
    if not split_columns:
        return []
    grouped = seed_values.groupby(["row", "column"])[["value", "split_std"]].mean()
    lines = ["", f"## Ours in the paper's convention: mean ± {SPLIT_PM}", "",
             "| Method | " + " | ".join(c.title for c in split_columns) + " |", "|" + "---|" * (len(split_columns) + 1)]
    for row in spec.rows:
        out = [row.name]
        for column in split_columns:
            if (row.name, column.name) in grouped.index:
                value, spread = grouped.loc[(row.name, column.name)]
                out.append(f"{value:.1f} ± {spread:.1f}")
            else:
                out.append("—")
        lines.append("| " + " | ".join(out) + " |")
    lines += ["", "Each seed's model: mean ± population std (ddof 0) over its evaluation splits, as the paper reports "
              "one model; both averaged over our seeds. Compare these ± with the paper's, not the seed ± above."]
    return lines


def _difference_tables(spec: TableSpec, evidence) -> list[str]:
    main = main_column(spec)
    titles = [c.title for c in spec.columns]
    main_title = next(c.title for c in spec.columns if c.name == main)
    seeds = ["", f"## Difference from “{spec.baseline}” (paired by seed, mean [95% t-interval over training seeds])", "",
             "| Method | " + " | ".join(titles) + f" | Paper Δ ({main_title}) |", "|" + "---|" * (len(titles) + 2)]
    videos = ["", f"## Difference from “{spec.baseline}” (paired by video, mean [95% paired bootstrap over test videos])",
              "", "| Method | " + " | ".join(titles) + " |", "|" + "---|" * (len(titles) + 1)]
    expected = len(spec.seeds)
    for row, by_column in evidence.comparisons.items():
        seed_cells, video_cells = [row], [row]
        for column in spec.columns:
            c = by_column.get(column.name)
            seed_cells.append(_seed_cell(c, expected) if c else "—")
            video_cells.append(f"{c.seed.delta:+.1f} [{c.video[0]:+.1f}, {c.video[1]:+.1f}]" if c and c.video else "—")
        paper = by_column[main].paper if main in by_column else paper_delta(spec, row, spec.baseline, main)
        seed_cells.append(_paper_delta_cell(paper))
        seeds.append("| " + " | ".join(seed_cells) + " |")
        videos.append("| " + " | ".join(video_cells) + " |")
    seeds += ["", f"✓ resolved: the 95% t-interval over training seeds ({SEED_PM} of the paired differences) "
              "excludes 0 — the only interval that calls a difference resolved. (seeds …): the seeds both rows have, "
              "where fewer than the table's."]
    videos += ["", "Models held fixed: the test set's sampling noise only (each split's videos resampled with "
               "replacement, the same draw for every seed and both rows; 4,000 replicates, percentile interval). "
               "— : no per-video predictions for the row."]
    return seeds + videos


def _seed_cell(c, expected: int) -> str:
    text = format_delta(c.seed.delta, c.seed.half_width) + (" ✓" if c.seed.resolved else "")
    if c.seed.n < expected:
        text += f" (seeds {', '.join(map(str, c.seed.seeds))})"
    return text


def _power_lines(spec: TableSpec, evidence, videos) -> list[str]:
    lines = ["", "## What this table can detect", ""]
    power = evidence.power
    titles = {c.name: c.title for c in spec.columns}
    if power and power.n > 1 and not math.isnan(power.sd):
        lines.append(f"- Smallest detectable difference ({titles[power.column]}): t₀.₉₇₅,{power.n - 1} · s_d / √n = "
                     f"{stats.t_975(power.n - 1):.2f} × {power.sd:.2f} / √{power.n} = "
                     f"{power.smallest_detectable:.2f} points, with n = {power.n} seeds and s_d = {power.sd:.2f} the "
                     f"pooled sample std (ddof 1) of the rows' paired differences from the baseline ({power.df} df).")
        if power.seeds_needed:
            needed = "; ".join(f"{row}: {_needed(n)}" for row, n in power.seeds_needed.items())
            lines.append(f"- Seeds needed to resolve the paper's Δ on {titles[power.column]} at this spread "
                         f"(80% power, two-sided paired t-test at 5%): {needed}.")
    elif power:
        lines.append(f"- Smallest detectable difference ({titles[power.column]}): needs at least 2 seeds.")
    if evidence.binomial_se:
        se = "; ".join(f"{titles[c]} {evidence.binomial_se[c][0]:.1f} ({evidence.binomial_se[c][1]:,} clips)"
                       for c in titles if c in evidence.binomial_se)
        lines.append(f"- Binomial standard error of one model's value, from its clip count (points): {se}.")
    elif videos is None or videos.empty:
        lines.append("- Binomial standard errors: no per-video predictions.")
    return lines if len(lines) > 3 else []


def _needed(n: int | None) -> str:
    return "more than 1,000 (or Δ = 0)" if n is None else str(n)


def _pooled_lines(spec: TableSpec, evidence) -> list[str]:
    if not evidence.pooled:
        return []
    titles = {c.name: c.title for c in spec.columns}
    first = next(iter(evidence.pooled.values()))
    lines = ["", f"## Pooled over {', '.join(titles[c] for c in first['columns'])} and seeds", "",
             f"| Method | mean Δ vs “{spec.baseline}” [95% stratified bootstrap] | P(row > baseline) [95%] |",
             "|---|---|---|"]
    for row, p in evidence.pooled.items():
        lines.append(f"| {row} | {p['mean']:+.2f} [{p['mean_interval'][0]:+.2f}, {p['mean_interval'][1]:+.2f}] | "
                     f"{p['p_improve']:.2f} [{p['p_interval'][0]:.2f}, {p['p_interval'][1]:.2f}] |")
    lines += ["", "Stratified bootstrap: seeds resampled with replacement within each dataset column (4,000 replicates, "
              "percentile interval); P(row > baseline): the probability that a seed of the row beats a seed of the "
              "baseline on a dataset (ties ½), averaged over the datasets, as rliable defines it."]
    return lines


def write_outputs(spec: TableSpec, records: pd.DataFrame, scale: str, markdown: Path, csv: Path,
                  videos: pd.DataFrame | None = None, notes: list[str] = (), footer: str = "") -> None:
    """<table>.md (+ .html of the same text, for the Snakemake report), the long-form CSV and
    <table>_differences.csv (each row against the baseline, both intervals named in the columns)."""
    markdown.parent.mkdir(parents=True, exist_ok=True)
    text = render_markdown(spec, records, scale, videos, notes) + (f"\n{footer}\n" if footer else "")
    markdown.write_text(text)
    markdown.with_suffix(".html").write_text(markdown_html(text, spec.title))
    records.assign(table=spec.name, scale=scale).to_csv(csv, index=False)
    differences = table_evidence(spec, records, videos).frame()
    differences.assign(table=spec.name, scale=scale).to_csv(differences_csv(csv), index=False, float_format="%.4f")


def differences_csv(csv: Path) -> Path:
    return csv.with_name(csv.stem + "_differences.csv")


def markdown_html(text: str, title: str) -> str:
    """A self-contained HTML page of a markdown table file (markdown-it, with tables)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(text)
    style = ("body{font-family:sans-serif;max-width:80em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}")
    return f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head>" \
           f"<body>\n{body}</body></html>\n"


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
    fig.suptitle(f"{spec.title} — ours (blue: seeds, mean ± sample std over training seeds)" + (", paper (red ×)" if spec.paper_values == "absolute" else ""))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_differences(spec: TableSpec, records: pd.DataFrame, videos: pd.DataFrame | None, path: Path) -> None:
    """Each row's paired difference from the baseline, per column: the seeds' differences as
    points, the 95% t-interval over seeds (thick) and the 95% bootstrap over test videos (thin),
    the paper's Δ as a red cross on the same axis. A table without a baseline gets a note."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evidence = table_evidence(spec, records, videos)
    rows = list(evidence.comparisons)
    columns = [c for c in spec.columns if any(c.name in evidence.comparisons[r] for r in rows)]
    ncols = max(min(len(columns), 4), 1)
    nrows = max(math.ceil(len(columns) / ncols), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 0.55 * max(len(rows), 1) * nrows + 1.8), squeeze=False)
    for index, (ax, column) in enumerate(zip(axes.flat, columns)):
        _difference_panel(ax, evidence, rows, column, row_names=index % ncols == 0)
        ax.set_xlabel(f"Δ vs {spec.baseline} (points)")
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    if not columns:
        axes.flat[0].set_visible(False)
        fig.text(0.5, 0.5, "no baseline row or no paired differences in this table", ha="center")
    fig.suptitle(f"{spec.title} — difference from the baseline: seeds (blue dots), 95% t-interval over training "
                 "seeds (blue bar), 95% paired bootstrap over test videos (green), paper's Δ (red ×)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _difference_panel(ax, evidence, rows: list[str], column, row_names: bool) -> None:
    """One column's panel: per row, the video bootstrap (green, above), the seeds' t-interval and
    points (blue) and the paper's Δ (red ×, below)."""
    for y, row in enumerate(rows):
        c = evidence.comparisons[row].get(column.name)
        if c is None:
            continue
        if c.video:
            ax.plot(c.video, [y + 0.18] * 2, color="tab:green", linewidth=1.5)
        if c.seed.n > 1 and not math.isnan(c.seed.half_width):
            ax.plot([c.seed.low, c.seed.high], [y] * 2, color="tab:blue", linewidth=4, alpha=0.6)
        ax.plot(c.per_seed["difference"], [y] * len(c.per_seed), "o", color="tab:blue", markersize=4, alpha=0.8)
        if c.paper is not None:
            ax.plot(c.paper, y - 0.18, marker="x", color="tab:red", linestyle="none", markersize=7)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(range(len(rows)), rows if row_names else [""] * len(rows))
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_title(column.title)
