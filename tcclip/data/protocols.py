"""Evaluation protocols: which sets a model trains on and is evaluated on, and with what settings.

A protocol file (``ablations/protocols/<name>.yaml``) names datasets and splits by their
catalog names and carries the paper's training and test settings; an ``embedded:``
block overrides settings for the embedded scale (same file at both scales). Resolving it
against a catalog gives concrete ``Task``s: one per model to train, each with a
``train`` SplitSpec and named ``evals``.

Protocol kinds (the ``protocol`` key):

* ``zero_shot`` / ``fully_supervised``: ``train: {dataset, split}`` and
  ``eval: {dataset: [split, ...]}``; one task. Eval keys are "dataset/split".
* ``few_shot``: ``shots: [K...]`` and ``datasets: {name: {train: template with {shots},
  pool: split, eval: [split...]}}``; one task per (dataset, K). With
  ``kshot_source="generate"`` the K-shot list is drawn from the pool split with a seed
  (``tcclip.data.splits.k_shot``) instead of using the given list.
* ``base2novel``: ``subsets: [s1, s2, s3]`` and ``datasets: {name: {train: template with
  {subset}, base: split, novel: split}}``; one task per (dataset, subset), evals "base"
  and "novel".
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tcclip import paths
from tcclip.config import merge, read_yaml_file
from tcclip.data.annotations import read_annotation_list, write_annotation_list
from tcclip.data.catalog import Catalog, SplitSpec
from tcclip.data.errors import CatalogError
from tcclip.data.splits import k_shot

KINDS = ("zero_shot", "few_shot", "base2novel", "fully_supervised")
SETTING_SECTIONS = ("training", "testing", "data", "evaluation")


@dataclass(frozen=True)
class Task:
    """One model to train and the sets to evaluate it on."""

    protocol: str
    name: str  # e.g. "zero_shot", "few_shot/hmdb51/k2", "base2novel/ucf101/s1"
    params: dict[str, Any]  # {"dataset": ..., "shots": ..., "subset": ...} where they apply
    train: SplitSpec
    evals: dict[str, SplitSpec]
    settings: dict[str, Any] = field(default_factory=dict)  # training/testing/data/evaluation, scale resolved

    def to_dict(self) -> dict:
        return {
            "protocol": self.protocol,
            "name": self.name,
            "params": dict(self.params),
            "train": self.train.to_dict(),
            "evals": {key: spec.to_dict() for key, spec in self.evals.items()},
            "settings": copy.deepcopy(self.settings),
        }


def protocol_path(name_or_path: str | Path) -> Path:
    """A protocol file path, or a bare name looked up in ./ablations/protocols and the repo's."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if path.is_file():
            return path
        raise CatalogError(f"protocol file {path} not found")
    folder = paths.ablations_dir("protocols")
    if folder is None:
        raise CatalogError(f"protocol {name_or_path!r}: no ablations/protocols folder here; run from the repository "
                           "checkout or give the protocol as a YAML path")
    candidate = folder / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    raise CatalogError(f"protocol {name_or_path!r}: no {name_or_path}.yaml in {folder}; known: {', '.join(KINDS)}")


class Protocol:
    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data
        self.kind = data.get("protocol")
        if self.kind not in KINDS:
            raise CatalogError(f"{path}: protocol: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        self.name = self.kind
        embedded = data.get("embedded") or {}
        unknown = [key for key in embedded if key not in SETTING_SECTIONS]
        if unknown:
            raise CatalogError(f"{path}: embedded.{unknown[0]}: unknown section; valid: {', '.join(SETTING_SECTIONS)}")

    @classmethod
    def load(cls, name_or_path: str | Path) -> "Protocol":
        path = protocol_path(name_or_path)
        try:
            data = read_yaml_file(path) or {}
        except yaml.YAMLError as err:
            raise CatalogError(f"{path}: not valid YAML ({err})".replace("\n", " ")) from None
        if not isinstance(data, dict):
            raise CatalogError(f"{path}: expected a mapping at the top level")
        return cls(path, data)

    # -- settings ------------------------------------------------------------------------

    def settings(self, scale: str = "paper") -> dict[str, Any]:
        """training / testing / data / evaluation sections, with the embedded overrides merged."""
        if scale not in ("paper", "embedded"):
            raise CatalogError(f"scale {scale!r}: expected 'paper' or 'embedded'")
        out = {section: copy.deepcopy(self.data.get(section) or {}) for section in SETTING_SECTIONS}
        if scale == "embedded":
            for section, values in (self.data.get("embedded") or {}).items():
                out[section] = merge(out[section], values or {})
        return out

    def data_config(self, scale: str = "paper", mode: str = "train", **overrides):
        """The DataConfig of this protocol's train or test loader at ``scale``."""
        from tcclip.config import from_dict
        from tcclip.data.dataset import DataConfig

        settings = self.settings(scale)
        values = dict(settings["data"])
        if mode == "test":
            testing = settings["testing"]
            for key in ("num_clips", "num_crops", "view_sampling"):
                if key in testing:
                    values[key] = testing[key]
        values.update(mode=mode, **overrides)
        return from_dict(DataConfig, values, prefix="data")

    # -- tasks ---------------------------------------------------------------------------

    def tasks(
        self,
        catalog: Catalog,
        scale: str | None = None,
        datasets: list[str] | None = None,
        shots: list[int] | None = None,
        subsets: list[str] | None = None,
        kshot_source: str = "given",
        kshot_seed: int = 0,
        workdir: str | Path | None = None,
        strict: bool = True,
    ) -> list[Task]:
        """Every task of the protocol (optionally only some datasets / shots / subsets).

        scale defaults to the catalog's (the synthetic catalog says "embedded").
        kshot_source: "given" (the catalog's K-shot lists) or "generate" (drawn from the
        pool split with kshot_seed, written under workdir).
        """
        scale = scale or catalog.scale
        settings = self.settings(scale)
        resolve = {
            "zero_shot": self._single,
            "fully_supervised": self._single,
            "few_shot": self._few_shot,
            "base2novel": self._base2novel,
        }[self.kind]
        tasks = resolve(catalog, settings, datasets=datasets, shots=shots, subsets=subsets,
                        kshot_source=kshot_source, kshot_seed=kshot_seed, workdir=workdir, strict=strict)
        if not tasks:
            raise CatalogError(f"{self.path}: no task matches datasets={datasets} shots={shots} subsets={subsets}")
        return tasks

    def _single(self, catalog, settings, datasets, strict, **_):
        train = self._require(self.data, "train")
        evals = self._require(self.data, "eval")
        if datasets and train["dataset"] not in datasets:
            return []
        train_spec = catalog.split(train["dataset"], train["split"], strict=strict)
        eval_specs = {
            f"{dataset}/{split}": catalog.split(dataset, split, strict=strict)
            for dataset, splits in evals.items()
            for split in _as_list(splits)
        }
        params = {"dataset": train["dataset"]}
        return [Task(self.name, self.name, params, train_spec, eval_specs, settings)]

    def _few_shot(self, catalog, settings, datasets, shots, kshot_source, kshot_seed, workdir, strict, **_):
        if kshot_source not in ("given", "generate"):
            raise CatalogError(f"kshot_source {kshot_source!r}: expected 'given' or 'generate'")
        tasks = []
        for dataset, spec in self._require(self.data, "datasets").items():
            if datasets and dataset not in datasets:
                continue
            for k in shots or self._require(self.data, "shots"):
                if kshot_source == "given":
                    train = catalog.split(dataset, spec["train"].format(shots=k), strict=strict)
                else:
                    train = self._generated_k_shot(catalog, dataset, spec, k, kshot_seed, workdir, strict)
                evals = {f"{dataset}/{s}": catalog.split(dataset, s, strict=strict) for s in _as_list(spec["eval"])}
                params = {"dataset": dataset, "shots": int(k), "kshot_source": kshot_source}
                if kshot_source == "generate":
                    params["kshot_seed"] = int(kshot_seed)
                tasks.append(Task(self.name, f"{self.name}/{dataset}/k{k}", params, train, evals, settings))
        return tasks

    def _generated_k_shot(self, catalog, dataset, spec, k, seed, workdir, strict) -> SplitSpec:
        if workdir is None:
            raise CatalogError("kshot_source='generate' writes the K-shot lists somewhere: pass workdir")
        pool = catalog.split(dataset, self._require(spec, "pool", f"datasets.{dataset}"), strict=strict)
        entries = read_annotation_list(pool.annotation_list, pool.num_classes)
        chosen = k_shot(entries, int(k), int(seed), source=str(pool.annotation_list))
        out = Path(workdir) / "kshot" / f"{dataset}_{pool.split}_k{k}_seed{seed}.txt"
        write_annotation_list(out, chosen)
        return dataclasses.replace(pool, split=f"{pool.split}_k{k}_seed{seed}", annotation_list=out.resolve())

    def _base2novel(self, catalog, settings, datasets, subsets, strict, **_):
        tasks = []
        for dataset, spec in self._require(self.data, "datasets").items():
            if datasets and dataset not in datasets:
                continue
            for subset in subsets or self._require(self.data, "subsets"):
                train = catalog.split(dataset, spec["train"].format(subset=subset), strict=strict)
                evals = {
                    "base": catalog.split(dataset, spec["base"], strict=strict),
                    "novel": catalog.split(dataset, spec["novel"], strict=strict),
                }
                if train.class_names != evals["base"].class_names:
                    raise CatalogError(f"{catalog.path}: {train.key} and {evals['base'].key} must share the base label file")
                params = {"dataset": dataset, "subset": subset}
                tasks.append(Task(self.name, f"{self.name}/{dataset}/{subset}", params, train, evals, settings))
        return tasks

    def _require(self, mapping: dict, key: str, where: str = ""):
        if key not in mapping or mapping[key] in (None, "", [], {}):
            prefix = f"{where}." if where else ""
            raise CatalogError(f"{self.path}: {prefix}{key}: required for protocol {self.kind}")
        return mapping[key]


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def load_protocol(name_or_path: str | Path) -> Protocol:
    return Protocol.load(name_or_path)


def resolve_protocol(name_or_path: str | Path, catalog: Catalog | str | Path, **kwargs) -> list[Task]:
    """Shortcut: ``resolve_protocol("zero_shot", "OUT/catalog.yaml")`` -> tasks."""
    if not isinstance(catalog, Catalog):
        catalog = Catalog.load(catalog)
    return Protocol.load(name_or_path).tasks(catalog, **kwargs)
