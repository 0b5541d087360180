"""Read the runs' metrics files into the long-form records a table is made of.

One record per (row, seed, column, split): ``split`` is an evaluation split (zero-shot:
val1..3 / zs_split1..3), a few-shot K (when a column averages over K), or a
base-to-novel training subset. Base-to-novel HM is computed per seed from the base and
novel accuracies averaged over the subsets, as the paper does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tcclip.errors import TcclipError
from tcclip.suite.plan import PlannedRun
from tcclip.report.aggregate import RECORD_COLUMNS
from tcclip.engine.predictions import hits, read_predictions
from tcclip.engine.run_files import predictions_path
from tcclip.report.provenance import check_provenance
from tcclip.suite.tables import TableSpec


VIDEO_COLUMNS = ["row", "seed", "column", "split", "video", "hit"]


def read_metrics(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, json.JSONDecodeError) as err:
        raise TcclipError(f"{path}: unreadable metrics file ({err})") from None


def _column_results(spec: TableSpec, run: PlannedRun, metrics: dict):
    """(column, split label, metric read, result row of metrics.json) for each value the run gives the table."""
    task = run.task_dict()
    for column in spec.columns:
        if column.dataset is None:
            continue
        if column.shots is not None and task.get("shots") != column.shots:
            continue
        if task.get("dataset") not in (None, column.dataset) and spec.protocol in ("few_shot", "base2novel"):
            continue
        for result in metrics["results"]:
            if column.metric in ("base", "novel"):
                if result["key"] == column.metric:
                    yield column, task["subset"], "top1", result
            elif column.metric in ("top1", "top5") and result["dataset"] == column.dataset:
                split = result["split"] if "shots" not in task or column.shots else f"k{task['shots']}"
                yield column, split, column.metric, result


def _column_records(spec: TableSpec, run: PlannedRun, metrics: dict) -> list[tuple]:
    """(row, seed, column, split, value, chance, run id, metrics file) of each value the run gives the table."""
    return [(run.row, run.seed, column.name, split, float(result[metric]), chance(result, metric), run.run_id,
             run.metrics_name)
            for column, split, metric, result in _column_results(spec, run, metrics)]


def chance(result: dict, metric: str) -> float:
    """A uniform guess's top-1 / top-5 (in %) on a result's class list; NaN when it is not recorded."""
    classes = result.get("classes")
    if not classes:
        return float("nan")
    return 100.0 * min(5 if metric == "top5" else 1, classes) / classes


def _video_records(spec: TableSpec, run: PlannedRun, metrics: dict, frame: pd.DataFrame) -> list[pd.DataFrame]:
    """Per-video hits (0/1) of the run in each of the table's (column, split) it fills."""
    scored = hits(frame)
    out = []
    for column, split, metric, result in _column_results(spec, run, metrics):
        part = scored[scored["key"] == result["key"]]
        out.append(pd.DataFrame({"row": run.row, "seed": run.seed, "column": column.name, "split": split,
                                 "video": part["path"].to_numpy(), "hit": part[metric].to_numpy()}))
    return out


def collect_videos(spec: TableSpec, runs: list[PlannedRun], runs_dir: Path,
                   allow_partial: bool) -> tuple[pd.DataFrame, list[str]]:
    """Per-video hits of a table (row, seed, column, split, video, hit) from each run's
    predictions file, and the runs whose file is missing (an error unless allow_partial).
    Runs without a metrics file are left to ``collect``."""
    parts, missing, read = [], [], {}
    for run in runs:
        metrics_path = Path(runs_dir) / run.run_id / run.metrics_name
        if not metrics_path.is_file():
            continue
        metrics = read_metrics(metrics_path)
        path = predictions_path(metrics_path)
        try:
            frame = read[path] if path in read else read.setdefault(path, read_predictions(path))
        except FileNotFoundError:
            missing.append(f"{path} (row {run.row!r}, seed {run.seed})")
            continue
        parts += _video_records(spec, run, metrics, frame)
    if missing and not allow_partial:
        raise TcclipError(f"table {spec.name}: {len(missing)} per-video predictions files missing, e.g. {missing[0]}; "
                          "re-evaluate the run (tcclip evaluate RUN), or pass allow_partial to render without "
                          "the intervals over test videos for it")
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=VIDEO_COLUMNS)
    return frame[VIDEO_COLUMNS], missing


def _harmonic_means(spec: TableSpec, records: pd.DataFrame) -> pd.DataFrame:
    """HM per (row, seed) from subset-averaged base and novel accuracy."""
    rows = []
    for column in spec.columns:
        if column.metric != "hm":
            continue
        parts = {c.metric: c.name for c in spec.columns if c.dataset == column.dataset and c.metric in ("base", "novel")}
        if set(parts) != {"base", "novel"}:
            continue
        means = records[records.column.isin(parts.values())].groupby(["row", "seed", "column"])["value"].mean()
        for (row, seed), group in means.groupby(level=["row", "seed"]):
            values = {c: v for (_, _, c), v in group.items()}
            base, novel = values.get(parts["base"]), values.get(parts["novel"])
            if base is None or novel is None:
                continue
            hm = 0.0 if base + novel == 0 else 2 * base * novel / (base + novel)
            rows.append((row, seed, column.name, "subsets", hm))
    return pd.DataFrame(rows, columns=RECORD_COLUMNS)


def collect(spec: TableSpec, runs: list[PlannedRun], runs_dir: Path, allow_partial: bool) -> tuple[pd.DataFrame, list[str]]:
    """Records of a table and the list of missing metrics files (an error unless allow_partial).
    The metrics must agree on their evaluation data and settings; what they were built from
    is left in ``records.attrs["provenance"]`` (tcclip.report.provenance)."""
    rows, missing, read = [], [], {}
    for run in runs:
        path = Path(runs_dir) / run.run_id / run.metrics_name
        try:
            metrics = read_metrics(path)
        except FileNotFoundError:
            missing.append(f"{path} (row {run.row!r}, seed {run.seed}{', ' + str(run.task_dict()) if run.task else ''})")
            continue
        read[run.run_id if run.wiseft is None else f"{run.run_id} ({run.metrics_name})"] = metrics
        rows += _column_records(spec, run, metrics)
    if missing and not allow_partial:
        raise TcclipError(f"table {spec.name}: {len(missing)} metrics files missing, e.g. {missing[0]}; "
                          "run the DAG, or pass allow_partial to render what exists")
    origin = check_provenance(spec.name, read)
    # chance: for the degenerate-column flag; run_id and metrics_file: where each value comes from
    records = pd.DataFrame(rows, columns=[*RECORD_COLUMNS, "chance", "run_id", "metrics_file"])
    hm = _harmonic_means(spec, records)
    if not hm.empty:
        records = pd.concat([records, hm], ignore_index=True)
    records.attrs["provenance"] = origin
    return records, missing
