"""What a table was built from: its metrics files must agree on the evaluation data and the
evaluation settings (else the gather step refuses, naming the runs); the table then states
those fingerprints and the code versions in a line under it."""

from __future__ import annotations

from tcclip.errors import TcclipError
from tcclip.data.fingerprint import digest_of, short


def _groups(values: dict[str, object]) -> str:
    """'A in runs r1, r2; B in runs r3' for {run: value}."""
    by_value: dict[str, list[str]] = {}
    for run, value in values.items():
        by_value.setdefault(str(value), []).append(run)
    return "; ".join(f"{value} in runs {', '.join(runs)}" for value, runs in by_value.items())


def _first_difference(table: str, what: str, per_run: dict[str, dict | None]) -> None:
    """Raise when the runs' mappings (eval key -> fingerprint, or settings) disagree on a key."""
    if len({value is None for value in per_run.values()}) > 1:
        raise TcclipError(f"table {table}: some metrics have no {what} recorded (written by an older tcclip): "
                          f"{_groups({r: 'unrecorded' if v is None else 'recorded' for r, v in per_run.items()})}; "
                          "evaluate those runs again")
    keys = sorted({key for value in per_run.values() if value for key in value})
    for key in keys:
        values = {run: value[key] for run, value in per_run.items() if value and key in value}
        if len({str(v) for v in values.values()}) > 1:
            shown = {run: short(v) if str(v).startswith("sha256:") else v for run, v in values.items()}
            raise TcclipError(f"table {table}: the runs' metrics differ in {what} {key}: {_groups(shown)}; "
                              "evaluate them on the same data with the same settings before combining them")


def _data_by_eval_set(metrics: dict, origin: dict | None) -> dict | None:
    """The metrics' data fingerprints keyed by eval set (``dataset/split``), not by the task's
    eval key: base-to-novel names its evals "base" and "novel" in every dataset's task, so
    the bare keys of two datasets' runs would be compared as if they were one list."""
    if not origin:
        return None
    eval_set = {r["key"]: f"{r['dataset']}/{r['split']}" for r in metrics.get("results", [])
                if "dataset" in r and "split" in r}
    return {eval_set.get(key, key): value for key, value in origin["data"].items()}


def check_provenance(table: str, metrics_by_run: dict[str, dict]) -> dict:
    """{run id: metrics} -> the table's provenance {"data", "evaluation", "code", "runs"}; a
    one-line error when evaluation data fingerprints or evaluation settings differ."""
    origins = {run: metrics.get("provenance") for run, metrics in metrics_by_run.items()}
    data_by_run = {run: _data_by_eval_set(metrics_by_run[run], o) for run, o in origins.items()}
    _first_difference(table, "evaluation data", data_by_run)
    _first_difference(table, "evaluation setting", {r: o and o["evaluation"] for r, o in origins.items()})
    data: dict = {}
    evaluation: dict = {}
    for run, origin in origins.items():
        if origin:
            data.update(data_by_run[run])
            evaluation.update(origin["evaluation"])
    codes = sorted({_code_line(m.get("code_version") or {}) for m in metrics_by_run.values()})
    return {"data": data, "evaluation": evaluation, "code": codes, "runs": len(metrics_by_run)}


def _code_line(code: dict) -> str:
    parts = [f"tcclip {code.get('tcclip', '?')}"]
    if code.get("sources"):
        parts.append(f"sources {short(code['sources'])}")
    if code.get("git"):
        parts.append(f"git {code['git']}")
    return ", ".join(parts)


def provenance_line(origin: dict | None) -> str | None:
    """The sentence under a table that says what it was built from (None without metrics)."""
    if not origin or not origin["runs"]:
        return None
    sets = {key: value for key, value in origin["data"].items() if key != "benchmark"}
    if sets:
        data = f"evaluation data {short(digest_of(sets))} (lists and labels of {len(sets)} eval sets"
        benchmark = origin["data"].get("benchmark")
        data += f"; synthetic benchmark {short(benchmark)})" if isinstance(benchmark, str) else ")"
    else:
        data = "evaluation data not recorded"
    settings = ", ".join(f"{key}={value}" for key, value in sorted(origin["evaluation"].items())) or "not recorded"
    return (f"Built from {origin['runs']} metrics files: {data}; evaluation settings {settings}; "
            f"code {' | '.join(origin['code'])}.")
