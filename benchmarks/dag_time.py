"""DAG wall time: per rule, from Snakemake's `benchmark:` records, and the share spent
starting Python and importing the stack (torch, open_clip, tcclip) in each job.

Run the DAG first (e.g. `make zero-shot`, or `snakemake all`), then:

    python benchmarks/dag_time.py [--benchmarks results/benchmarks] [--quick]

The start-up cost is measured here, in this run: the median wall time of
`python -c "import tcclip.engine.train, tcclip.engine.evaluate"` (what every training/evaluation job
imports before doing work) times the number of such jobs.

Jobs run side by side (one-thread runs, as many as cores), so the DAG's elapsed time is
less than the sum of its jobs: it is read from the newest Snakemake log
(`.snakemake/log/`, or --log), which covers one `snakemake` invocation.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from common import ROOT, banner, median, table  # noqa: E402

PYTHON_JOBS = ("synthesize", "pretrain_clip", "train_and_evaluate", "train", "evaluate", "table", "context_figure",
               "check_weights", "fingerprint_dataset")


def records(folder: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(folder.rglob("*.tsv")):
        rule = path.parent.name if path.parent != folder else path.stem
        frame = pd.read_csv(path, sep="\t")
        rows.append({"rule": rule, "job": path.stem, "s": float(frame["s"].iloc[-1]),
                     "cpu_s": float(frame["cpu_time"].iloc[-1]), "max_rss_mb": float(frame["max_rss"].iloc[-1])})
    return pd.DataFrame(rows)


def elapsed_seconds(log: Path) -> float | None:
    """Snakemake's own "Elapsed time: H:MM:SS.ffffff" line of a finished invocation."""
    match = re.search(r"^Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)", log.read_text(), re.MULTILINE)
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return datetime.timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds)).total_seconds()


def newest_log(root: Path) -> Path | None:
    logs = sorted((root / ".snakemake" / "log").glob("*.snakemake.log"))
    return logs[-1] if logs else None


def startup_seconds(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import tcclip.engine.train, tcclip.engine.evaluate"], check=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=str(ROOT / "results" / "benchmarks"))
    parser.add_argument("--log", help="the Snakemake log of the invocation to time (default: the newest)")
    parser.add_argument("--quick", action="store_true", help="one start-up measurement instead of three")
    args = parser.parse_args()
    banner("DAG wall time from Snakemake benchmark records", sys.argv)
    data = records(Path(args.benchmarks))
    if data.empty:
        print(f"no benchmark records under {args.benchmarks}: run the DAG first (make zero-shot)")
        return 1
    startup = startup_seconds(1 if args.quick else 3)
    per_rule = data.assign(rule=data.rule.replace({"evaluate": "evaluate"})).groupby("rule").agg(
        jobs=("s", "size"), total_s=("s", "sum"), mean_s=("s", "mean"), cpu_s=("cpu_s", "sum"),
        max_rss_mb=("max_rss_mb", "max"))
    python_jobs = int(per_rule.loc[per_rule.index.isin(PYTHON_JOBS), "jobs"].sum())
    total = float(per_rule["total_s"].sum())
    rows = [[rule, int(r.jobs), f"{r.total_s:.0f}", f"{r.mean_s:.1f}", f"{r.cpu_s:.0f}", f"{r.max_rss_mb:.0f}"]
            for rule, r in per_rule.sort_values("total_s", ascending=False).iterrows()]
    print(table(rows, ["rule", "jobs", "wall s (sum)", "wall s (mean)", "cpu s", "max RSS MB"]))
    print(f"\nsum of job wall times: {total:.0f} s ({total / 60:.1f} min) over {len(data)} jobs")
    print(f"python start-up + imports: {startup:.2f} s per job x {python_jobs} jobs = {startup * python_jobs:.0f} s "
          f"({100 * startup * python_jobs / total:.1f}% of the job time)")
    log = Path(args.log) if args.log else newest_log(ROOT)
    elapsed = elapsed_seconds(log) if log else None
    if elapsed is None:
        print(f"elapsed: no finished Snakemake log ({log or 'none under .snakemake/log'})")
    else:
        print(f"elapsed (Snakemake, {log.name}): {elapsed:.0f} s ({elapsed / 60:.1f} min); "
              f"jobs ran {total / elapsed:.2f} at a time on average (sum of job times / elapsed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
