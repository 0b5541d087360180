"""The claims table: each testable claim of the paper (ablations/claims.yaml) with the
paper's Δ, ours with both intervals, and a verdict — generated from the runs, never typed.

Verdicts (the seed interval is the 95% t-interval over training seeds; its half-width is
the smallest difference those seeds could detect at that spread):

* reproduced — same sign as the paper's Δ, and the seed interval excludes 0;
* contradicted — opposite sign, and the seed interval excludes 0;
* underpowered — the interval contains 0 and its half-width exceeds |paper's Δ| (or there
  is a single seed, so no interval);
* no effect — the interval contains 0 although its half-width is at most |paper's Δ|;
* not run — the claim's table (or one of its rows) was not built in this workflow config.

A claim on a column that averages others ("All") whose parts were not all run (e.g. SSv2
left out at the embedded scale) is judged on the mean of the parts that were, for ours and
the paper's numbers alike, and says so.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tcclip.config import from_dict, load_yaml
from tcclip.errors import ConfigError
from tcclip.report.aggregate import per_seed
from tcclip.report.differences import Comparison, compare, paper_delta
from tcclip.suite.tables import Column, TableSpec, load_table

CLAIMS_FILE = Path(__file__).resolve().parents[2] / "ablations" / "claims.yaml"
CSV_COLUMNS = ["claim", "table", "row", "versus", "column", "paper_delta", "delta", "n_seeds", "seed_t95_low",
               "seed_t95_high", "video_bootstrap95_low", "video_bootstrap95_high", "smallest_detectable", "verdict",
               "note"]


@dataclass
class Claim:
    claim: str
    table: str
    row: str
    versus: str
    column: str = "all"

    def validate(self) -> None:
        spec = load_table(self.table)
        names = [r.name for r in spec.rows]
        for role, row in (("row", self.row), ("versus", self.versus)):
            if row not in names:
                raise ConfigError(f"claim {self.claim!r}: {role} {row!r} is not a row of table {self.table}; rows: {names}")
        if self.column not in [c.name for c in spec.columns]:
            raise ConfigError(f"claim {self.claim!r}: column {self.column!r} is not a column of table {self.table}")


@dataclass
class ClaimList:
    claims: list[Claim]


def load_claims(path: Path = CLAIMS_FILE) -> list[Claim]:
    try:
        return from_dict(ClaimList, load_yaml(path), "").claims
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def verdict(paper: float | None, comparison: Comparison) -> str:
    seed = comparison.seed
    if seed.n < 2 or math.isnan(seed.half_width):
        return "underpowered"
    if paper is None:
        return "resolved (no paper Δ)" if seed.resolved else "unresolved (no paper Δ)"
    if seed.resolved:
        return "reproduced" if (seed.delta > 0) == (paper > 0) and paper != 0 else "contradicted"
    return "underpowered" if seed.half_width > abs(paper) else "no effect"


def judge(claim: Claim, spec: TableSpec, records: pd.DataFrame, videos: pd.DataFrame | None) -> dict:
    """One line of the claims table from the claim's table data."""
    line = {"claim": claim.claim, "table": claim.table, "row": claim.row, "versus": claim.versus,
            "column": _title(spec, claim.column), "note": ""}
    spec, column, note = _judged_column(spec, records, claim)
    comparison = compare(spec, per_seed(records, spec.derived()), videos, claim.row, claim.versus).get(column)
    if comparison is None:
        return {**line, "verdict": "not run", "note": note or f"no paired values of {claim.row!r} and {claim.versus!r}"}
    video = comparison.video or (math.nan, math.nan)
    seed = comparison.seed
    line.update(column=_title(spec, column), paper_delta=comparison.paper, delta=seed.delta, n_seeds=seed.n,
                seed_t95_low=seed.low, seed_t95_high=seed.high, video_bootstrap95_low=video[0],
                video_bootstrap95_high=video[1], smallest_detectable=seed.half_width,
                verdict=verdict(comparison.paper, comparison),
                note="; ".join(n for n in (note, "one seed: no interval over seeds" if seed.n < 2 else "") if n))
    return line


def _judged_column(spec: TableSpec, records: pd.DataFrame, claim: Claim) -> tuple[TableSpec, str, str]:
    """The claim's column, or — for an average whose parts were not all run — the average of
    the parts that were (added to the spec so that ours and the paper's use the same parts)."""
    parts = spec.derived().get(claim.column)
    filled = set(records["column"]) if not records.empty else set()
    if not parts or set(parts) <= filled:
        return spec, claim.column, ""
    run = [p for p in parts if p in filled]
    if not run:
        return spec, claim.column, f"none of {_title(spec, claim.column)}'s columns was run"
    name = "claim_" + "_".join(run)
    label = f"mean of {', '.join(_title(spec, p) for p in run)}"
    extended = dataclasses.replace(spec, columns=[*spec.columns, Column(name=name, label=label, mean_of=run)])
    missing = [_title(spec, p) for p in parts if p not in filled]
    return extended, name, f"{_title(spec, claim.column)} without {', '.join(missing)} (not run)"


def _title(spec: TableSpec, column: str) -> str:
    return next((c.title for c in spec.columns if c.name == column), column)


def claims_frame(claims: list[Claim], data: dict[str, tuple]) -> pd.DataFrame:
    """``data``: table -> (spec, records, videos) of the tables that were built."""
    lines = []
    for claim in claims:
        if claim.table not in data:
            spec = load_table(claim.table)
            lines.append({"claim": claim.claim, "table": claim.table, "row": claim.row, "versus": claim.versus,
                          "column": _title(spec, claim.column),
                          "paper_delta": paper_delta(spec, claim.row, claim.versus, claim.column),
                          "verdict": "not run", "note": "table not built in this workflow config"})
            continue
        lines.append(judge(claim, *data[claim.table]))
    return pd.DataFrame(lines).reindex(columns=CSV_COLUMNS)


def render_claims(frame: pd.DataFrame, footer: str = "") -> str:
    lines = ["# The paper's claims, tested", "",
             "| Claim | Table | Difference | Paper Δ | Ours Δ [95% t over training seeds] | "
             "[95% bootstrap over test videos] | Smallest detectable | Verdict |", "|---|---|---|---|---|---|---|---|"]
    for line in frame.itertuples(index=False):
        ours = "—"
        if isinstance(line.delta, float) and not math.isnan(line.delta):
            ours = f"{line.delta:+.1f}" + ("" if math.isnan(line.seed_t95_low)
                                          else f" [{line.seed_t95_low:+.1f}, {line.seed_t95_high:+.1f}]")
            ours += f" (n={int(line.n_seeds)})"
        video = "—" if not _number(line.video_bootstrap95_low) else \
            f"[{line.video_bootstrap95_low:+.1f}, {line.video_bootstrap95_high:+.1f}]"
        detectable = f"{line.smallest_detectable:.1f}" if _number(line.smallest_detectable) else "—"
        paper = f"{line.paper_delta:+.1f}" if _number(line.paper_delta) else "—"
        note = f" ({line.note})" if isinstance(line.note, str) and line.note else ""
        lines.append(f"| {line.claim} | {line.table} | {line.row} − {line.versus}, {line.column}{note} | {paper} | "
                     f"{ours} | {video} | {detectable} | **{line.verdict}** |")
    lines += ["", "Differences in accuracy points, paired by seed (the seed interval: mean ± t₀.₉₇₅,ₙ₋₁ · s_d/√n, "
              "s_d the sample std (ddof 1) over training seeds of the paired differences; its half-width is the "
              "smallest difference these seeds could detect) and by video (paired bootstrap over the test videos, "
              "stratified by split, models fixed). Verdicts: reproduced — same sign as the paper, seed interval "
              "excludes 0; contradicted — opposite sign, excludes 0; underpowered — contains 0 and the smallest "
              "detectable difference exceeds |paper Δ| (or one seed); no effect — contains 0 although it could have "
              "detected the paper's Δ; not run — the table was not built in this workflow config. The paper's Δ comes "
              "from the tables' `paper:` values (ablations/tables/*.yaml)."]
    if footer:
        lines += ["", footer]
    return "\n".join(lines) + "\n"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)
