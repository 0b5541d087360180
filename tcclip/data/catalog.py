"""Dataset catalogs: where each dataset's videos, annotation lists and label files are.

A catalog is a YAML file::

    name: real                      # or "synthetic"
    scale: paper                    # the scale whose protocol settings apply: paper | embedded
    datasets:
      hmdb51:
        title: HMDB-51
        root: null                  # folder the list paths are relative to (user-given for real data)
        labels: labels/hmdb_51_labels.csv     # default label file of the dataset's splits
        rephrased: null             # optional LLM-rephrased names {"id": "Name: description"}
        hflip: true                 # may training flip clips horizontally?
        camel_case_names: false     # UCF-101: split "ApplyEyeMakeup" into words for prompts
        splits:
          val1: splits/hmdb_splits/val1.txt            # a list path, or a mapping:
          b2n_novel_val: {list: ..., labels: ..., rephrased: ..., note: ...}

Relative paths are relative to the catalog file's folder. Two catalogs exist: the real
datasets' (shipped in the package, ``tcclip/resources/datasets_real.yaml``, lists and label
files shipped too, roots given by the user) and the synthetic benchmark's (written by
``tcclip synth`` as ``OUT/catalog.yaml``). Both use the same dataset and split names, so
one protocol file serves both scales.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tcclip import paths
from tcclip.config import merge, read_yaml_file
from tcclip.data.annotations import load_class_names, split_camel_case
from tcclip.data.errors import CatalogError

RESOURCES = paths.RESOURCES
PACKAGED_CATALOGS = {"real": paths.REAL_CATALOG}


@dataclass(frozen=True)
class SplitSpec:
    """One concrete set of videos: what a protocol's train or eval entry resolves to."""

    dataset: str
    split: str
    annotation_list: Path
    video_root: Path | None  # None only when resolved with strict=False and no root is set
    label_file: Path
    class_names: tuple[str, ...]  # as in the label file, ordered by id
    rephrased_file: Path | None = None
    hflip: bool = True
    camel_case_names: bool = False

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.split}"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def prompt_names(self, style: str = "plain") -> list[str]:
        """Class names for text prompts: "plain" (CamelCase split where the dataset needs it)
        or "rephrased" (the LLM descriptions, "Name: description")."""
        if style == "plain":
            return [split_camel_case(n) if self.camel_case_names else n for n in self.class_names]
        if style == "rephrased":
            if self.rephrased_file is None:
                raise CatalogError(
                    f"{self.key}: no rephrased class names in the catalog (set datasets.{self.dataset}.rephrased "
                    "or the split's 'rephrased' to a JSON {\"id\": \"Name: description\"})"
                )
            names = load_class_names(self.rephrased_file)
            if len(names) != self.num_classes:
                raise CatalogError(
                    f"{self.rephrased_file}: {len(names)} rephrased names, but {self.label_file} has {self.num_classes} classes"
                )
            return names
        raise CatalogError(f"class-name style {style!r}: expected 'plain' or 'rephrased'")

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "annotation_list": str(self.annotation_list),
            "video_root": None if self.video_root is None else str(self.video_root),
            "label_file": str(self.label_file),
            "num_classes": self.num_classes,
            "rephrased_file": None if self.rephrased_file is None else str(self.rephrased_file),
            "hflip": self.hflip,
        }


class Catalog:
    def __init__(self, path: Path, data: dict):
        self.path = path
        self.base = path.parent
        self.name = str(data.get("name", path.stem))
        self.scale = str(data.get("scale", "paper"))
        if self.scale not in ("paper", "embedded"):
            raise CatalogError(f"{path}: scale {self.scale!r}: expected 'paper' or 'embedded'")
        datasets = data.get("datasets")
        if not isinstance(datasets, dict) or not datasets:
            raise CatalogError(f"{path}: expected a non-empty mapping 'datasets'")
        self.datasets: dict[str, dict] = datasets

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path_or_name: str | Path,
        roots: dict[str, str | Path] | None = None,
        lists: dict[str, str | Path] | None = None,
        overrides: dict | None = None,
    ) -> "Catalog":
        """Load a catalog file (or a packaged one by name: "real").

        roots:     {dataset: video folder} (fills ``root``)
        lists:     {"dataset/split": annotation list} (e.g. {"k400/train": "k400_train.txt"})
        overrides: nested mapping merged into the file's content (e.g. rephrased files)
        Paths given here are used as they are (relative to the working directory).
        """
        path = Path(PACKAGED_CATALOGS.get(str(path_or_name), path_or_name))
        if not path.is_file():
            known = ", ".join(PACKAGED_CATALOGS)
            raise CatalogError(f"catalog {path_or_name}: file not found (give a catalog YAML path or one of: {known})")
        try:
            data = read_yaml_file(path) or {}
        except yaml.YAMLError as err:
            raise CatalogError(f"{path}: not valid YAML ({err})".replace("\n", " ")) from None
        catalog = cls(path, data)
        if overrides:
            catalog.datasets = merge(catalog.datasets, overrides.get("datasets", overrides))
        for dataset, root in (roots or {}).items():
            catalog._dataset(dataset)["root"] = str(Path(root).resolve())
        for key, list_path in (lists or {}).items():
            dataset, _, split = key.partition("/")
            if not split:
                raise CatalogError(f"list override {key!r}: expected 'dataset/split'")
            splits = catalog._dataset(dataset).setdefault("splits", {})
            entry = splits.get(split)
            entry = dict(entry) if isinstance(entry, dict) else {}
            entry["list"] = str(Path(list_path).resolve())
            splits[split] = entry
        return catalog

    # -- queries -------------------------------------------------------------------------

    def dataset_names(self) -> list[str]:
        return list(self.datasets)

    def split_names(self, dataset: str) -> list[str]:
        return list(self._dataset(dataset).get("splits") or {})

    def has_split(self, dataset: str, split: str) -> bool:
        return dataset in self.datasets and split in (self.datasets[dataset].get("splits") or {})

    def split(self, dataset: str, split: str, strict: bool = True) -> SplitSpec:
        """Resolve ``dataset/split``; every missing piece is a one-line CatalogError.

        strict=False allows a dataset without a video root (video_root=None), e.g. to plan a
        workflow before the videos are in place; lists and label files must still exist.
        """
        info = self._dataset(dataset)
        entry = self._split_entry(dataset, split)
        where = f"{self.path}: datasets.{dataset}.splits.{split}"
        annotation_list = self._file(entry["list"], f"{where}.list")
        label_file = self._file(entry.get("labels") or info.get("labels"), f"{where}.labels (or datasets.{dataset}.labels)")
        rephrased = entry.get("rephrased", info.get("rephrased") if "labels" not in entry else None)
        rephrased_file = self._file(rephrased, f"{where}.rephrased") if rephrased else None
        return SplitSpec(
            dataset=dataset,
            split=split,
            annotation_list=annotation_list,
            video_root=self._video_root(dataset, strict),
            label_file=label_file,
            class_names=tuple(load_class_names(label_file)),
            rephrased_file=rephrased_file,
            hflip=bool(info.get("hflip", True)),
            camel_case_names=bool(info.get("camel_case_names", False)),
        )

    def _split_entry(self, dataset: str, split: str) -> dict:
        """A split's catalog entry as a mapping (a bare list path is ``{"list": path}``); it must name a list."""
        splits = self._dataset(dataset).get("splits") or {}
        if split not in splits:
            raise CatalogError(
                f"{self.path}: dataset {dataset!r} has no split {split!r}; known: {', '.join(splits) or 'none'}"
            )
        entry = splits[split]
        entry = {"list": entry} if not isinstance(entry, dict) else entry
        if not entry.get("list"):
            note = f" ({entry['note']})" if entry.get("note") else ""
            raise CatalogError(
                f"{self.path}: datasets.{dataset}.splits.{split}: no annotation list{note}; give it as "
                f"lists={{'{dataset}/{split}': FILE}} (CLI --list {dataset}/{split}=FILE, workflow config data.lists)"
            )
        return entry

    def _video_root(self, dataset: str, strict: bool) -> Path | None:
        """The dataset's video folder; None without one unless ``strict``."""
        root = self._dataset(dataset).get("root")
        if root:
            video_root = self._resolve(root)
            if strict and not video_root.is_dir():
                raise CatalogError(f"{self.path}: datasets.{dataset}.root: folder {video_root} not found")
            return video_root
        if strict:
            raise CatalogError(
                f"{self.path}: dataset {dataset!r} has no video root; set it (roots={{'{dataset}': DIR}}, "
                f"CLI --root-of {dataset}=DIR, workflow config data.roots.{dataset})"
            )
        return None

    # -- helpers -------------------------------------------------------------------------

    def _dataset(self, name: str) -> dict:
        if name not in self.datasets:
            raise CatalogError(f"{self.path}: no dataset {name!r}; known: {', '.join(self.datasets)}")
        info = self.datasets[name]
        if not isinstance(info, dict):
            raise CatalogError(f"{self.path}: datasets.{name}: expected a mapping")
        return info

    def _resolve(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base / path).resolve()

    def _file(self, value, where: str) -> Path:
        if not value:
            raise CatalogError(f"{where}: not set")
        path = self._resolve(value)
        if not path.is_file():
            raise CatalogError(f"{where}: file {path} not found")
        return path


def resolve_label_file(value: str | Path) -> Path:
    """A label file path, or the name of a shipped one: "kinetics_400" -> resources/labels/kinetics_400_labels.csv."""
    path = Path(value)
    if path.is_file():
        return path
    for candidate in (RESOURCES / "labels" / f"{value}_labels.csv", RESOURCES / "labels" / f"{value}.csv",
                      RESOURCES / "labels" / str(value)):
        if candidate.is_file():
            return candidate
    shipped = sorted(p.stem.removesuffix("_labels") for p in (RESOURCES / "labels").glob("*.csv"))
    raise CatalogError(f"label file {value}: not found (a path, or a shipped one: {', '.join(shipped)})")


def load_catalog(path_or_name: str | Path, **kwargs) -> Catalog:
    return Catalog.load(path_or_name, **kwargs)
