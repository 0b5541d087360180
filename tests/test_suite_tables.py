"""Table specs show what they ablate: an axis every row spells out, shared settings written once."""

from __future__ import annotations

import pytest
import yaml

from tcclip.errors import ConfigError
from tcclip.suite.tables import load_table, table_names

COLUMNS = [{"name": "hmdb51", "dataset": "hmdb51"}]


def _write(folder, **spec) -> None:
    (folder / "t.yaml").write_text(yaml.safe_dump({"title": "t", "protocol": "zero_shot", "columns": COLUMNS, **spec}))


def test_row_defaults_merge_under_every_row_key_by_key(tmp_path):
    _write(tmp_path, axis=["model.vision.summarization"],
           row_defaults={"preset": "tc_clip", "overrides": {"model.text.prompt": "handcrafted"}},
           rows=[{"name": "K-means", "overrides": {"model.vision.summarization": "kmeans"}},
                 {"name": "Learnable", "overrides": {"model.vision.summarization": "bipartite",
                                                    "model.text.prompt": "learnable"}},
                 {"name": "Frame-wise", "preset": "vifi_clip", "off_axis": True}])
    rows = {row.name: row for row in load_table("t", tmp_path).rows}
    assert rows["K-means"].preset == "tc_clip"
    assert rows["K-means"].overrides == {"model.text.prompt": "handcrafted", "model.vision.summarization": "kmeans"}
    assert rows["Learnable"].overrides["model.text.prompt"] == "learnable"  # the row wins
    assert rows["Frame-wise"].preset == "vifi_clip"


def test_a_row_that_leaves_the_axis_to_the_default_is_refused(tmp_path):
    _write(tmp_path, axis=["model.vision.summarization"],
           row_defaults={"overrides": {"model.vision.summarization": "bipartite"}},
           rows=[{"name": "Bipartite"}])  # the value comes from row_defaults only: hidden from the reader
    with pytest.raises(ConfigError, match=r"t\.yaml: row 'Bipartite' does not state its value of the ablated axis "
                                          r"model\.vision\.summarization"):
        load_table("t", tmp_path)


def test_every_shipped_ablation_table_names_its_axis():
    for name in table_names():
        spec = load_table(name)
        if spec.baseline is not None and spec.protocol != "base2novel" and name not in ("zero_shot", "few_shot"):
            assert spec.axis, f"{name}: an ablation table without an axis"


def test_the_run_index_maps_every_table_entry_to_its_run_folder(tmp_path):
    import csv
    from pathlib import Path

    from tcclip.suite.plan import INDEX_COLUMNS, load_workflow_config, plan, write_run_index

    config = Path(__file__).resolve().parents[1] / "workflow" / "config" / "synthetic.yaml"
    wf = load_workflow_config(yaml.safe_load(config.read_text()))
    plans = plan(["zero_shot"], wf)
    with write_run_index(plans, wf.runs_dir, tmp_path / "index.csv").open() as handle:
        lines = list(csv.DictReader(handle))
    assert list(lines[0]) == INDEX_COLUMNS and len(lines) == len(plans["zero_shot"])
    by_row = {}
    for line in lines:
        by_row.setdefault(line["row"], []).append(line)
    # the WiSE-FT row reads another metrics file of the very runs of its fine-tuned row
    assert {l["run_id"] for l in by_row["ViFi-CLIP + WiSE-FT"]} == {l["run_id"] for l in by_row["ViFi-CLIP"]}
    assert {l["metrics_file"] for l in by_row["ViFi-CLIP + WiSE-FT"]} == {"metrics_wiseft0.7.json"}
    assert all(l["run_dir"] == f"{wf.runs_dir}/{l['run_id']}" for l in lines)


def test_table_overrides_apply_to_that_table_only_and_a_workflow_override_wins():
    """workflow.table_overrides: one table's runs get its key=value after the row's own, other
    tables' runs do not, and the workflow-wide overrides (a smoke run's train.epochs=1) come last."""
    from tcclip.suite.plan import load_workflow_config, plan

    base = {"catalog": "data/synthetic/catalog.yaml", "tasks": {"temporal_modeling_ssv2": {"shots": [16]}},
            "table_overrides": {"temporal_modeling_ssv2": ["train.epochs=30"]}}
    plans = plan(["temporal_modeling_ssv2", "temporal_modeling"], load_workflow_config(base))
    assert all("train.epochs=30" in run.overrides for run in plans["temporal_modeling_ssv2"])
    assert not any("train.epochs=30" in run.overrides for run in plans["temporal_modeling"])
    smoke = plan(["temporal_modeling_ssv2"], load_workflow_config({**base, "overrides": ["train.epochs=1"]}))
    for run in smoke["temporal_modeling_ssv2"]:
        assert run.overrides.index("train.epochs=30") < run.overrides.index("train.epochs=1")
    ids = {run.run_id for run in plans["temporal_modeling_ssv2"]} & {run.run_id for run in smoke["temporal_modeling_ssv2"]}
    assert not ids  # the number of epochs is part of a run's identity
    with pytest.raises(ConfigError, match=r"workflow.table_overrides: unknown tables \['nope'\]"):
        load_workflow_config({**base, "table_overrides": {"nope": ["train.epochs=2"]}})
