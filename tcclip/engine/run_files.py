"""The names of the files in a run folder, in one place.

A run folder (``results/runs/<run id>/``) holds what its training and evaluations wrote;
the plan (which files a table reads), the Snakemake rules (which files a job declares),
the evaluation (which files it writes) and the report (which files it gathers) all take
the names from here, so they cannot drift apart. No heavy imports: the plan and the
Snakefile read this module.

    config.yaml                       the resolved run configuration
    inputs.json                       fingerprints of the training inputs (tcclip.data.fingerprint)
    train.json                        written last by a finished training: its completion marker
    checkpoints/last.pt, best.pt
    metrics.json                      the fine-tuned model's evaluation
    metrics_wiseft0.7.json            a WiSE-FT ensemble's (ratio 0.7)
    metrics_data.view_sampling=deterministic.json   an evaluation with other settings
    predictions*.csv.gz               the per-video lines beside each metrics file
"""

from __future__ import annotations

import re
from pathlib import Path

from tcclip.config import config_hash

CONFIG = "config.yaml"
INPUTS = "inputs.json"
TRAINED = "train.json"


def metrics_filename(wiseft: float | None = None, changed: dict | None = None) -> str:
    """metrics.json / metrics_wiseft<R>.json; an evaluation whose settings differ from the run's
    config.yaml (``changed``: {"data.view_sampling": "deterministic"}) is named after them,
    e.g. metrics_data.view_sampling=deterministic.json, and never replaces the run's own."""
    stem = "metrics" if wiseft is None else f"metrics_wiseft{wiseft:g}"
    if not changed:
        return f"{stem}.json"
    slug = re.sub(r"[^A-Za-z0-9._=,-]", "-", ",".join(f"{key}={value}" for key, value in sorted(changed.items())))
    if len(slug) > 100:
        slug = "overrides-" + config_hash(changed)
    return f"{stem}_{slug}.json"


def predictions_path(metrics_path: str | Path) -> Path:
    """metrics.json -> predictions.csv.gz; metrics_wiseft0.7.json -> predictions_wiseft0.7.csv.gz;
    any other name.json -> name.predictions.csv.gz (an explicit ``tcclip evaluate --out``)."""
    path = Path(metrics_path)
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    if stem.startswith("metrics"):
        return path.with_name("predictions" + stem[len("metrics"):] + ".csv.gz")
    return path.with_name(stem + ".predictions.csv.gz")
