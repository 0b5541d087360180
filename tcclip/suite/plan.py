"""From paper tables to runs: every (row, seed, protocol task) of a table as a training run.

The Snakefile and ``tcclip table`` both call this, so the DAG and the report agree on
which run holds which cell. A run is named by the hash of its resolved training config
(``tcclip.engine.run_config.run_id``): a configuration that appears in several tables (full
TC-CLIP, seed 2, say) is one run, trained once and evaluated wherever it is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tcclip.config import from_dict, load_yaml
from tcclip.engine.run_files import metrics_filename
from tcclip.errors import ConfigError
from tcclip.suite.tables import Row, TableSpec, load_table, table_names


@dataclass
class WorkflowConfig:
    """workflow/config/*.yaml, validated by workflow/schemas/config.schema.yaml too."""

    scale: str = "embedded"
    run_config: str = "embedded"
    """Base run config: a name under tcclip/resources/runs (embedded, paper) or a YAML path."""
    catalog: str = "data/synthetic/catalog.yaml"
    """Dataset catalog: the synthetic benchmark's catalog.yaml, or 'real'."""
    synthetic: dict[str, Any] = field(default_factory=lambda: {"out": "data/synthetic", "seed": 0, "size": "default"})
    backbone: dict[str, Any] = field(default_factory=dict)
    """{arch, weights, pretrain: bool, pretrain_overrides: [key=value]}."""
    roots: dict[str, str] = field(default_factory=dict)
    lists: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    """Tables `snakemake all` builds (default: every table under ablations/tables)."""
    seeds: list[int] | None = None
    """Replace every table's seeds (e.g. [1] for a smoke run)."""
    tasks: dict[str, dict[str, list]] = field(default_factory=dict)
    """Restrict the tasks of a protocol or of one table (a table's own entry wins), e.g.
    {few_shot: {shots: [2, 8]}, seed_selection: {shots: [8], datasets: [hmdb51]}}."""
    overrides: list[str] = field(default_factory=list)
    """key=value applied to every run (after the table row's own)."""
    table_overrides: dict[str, list[str]] = field(default_factory=dict)
    """Per table: key=value applied to each of its runs, after the row's own and before
    ``overrides`` (so a smoke run's train.epochs=1 still wins), e.g. a longer training
    budget for one table at the embedded scale."""
    runs_dir: str = "results/runs"
    tables_dir: str = "results/tables"
    figures_dir: str = "results/figures"
    allow_partial: bool = False
    gpus: int = 0
    """GPUs of each training job (a DDP training over them when more than one); evaluations take one."""
    # Thread counts are not here: they belong to the machine, and live in the Snakemake
    # profiles (workflow/profiles/*/config.yaml, set-threads) and the rules' defaults.


@dataclass(frozen=True)
class PlannedRun:
    table: str
    row: str
    seed: int
    task: tuple[tuple[str, Any], ...]
    """Protocol task parameters, e.g. (("dataset", "hmdb51"), ("shots", 2))."""
    overrides: tuple[str, ...]
    run_id: str
    wiseft: float | None

    @property
    def metrics_name(self) -> str:
        return metrics_filename(self.wiseft)

    def task_dict(self) -> dict[str, Any]:
        return dict(self.task)


def load_workflow_config(data: dict) -> WorkflowConfig:
    wf = from_dict(WorkflowConfig, data, "workflow")
    known = table_names()
    unknown = sorted(set(wf.table_overrides) - set(known))
    if unknown:
        raise ConfigError(f"workflow.table_overrides: unknown tables {unknown}; tables: {', '.join(known)}")
    return wf


def _protocol_tasks(protocol: str, spec: TableSpec, wf: WorkflowConfig) -> list[tuple[tuple[str, Any], ...]]:
    """The protocol's training tasks this table needs (few-shot: dataset x K; base2novel: dataset x subset)."""
    from tcclip.data.protocols import Protocol

    data = Protocol.load(protocol).data
    key = spec.name if spec.name in wf.tasks else protocol
    restrict = wf.tasks.get(key, {})
    unknown = set(restrict) - {"datasets", "shots", "subsets"}
    if unknown:
        raise ConfigError(f"workflow.tasks.{key}: unknown keys {sorted(unknown)}; valid: datasets, shots, subsets")
    if protocol not in ("few_shot", "base2novel"):
        return [()]
    needed = {c.dataset for c in spec.columns if c.dataset}
    datasets = [d for d in data["datasets"] if d in needed and d in restrict.get("datasets", data["datasets"])]
    if protocol == "few_shot":
        shots = restrict.get("shots", data["shots"])
        column_shots = {c.shots for c in spec.columns if c.dataset}
        if None not in column_shots:  # the table reads given K values only
            shots = [k for k in shots if k in column_shots]
        return [(("dataset", d), ("shots", int(k))) for d in datasets for k in shots]
    subsets = restrict.get("subsets", data["subsets"])
    return [(("dataset", d), ("subset", s)) for d in datasets for s in subsets]


def _row_overrides(row: Row, protocol: str, task: tuple, seed: int, wf: WorkflowConfig,
                   table: str) -> list[str]:
    def item(key: str, value: Any) -> str:
        return f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"

    out = [item("scale", wf.scale), item("protocol.name", protocol), item("protocol.catalog", wf.catalog), item("model.preset", row.preset)]
    for key, value in task:
        out.append(item(f"protocol.{key}", value))
    for key, value in wf.roots.items():
        out.append(item(f"protocol.roots.{key}", value))
    for key, value in wf.lists.items():
        out.append(item(f"protocol.lists.{key}", value))
    for key in ("arch", "weights"):
        if wf.backbone.get(key):
            out.append(item(f"model.backbone.{key}", wf.backbone[key]))
    out += [item(key, value) for key, value in row.overrides.items()]
    out.append(item("seed", seed))
    out.append(item("output", wf.runs_dir))
    out += list(wf.table_overrides.get(table, []))
    out += list(wf.overrides)
    if not row.train:  # last: no workflow override (e.g. train.epochs=1 for a smoke run) trains it
        out.append("train.epochs=0")
    return out


def plan_table(name: str, wf: WorkflowConfig) -> list[PlannedRun]:
    """Every (row, seed, task) of table ``name`` with its run id."""
    from tcclip.engine.run_config import resolve_run_config, run_config_path, run_id

    spec = load_table(name)
    base = run_config_path(wf.run_config)
    runs = []
    for row in spec.rows:
        seeds = wf.seeds or spec.seeds
        for seed in seeds:
            for task in _protocol_tasks(spec.protocol, spec, wf):
                # An untrained row (vanilla CLIP) has no seed to vary: every seed's cell reads the
                # one evaluation made with the first seed, instead of re-scoring the same weights.
                model_seed = seed if row.train else seeds[0]
                overrides = _row_overrides(row, spec.protocol, task, model_seed, wf, spec.name)
                try:
                    cfg = resolve_run_config([base], overrides)
                except ConfigError as err:
                    raise ConfigError(f"table {name}, row {row.name!r}: {err}") from None
                runs.append(PlannedRun(name, row.name, seed, task, tuple(overrides), run_id(cfg), row.wiseft))
    return runs


@lru_cache(maxsize=None)
def _cached_plan(name: str, wf_yaml: str) -> tuple[PlannedRun, ...]:
    return tuple(plan_table(name, load_workflow_config(yaml.safe_load(wf_yaml))))


def plan(names: list[str], wf: WorkflowConfig) -> dict[str, list[PlannedRun]]:
    """Plans of several tables (cached per workflow config: the Snakefile asks repeatedly)."""
    import dataclasses

    key = yaml.safe_dump(dataclasses.asdict(wf), sort_keys=True)
    return {name: list(_cached_plan(name, key)) for name in names}


def workflow_config_from_file(path: str | Path) -> WorkflowConfig:
    return load_workflow_config(load_yaml(path))


INDEX_COLUMNS = ["run_id", "table", "row", "seed", "task", "overrides", "metrics_file", "run_dir"]


def run_index(plans: dict[str, list[PlannedRun]], runs_dir: str | Path) -> list[dict[str, Any]]:
    """One line per (table, row, seed, task): which run folder holds it and which metrics file
    of that folder the table reads. A run shared by several rows or tables has a line for each."""
    lines = []
    for table, runs in plans.items():
        for run in runs:
            lines.append({"run_id": run.run_id, "table": table, "row": run.row, "seed": run.seed,
                          "task": " ".join(f"{k}={v}" for k, v in run.task) or "-",
                          "overrides": " ".join(run.overrides) or "-", "metrics_file": run.metrics_name,
                          "run_dir": str(Path(runs_dir) / run.run_id)})
    return lines


def write_run_index(plans: dict[str, list[PlannedRun]], runs_dir: str | Path, out: str | Path) -> Path:
    """results/runs/index.csv: run ids -> the table rows they fill (config: RUN_DIR/config.yaml)."""
    import csv

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(run_index(plans, runs_dir))
    return out
