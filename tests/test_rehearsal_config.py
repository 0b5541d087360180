"""workflow/config/rehearsal.yaml is paper.yaml with only sizes, paths and seeds changed: the
workflow config key by key, and every planned run's resolved config field by field, so that
the rehearsal cannot drift from the paper configuration it rehearses."""

from __future__ import annotations

from pathlib import Path

import yaml

from tcclip.config import to_dict
from tcclip.engine.run_config import resolve_run_config, run_config_path
from tcclip.suite.plan import load_workflow_config, plan_table

ROOT = Path(__file__).resolve().parents[1]
PAPER = yaml.safe_load((ROOT / "workflow/config/paper.yaml").read_text())
REHEARSAL = yaml.safe_load((ROOT / "workflow/config/rehearsal.yaml").read_text())
OUT = "results/rehearsal/"  # git-ignored: nothing the rehearsal writes mixes with the embedded results

# Workflow-config keys the rehearsal may change: where things are, which tables and seeds, the
# sizes (overrides, processes per training).
PATHS = {"catalog", "roots", "lists", "runs_dir", "tables_dir", "figures_dir"}
SELECTION = {"tables", "seeds"}
SIZES = {"overrides", "gpus"}
# Run-config fields the rehearsal's overrides may change: sizes only.
SIZE_FIELDS = {"data.num_frames", "data.num_clips", "train.epochs", "train.warmup_epochs", "train.total_batch",
               "train.batch_size", "train.workers", "eval.batch_size", "eval.workers"}


def flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        out.update(flatten(value, f"{name}.") if isinstance(value, dict) and value else {name: value})
    return out


def test_same_keys_and_only_sizes_paths_and_seeds_differ():
    assert set(REHEARSAL) == set(PAPER)
    changed = {key for key in PAPER if PAPER[key] != REHEARSAL[key]}
    assert changed <= PATHS | SELECTION | SIZES | {"backbone"}, changed - PATHS - SELECTION - SIZES
    assert {k: v for k, v in REHEARSAL["backbone"].items() if k != "weights"} == {
        k: v for k, v in PAPER["backbone"].items() if k != "weights"}


def test_paths_stay_in_the_rehearsal_folder():
    paths = [REHEARSAL["catalog"], REHEARSAL["backbone"]["weights"], *REHEARSAL["roots"].values(), *REHEARSAL["lists"].values(),
             REHEARSAL["runs_dir"], REHEARSAL["tables_dir"], REHEARSAL["figures_dir"]]
    assert all(p.startswith(OUT) for p in paths), [p for p in paths if not p.startswith(OUT)]
    assert OUT in (ROOT / ".gitignore").read_text().split()


def test_selection_and_launch_are_the_papers():
    assert set(REHEARSAL["tables"]) <= set(PAPER["tables"])
    assert REHEARSAL["gpus"] > 1  # each training a torchrun DDP job, as on GPUs
    keys = {item.partition("=")[0] for item in REHEARSAL["overrides"]}
    assert keys <= SIZE_FIELDS, keys - SIZE_FIELDS


def test_every_run_resolves_to_the_papers_config_but_for_sizes_and_paths():
    paper = load_workflow_config({**PAPER, "roots": REHEARSAL["roots"], "lists": REHEARSAL["lists"]})
    assert PAPER["catalog"] == "real"
    rehearsal = load_workflow_config(REHEARSAL)
    base = run_config_path(rehearsal.run_config)
    for table in rehearsal.tables:
        ours = {(r.row, r.seed): r for r in plan_table(table, rehearsal)}
        theirs = {(r.row, r.seed): r for r in plan_table(table, paper) if r.seed in rehearsal.seeds}
        assert ours.keys() == theirs.keys()
        for key, run in ours.items():
            mine = flatten(to_dict(resolve_run_config([base], list(run.overrides))))
            paper_cfg = flatten(to_dict(resolve_run_config([base], list(theirs[key].overrides))))
            differ = {k for k in mine.keys() | paper_cfg.keys() if mine.get(k) != paper_cfg.get(k)}
            allowed = SIZE_FIELDS | {"output", "model.backbone.weights", "protocol.catalog"}
            assert differ <= allowed, f"{table}, {key}: {sorted(differ - allowed)}"
            assert mine["model.backbone.arch"] == "ViT-B-16-quickgelu" and mine["data.input_size"] == 224
            assert mine["train.amp"] is True and mine["scale"] == "paper"


def test_the_rehearsal_catalog_is_the_packaged_one_with_its_files_cut(tmp_path):
    """make_data.py copies the real catalog byte for byte and cuts the files it names: label files
    to their first classes, split lists to the first entry of each of their first labels."""
    import importlib.util

    from tcclip import paths
    from tcclip.data.catalog import Catalog

    spec = importlib.util.spec_from_file_location("make_data", ROOT / "workflow/rehearsal/make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    make_data.render_videos = lambda root, rels: 0  # no videos: the lists and labels are what is tested
    make_data.cut_catalog(Catalog.load(paths.REAL_CATALOG, roots={"hmdb51": str(tmp_path / "hmdb51")}), ["hmdb51"],
                          tmp_path)
    labels = (tmp_path / "labels/hmdb_51_labels.csv").read_text().splitlines()
    assert labels == (paths.LABELS / "hmdb_51_labels.csv").read_text().splitlines()[: make_data.LABELS + 1]
    shipped = (paths.SPLITS / "hmdb_splits/val1.txt").read_text().splitlines()
    cut = (tmp_path / "splits/hmdb_splits/val1.txt").read_text().splitlines()
    assert cut == [next(line for line in shipped if line.endswith(f" {label}")) for label in range(make_data.CLASSES)]
    assert not (tmp_path / "splits/ssv2_splits").exists()  # lists of datasets without a root stay uncut and absent
