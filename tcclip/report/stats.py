"""Evidence for a difference between two rows of a table: two intervals, power, pooling.

Every difference is ``row − reference`` in accuracy points, paired twice:

* **over training seeds** (``seed_interval``): the per-seed differences (same seed, same
  evaluation), mean and 95% Student-t interval, sample std ddof 1. This is the variation a
  rerun with another seed shows; a difference is *resolved* only when this interval
  excludes 0.
* **over test videos** (``video_interval``): a paired bootstrap over the test videos,
  stratified by evaluation split, with the trained models held fixed. This is the variation
  of a finite test set.

Why a bootstrap over videos and not McNemar's exact test per seed: McNemar gives one
p-value per seed, not an interval on the accuracy scale, and does not extend to a column
that averages several splits or datasets; combining its p-values across seeds (Fisher,
Stouffer) would treat the seeds as independent evidence although every seed is scored on
the *same* videos, which overstates the evidence. The bootstrap here resamples each split's
videos once per replicate and applies that resample to every seed, so the pairing by video
holds across rows and across seeds; its statistic is exactly the table's (mean over splits,
then over seeds; a derived column averages its parts). Each video enters through the mean
over seeds of its paired hit difference, so a replicate only needs how many videos take
each distinct value: it is drawn as a multinomial of those counts, the same distribution as
drawing videos with replacement, at a cost independent of the number of videos. Splits are
resampled independently of each other (HMDB/UCF's three splits may share videos, which this
treats as separate draws).

Power (``smallest_detectable``, ``seeds_needed``): a two-sided paired t-test at 5%; the
power at n seeds comes from the noncentral t distribution (scipy). Pooling over datasets
(``pooled``) follows rliable (Agarwal et al., 2021): a stratified bootstrap that resamples
seeds within each dataset column, and the probability of improvement
P(row > reference) = mean over columns of P(X > Y) + ½ P(X = Y), X and Y a seed of each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

BOOTSTRAP_REPLICATES = 4000
POWER = 0.8
ALPHA = 0.05


def t_975(df: int) -> float:
    """Two-sided 95% Student-t quantile t_{0.975, df} (NaN without degrees of freedom)."""
    return float(stats.t.ppf(1 - ALPHA / 2, df)) if df >= 1 else math.nan


@dataclass(frozen=True)
class SeedInterval:
    delta: float
    sd: float
    n: int
    half_width: float
    seeds: tuple[int, ...]

    @property
    def low(self) -> float:
        return self.delta - self.half_width

    @property
    def high(self) -> float:
        return self.delta + self.half_width

    @property
    def resolved(self) -> bool:
        return self.n > 1 and not math.isnan(self.half_width) and (self.low > 0 or self.high < 0)


def seed_differences(seed_values: pd.DataFrame, row: str, reference: str) -> pd.DataFrame:
    """(column, seed, difference) for the seeds both rows have."""
    wide = seed_values.pivot_table(index=["column", "seed"], columns="row", values="value")
    if row not in wide.columns or reference not in wide.columns:
        return pd.DataFrame(columns=["column", "seed", "difference"])
    diff = (wide[row] - wide[reference]).dropna().rename("difference")
    return diff.reset_index()


def seed_interval(differences: pd.Series, seeds=()) -> SeedInterval:
    values = np.asarray(differences, dtype=float)
    n = len(values)
    sd = float(values.std(ddof=1)) if n > 1 else math.nan
    half = t_975(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
    return SeedInterval(float(values.mean()) if n else math.nan, sd, n, half, tuple(sorted(seeds)))


def _stratum_replicates(per_video: np.ndarray, rng: np.random.Generator, replicates: int) -> np.ndarray:
    """Bootstrap means of one split's per-video values (resampled with replacement)."""
    values, counts = np.unique(per_video, return_counts=True)
    drawn = rng.multinomial(len(per_video), counts / counts.sum(), size=replicates)
    return drawn @ values / len(per_video)


def video_replicates(videos: pd.DataFrame, row: str, reference: str, seeds=None,
                     replicates: int = BOOTSTRAP_REPLICATES, seed: int = 0) -> dict[str, np.ndarray]:
    """Column -> bootstrap replicates of the mean (over splits, then seeds) paired difference.

    ``videos``: (row, seed, column, split, video, hit) with hit 0/1. Only videos both rows
    scored for every one of the shared seeds (or ``seeds``) enter.
    """
    mine = videos[videos["row"] == row].set_index(["column", "split", "video", "seed"])["hit"]
    theirs = videos[videos["row"] == reference].set_index(["column", "split", "video", "seed"])["hit"]
    diff = (mine - theirs).dropna().unstack("seed")
    if seeds is not None:
        diff = diff[[s for s in diff.columns if s in set(seeds)]]
    diff = diff.dropna()
    if diff.empty:
        return {}
    per_video = diff.mean(axis=1)  # each video's difference averaged over the seeds: one draw serves every seed
    rng = np.random.default_rng(seed)
    out = {}
    for column, by_split in per_video.groupby(level="column", sort=False):
        splits = [_stratum_replicates(group.to_numpy(), rng, replicates) for _, group in by_split.groupby(level="split")]
        out[column] = 100.0 * np.mean(splits, axis=0)
    return out


def with_derived(replicates: dict[str, np.ndarray], derived: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Add derived columns (mean of parts) to per-column replicates, where every part has them."""
    out = dict(replicates)
    for name, parts in derived.items():
        if all(p in replicates for p in parts):
            out[name] = np.mean([replicates[p] for p in parts], axis=0)
    return out


def percentile_interval(replicates: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(replicates, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return float(low), float(high)


def pooled_sd(sds: list[float], ns: list[int]) -> tuple[float, int]:
    """Pooled sample std of paired differences over rows (variances weighted by n−1), and its df."""
    pairs = [(s, n) for s, n in zip(sds, ns) if n > 1 and not math.isnan(s)]
    df = sum(n - 1 for _, n in pairs)
    if not df:
        return math.nan, 0
    return math.sqrt(sum((n - 1) * s * s for s, n in pairs) / df), df


def smallest_detectable(sd: float, n: int) -> float:
    """t_{0.975,n−1} · s_d / √n: the smallest mean paired difference whose 95% interval excludes 0."""
    return t_975(n - 1) * sd / math.sqrt(n) if n > 1 and not math.isnan(sd) else math.nan


def power(delta: float, sd: float, n: int) -> float:
    """Power of a two-sided paired t-test at 5% with n seeds, true difference delta, spread sd."""
    if n < 2:
        return math.nan
    df, noncentrality = n - 1, delta * math.sqrt(n) / sd
    critical = stats.t.ppf(1 - ALPHA / 2, df)
    return float(stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(-critical, df, noncentrality))


def seeds_needed(delta: float, sd: float, target: float = POWER, limit: int = 1000) -> int | None:
    """Fewest seeds (≥ 2) resolving ``delta`` with ``target`` power at spread ``sd``;
    None when delta is 0 or more than ``limit`` seeds would be needed."""
    if delta is None or math.isnan(delta) or math.isnan(sd) or delta == 0:
        return None
    if sd == 0:
        return 2
    n = 2
    while power(delta, sd, n) < target:
        n = n + 1 if n < 64 else int(n * 1.1)
        if n > limit:
            return None
    return n


def binomial_se(videos: pd.DataFrame, derived: dict[str, list[str]]) -> dict[str, tuple[float, int]]:
    """Column -> (binomial standard error in points of one model's value, clips it averages).

    Per split: sqrt(p(1−p)/n) with p the split's accuracy over all rows and seeds; a column
    averages its splits (and a derived column its parts), so their variances add / S²."""
    out: dict[str, tuple[float, int]] = {}
    one_model = videos.drop_duplicates(["column", "split", "video"])
    clips = one_model.groupby(["column", "split"]).size()
    accuracy = videos.groupby(["column", "split"])["hit"].mean()
    for column, n in clips.groupby(level="column"):
        p = accuracy.loc[column].reindex(n.index.get_level_values("split"))
        variance = (p.to_numpy() * (1 - p.to_numpy()) / n.to_numpy()).sum() / len(n) ** 2
        out[column] = (100.0 * math.sqrt(variance), int(n.sum()))
    for name, parts in derived.items():
        if all(p in out for p in parts):
            variance = sum(out[p][0] ** 2 for p in parts) / len(parts) ** 2
            out[name] = (math.sqrt(variance), sum(out[p][1] for p in parts))
    return out


def pooled(differences: pd.DataFrame, row_values: pd.DataFrame, reference_values: pd.DataFrame,
           replicates: int = BOOTSTRAP_REPLICATES, seed: int = 0) -> dict:
    """Pooled over dataset columns and seeds: mean difference with a stratified bootstrap
    interval (seeds resampled within each column), and P(row > reference) à la rliable with
    its stratified bootstrap interval.

    ``differences``: (column, seed, difference); ``*_values``: (column, seed, value) of each row.
    """
    rng = np.random.default_rng(seed)
    columns = list(pd.unique(differences["column"]))
    if not columns:
        return {}
    by_column = [differences.loc[differences["column"] == c, "difference"].to_numpy() for c in columns]
    draws = [d[rng.integers(0, len(d), size=(replicates, len(d)))].mean(axis=1) for d in by_column]
    mean_replicates = np.mean(draws, axis=0)
    xs = [row_values.loc[row_values["column"] == c, "value"].to_numpy() for c in columns]
    ys = [reference_values.loc[reference_values["column"] == c, "value"].to_numpy() for c in columns]
    point = np.mean([_prob_greater(x, y) for x, y in zip(xs, ys)])
    prob_replicates = np.mean([
        _prob_greater(x[rng.integers(0, len(x), size=(replicates, len(x)))],
                      y[rng.integers(0, len(y), size=(replicates, len(y)))]) for x, y in zip(xs, ys)], axis=0)
    return {"columns": columns, "n": sum(len(d) for d in by_column),
            "mean": float(np.mean([d.mean() for d in by_column])), "mean_interval": percentile_interval(mean_replicates),
            "p_improve": float(point), "p_interval": percentile_interval(prob_replicates)}


def _prob_greater(x: np.ndarray, y: np.ndarray):
    """P(X > Y) + ½ P(X = Y) over all pairs of x's and y's entries (last axis; batched)."""
    x, y = np.asarray(x, dtype=float)[..., :, None], np.asarray(y, dtype=float)[..., None, :]
    return ((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1))
