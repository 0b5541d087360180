"""From long-form results to table cells: mean ± std over seeds, paired deltas, intervals.

Input: one record per (row, seed, column, split) with the protocol's metric value in %.
A column's value for one seed is the mean over its splits (the paper's zero-shot "a ± b"
is mean ± std over the 3 evaluation splits of one model; we keep that spread as
``split_std``). A cell is then mean ± sample std over seeds.
"""

from __future__ import annotations

import math

import pandas as pd

RECORD_COLUMNS = ["row", "seed", "column", "split", "value"]


def t_quantile_975(df: int) -> float:
    """t_{0.975, df} (scipy's Student t; NaN without degrees of freedom)."""
    from tcclip.report.stats import t_975

    return t_975(df)


def per_seed(records: pd.DataFrame, derived: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """(row, seed, column) -> value = mean over splits, plus split_std and n_splits.

    ``derived`` maps a column to the columns it averages (e.g. "all" = mean of the
    three top-1 columns), computed per seed so that its std is over seeds too.
    """
    missing = [c for c in RECORD_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"records lack columns {missing}")
    grouped = records.groupby(["row", "seed", "column"], sort=False)["value"]
    out = grouped.agg(value="mean", split_std=lambda v: v.std(ddof=0), n_splits="count").reset_index()
    for name, parts in (derived or {}).items():
        wide = out[out["column"].isin(parts)].pivot_table(index=["row", "seed"], columns="column", values="value")
        complete = wide.dropna(subset=[p for p in parts if p in wide.columns])
        if not set(parts) <= set(wide.columns) or complete.empty:
            continue
        mean = complete[parts].mean(axis=1).rename("value").reset_index()
        mean["column"], mean["split_std"], mean["n_splits"] = name, math.nan, 0
        out = pd.concat([out, mean[out.columns]], ignore_index=True)
    return out


def cells(seed_values: pd.DataFrame) -> pd.DataFrame:
    """(row, column) -> mean, std (sample, over seeds), n (seeds), seeds (list)."""
    grouped = seed_values.groupby(["row", "column"], sort=False)
    return grouped.agg(
        mean=("value", "mean"),
        std=("value", lambda v: v.std(ddof=1) if len(v) > 1 else math.nan),
        n=("value", "count"),
        seeds=("seed", lambda s: sorted(s)),
    ).reset_index()


def paired_deltas(seed_values: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each row minus the baseline row, paired by seed: mean delta and its 95% t-interval
    (tcclip.report.stats.seed_interval)."""
    from tcclip.report.stats import seed_differences, seed_interval

    rows = []
    for row in dict.fromkeys(seed_values["row"]):
        if row == baseline:
            continue
        for column, group in seed_differences(seed_values, row, baseline).groupby("column", sort=False):
            interval = seed_interval(group["difference"])
            rows.append({"row": row, "column": column, "delta": interval.delta, "half_width": interval.half_width,
                         "n": interval.n})
    return pd.DataFrame(rows, columns=["row", "column", "delta", "half_width", "n"])


def format_cell(mean: float, std: float, n: int, expected: int, digits: int = 1) -> str:
    """'53.7 ± 0.7', with 'n=2' when seeds are missing; '—' when there is nothing."""
    if n == 0 or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    text = f"{mean:.{digits}f}"
    if n > 1 and not math.isnan(std):
        text += f" ± {std:.{digits}f}"
    if n < expected:
        text += f" (n={n})"
    return text


def format_delta(delta: float, half_width: float, digits: int = 1) -> str:
    if delta is None or math.isnan(delta):
        return "—"
    if math.isnan(half_width):
        return f"{delta:+.{digits}f}"
    return f"{delta:+.{digits}f} [{delta - half_width:+.{digits}f}, {delta + half_width:+.{digits}f}]"
