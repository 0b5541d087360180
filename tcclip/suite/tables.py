"""Paper tables as data: ``ablations/tables/<table>.yaml``.

A table names its protocol, its seeds, its columns (which dataset/metric of the
protocol's results each shows, or a mean of other columns), and its rows. A row is a
model preset plus dotted config overrides; ``train: false`` evaluates the backbone as is
(vanilla CLIP), ``wiseft: 0.7`` evaluates the row's trained weights ensembled with CLIP
(no retraining: the run is shared with the row without it). Adding a row is one entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcclip import paths
from tcclip.config import from_dict, load_yaml, merge
from tcclip.errors import ConfigError



@dataclass
class Column:
    name: str
    label: str | None = None
    dataset: str | None = None
    """Evaluation dataset of the protocol (k600, hmdb51, ucf101, ssv2, k400)."""
    metric: str = "top1"
    """top1 | top5 | base | novel | hm."""
    shots: int | None = None
    """Few-shot K this column reads (few-shot protocol only)."""
    mean_of: list[str] | None = None
    """A derived column: mean of these columns, per seed."""

    def validate(self) -> None:
        if (self.dataset is None) == (self.mean_of is None):
            raise ConfigError(f"table column {self.name!r}: give exactly one of 'dataset' or 'mean_of'")
        if self.metric not in ("top1", "top5", "base", "novel", "hm"):
            raise ConfigError(f"table column {self.name!r}: metric {self.metric!r}; valid: top1, top5, base, novel, hm")

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass
class Row:
    name: str
    preset: str = "tc_clip"
    overrides: dict[str, Any] = field(default_factory=dict)
    """Dotted run-config keys, e.g. {model.vision.summarization: kmeans}."""
    train: bool = True
    wiseft: float | None = None
    """WiSE-FT ratio of the fine-tuned weights (paper: 0.7); None = no ensembling."""
    paper: dict[str, Any] = field(default_factory=dict)
    """Published values per column: a number, or [mean, std] (zero-shot: std over splits)."""
    note: str | None = None
    off_axis: bool = False
    """A reference row outside the table's ablated axis (e.g. the no-context-token baseline
    of the seed-selection table): it need not spell out the axis keys."""

    def validate(self) -> None:
        if self.wiseft is not None and not 0.0 <= self.wiseft <= 1.0:
            raise ConfigError(f"table row {self.name!r}: wiseft must be in [0, 1], got {self.wiseft}")
        if self.wiseft is not None and not self.train:
            raise ConfigError(f"table row {self.name!r}: wiseft needs a trained model (train: true)")


@dataclass
class TableSpec:
    title: str
    protocol: str
    columns: list[Column]
    rows: list[Row]
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    baseline: str | None = None
    """Row that the ablation deltas are measured against."""
    paper_values: str = "absolute"
    """absolute | delta: whether the paper column gives values or gains over the baseline."""
    paper_note: str | None = None
    """What the paper's numbers are (protocol details the poster leaves open)."""
    axis: list[str] = field(default_factory=list)
    """The dotted config keys this table ablates: every row (off_axis rows aside) states its
    value of each in its own overrides, the default variant included, so a reader sees the axis."""
    row_defaults: dict[str, Any] = field(default_factory=dict)
    """Row fields merged under every row (overrides key by key); applied when the file is loaded."""
    name: str = ""

    def validate(self) -> None:
        names = [c.name for c in self.columns]
        for column in self.columns:
            for part in column.mean_of or []:
                if part not in names:
                    raise ConfigError(f"table {self.name}: column {column.name!r} averages unknown column {part!r}")
        row_names = [r.name for r in self.rows]
        duplicates = {n for n in row_names if row_names.count(n) > 1}
        if duplicates:
            raise ConfigError(f"table {self.name}: duplicate row names {sorted(duplicates)}")
        if self.baseline is not None and self.baseline not in row_names:
            raise ConfigError(f"table {self.name}: baseline {self.baseline!r} is not a row; rows: {row_names}")
        for row in self.rows:
            unknown = set(row.paper) - set(names)
            if unknown:
                raise ConfigError(f"table {self.name}: row {row.name!r} has paper values for unknown columns {sorted(unknown)}")
        if self.paper_values not in ("absolute", "delta"):
            raise ConfigError(f"table {self.name}: paper_values must be absolute or delta, got {self.paper_values!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"table {self.name}: seeds must be a non-empty list of distinct integers, got {self.seeds}")

    def derived(self) -> dict[str, list[str]]:
        return {c.name: c.mean_of for c in self.columns if c.mean_of}


def table_dir() -> Path:
    """ablations/tables of the repository (working directory first; see tcclip.paths)."""
    folder = paths.ablations_dir("tables")
    if folder is None:
        raise ConfigError(f"no ablations/tables folder in {Path.cwd()}; run from the repository checkout")
    return folder


def table_names(folder: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (folder or table_dir()).glob("*.yaml"))


def load_table(name: str, folder: Path | None = None) -> TableSpec:
    folder = folder or table_dir()
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown table {name!r}; valid: {', '.join(table_names(folder))}")
    data = load_yaml(path)
    data.setdefault("name", name)
    try:
        _check_axis(data)
        data["rows"] = [merge(data.get("row_defaults") or {}, row) for row in data.get("rows") or []]
        return from_dict(TableSpec, data, "")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def _check_axis(data: dict) -> None:
    """Every row names its own value of every axis key (before row_defaults fill anything in)."""
    for row in data.get("rows") or []:
        if not isinstance(row, dict) or row.get("off_axis"):
            continue
        missing = [key for key in data.get("axis") or [] if key not in (row.get("overrides") or {})]
        if missing:
            raise ConfigError(f"row {row.get('name')!r} does not state its value of the ablated axis "
                              f"{', '.join(missing)} (add it to the row's overrides, or mark the row off_axis: true)")
