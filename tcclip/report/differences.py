"""A table's differences: each row against a reference row, per column, with both intervals
(tcclip.report.stats), the paper's Δ beside it, the power of the table and pooled evidence.

Used by the table renderer (every row against the table's baseline), the difference
figure and the claims table (any row against any other).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from tcclip.report import stats
from tcclip.report.aggregate import per_seed
from tcclip.suite.tables import TableSpec


@dataclass
class Comparison:
    row: str
    reference: str
    column: str
    seed: stats.SeedInterval
    per_seed: pd.DataFrame
    """(seed, difference)."""
    video: tuple[float, float] | None
    """95% paired bootstrap interval over test videos; None without per-video files."""
    paper: float | None

    def record(self) -> dict:
        video = self.video or (math.nan, math.nan)
        return {"row": self.row, "reference": self.reference, "column": self.column, "delta": self.seed.delta,
                "n_seeds": self.seed.n, "seeds": " ".join(map(str, self.seed.seeds)),
                "seed_sd_ddof1": self.seed.sd, "seed_t95_low": self.seed.low, "seed_t95_high": self.seed.high,
                "video_bootstrap95_low": video[0], "video_bootstrap95_high": video[1],
                "resolved": self.seed.resolved, "paper_delta": self.paper}


@dataclass
class Power:
    column: str
    sd: float
    """Pooled sample std (ddof 1) of the rows' paired differences over seeds."""
    df: int
    n: int
    smallest_detectable: float
    seeds_needed: dict[str, int | None] = field(default_factory=dict)
    """Row -> seeds needed to resolve the paper's Δ at this spread (80% power)."""


def paper_value(spec: TableSpec, row: str, column: str) -> float | None:
    """The paper's number for (row, column): its mean when given as [mean, std]; a derived
    column without one is the mean of its parts' numbers when the paper gives them all."""
    values = next((r.paper for r in spec.rows if r.name == row), {})
    value = values.get(column)
    if isinstance(value, (list, tuple)):
        value = value[0]
    if value is None:
        parts = spec.derived().get(column)
        if parts:
            numbers = [paper_value(spec, row, p) for p in parts]
            if all(v is not None for v in numbers):
                return sum(numbers) / len(numbers)
        if spec.paper_values == "delta" and row == spec.baseline:
            return 0.0  # a table of gains over its baseline: the baseline's own gain
    return None if value is None else float(value)


def paper_delta(spec: TableSpec, row: str, reference: str, column: str) -> float | None:
    mine, theirs = paper_value(spec, row, column), paper_value(spec, reference, column)
    return None if mine is None or theirs is None else mine - theirs


def compare(spec: TableSpec, seed_values: pd.DataFrame, videos: pd.DataFrame | None, row: str,
            reference: str) -> dict[str, Comparison]:
    """Column -> the comparison of ``row`` with ``reference`` (columns both rows fill)."""
    diffs = stats.seed_differences(seed_values, row, reference)
    replicates = {}
    if videos is not None and not videos.empty:
        replicates = stats.with_derived(stats.video_replicates(videos, row, reference), spec.derived())
    out = {}
    for column in spec.columns:
        mine = diffs[diffs["column"] == column.name]
        if mine.empty:
            continue
        interval = stats.seed_interval(mine["difference"], mine["seed"])
        video = stats.percentile_interval(replicates[column.name]) if column.name in replicates else None
        out[column.name] = Comparison(row, reference, column.name, interval, mine[["seed", "difference"]], video,
                                      paper_delta(spec, row, reference, column.name))
    return out


def main_column(spec: TableSpec) -> str:
    """The column a table's power statements are about: "all" where it has one, else its first."""
    names = [c.name for c in spec.columns]
    return "all" if "all" in names else names[0]


@dataclass
class Evidence:
    seed_values: pd.DataFrame
    comparisons: dict[str, dict[str, Comparison]]
    """Row -> column -> comparison with the baseline."""
    power: Power | None
    binomial_se: dict[str, tuple[float, int]]
    pooled: dict[str, dict]
    """Row -> pooled evidence over the dataset columns (tcclip.report.stats.pooled)."""

    def frame(self) -> pd.DataFrame:
        rows = [c.record() for by_column in self.comparisons.values() for c in by_column.values()]
        return pd.DataFrame(rows)


def pooled_columns(spec: TableSpec) -> list[str]:
    """The per-dataset columns pooled over: top-1 (or HM) columns, not averages of others."""
    return [c.name for c in spec.columns if c.dataset is not None and c.metric in ("top1", "hm")]


def table_evidence(spec: TableSpec, records: pd.DataFrame, videos: pd.DataFrame | None) -> Evidence:
    seed_values = per_seed(records, spec.derived())
    se = stats.binomial_se(videos, spec.derived()) if videos is not None and not videos.empty else {}
    if not spec.baseline:
        return Evidence(seed_values, {}, None, se, {})
    present = set(seed_values["row"])
    comparisons = {row.name: compare(spec, seed_values, videos, row.name, spec.baseline)
                   for row in spec.rows if row.name != spec.baseline and row.name in present}
    comparisons = {row: by_column for row, by_column in comparisons.items() if by_column}
    return Evidence(seed_values, comparisons, _power(spec, comparisons), se, _pooled(spec, seed_values, comparisons))


def _power(spec: TableSpec, comparisons: dict[str, dict[str, Comparison]]) -> Power | None:
    column = main_column(spec)
    mains = [by_column[column] for by_column in comparisons.values() if column in by_column]
    if not mains:
        return None
    sd, df = stats.pooled_sd([c.seed.sd for c in mains], [c.seed.n for c in mains])
    n = max(c.seed.n for c in mains)
    needed = {c.row: stats.seeds_needed(c.paper, sd) for c in mains if c.paper is not None}
    return Power(column, sd, df, n, stats.smallest_detectable(sd, n), needed)


def _pooled(spec: TableSpec, seed_values: pd.DataFrame, comparisons: dict) -> dict[str, dict]:
    columns = set(pooled_columns(spec))
    values = seed_values[seed_values["column"].isin(columns)]
    out = {}
    for row, by_column in comparisons.items():
        diffs = pd.concat([c.per_seed.assign(column=name) for name, c in by_column.items() if name in columns]
                          or [pd.DataFrame(columns=["seed", "difference", "column"])])
        if diffs.empty or diffs.groupby("column").size().max() < 2:  # resampling one seed says nothing
            continue
        mine, theirs = values[values["row"] == row], values[values["row"] == spec.baseline]
        out[row] = stats.pooled(diffs, mine[mine["column"].isin(set(diffs["column"]))],
                                theirs[theirs["column"].isin(set(diffs["column"]))])
    return out
