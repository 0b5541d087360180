"""Every resource location of the package, in one place.

Two kinds of location:

* shipped with the package (``tcclip/resources``): label files, split lists, model
  presets, tiny-CLIP configs, run configs, the real-data catalog. They travel with
  ``pip install .``.
* of the repository (``ablations/``, ``workflow/``): the experiment plan a user edits.
  They are looked up in the working directory first (a checkout, or a copy of those
  folders), then beside the package source (an editable install); a non-editable
  install run outside a checkout has neither, and the caller says so in one line.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
RESOURCES = PACKAGE / "resources"
LABELS = RESOURCES / "labels"
SPLITS = RESOURCES / "splits"
PRESETS = RESOURCES / "presets"
MODEL_CONFIGS = RESOURCES / "model_configs"
RUN_CONFIGS = RESOURCES / "runs"
REAL_CATALOG = RESOURCES / "datasets_real.yaml"


def repo_dir(*parts: str) -> Path | None:
    """A folder of the repository (e.g. ``repo_dir("ablations", "tables")``): the one under
    the working directory if it exists, else the one beside an editable install's source,
    else None."""
    for root in (Path.cwd(), PACKAGE.parent):
        candidate = root.joinpath(*parts)
        if candidate.is_dir():
            return candidate
    return None


def ablations_dir(kind: str) -> Path | None:
    """``ablations/tables`` or ``ablations/protocols`` of the repository (see repo_dir)."""
    return repo_dir("ablations", kind)
