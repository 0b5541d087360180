"""workflow/schemas/config.schema.yaml against the dataclass the workflow loads the config into
(tcclip.suite.plan.WorkflowConfig): the same keys both ways, every key described, and the
schema's defaults (which Snakemake's validate() fills in) the dataclass's own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from tcclip.suite.plan import WorkflowConfig, load_workflow_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
FIELDS = {f.name: f for f in dataclasses.fields(WorkflowConfig)}
# Keys whose entries are the user's own mapping (tasks: {name: restriction}): a default in
# an entry's schema would be filled into every entry that leaves the key out.
USER_MAPPINGS = {"tasks"}


def dataclass_default(name: str):
    field = FIELDS[name]
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


def test_schema_and_dataclass_have_the_same_keys():
    assert set(SCHEMA["properties"]) == set(FIELDS), (
        f"only in the schema: {sorted(set(SCHEMA['properties']) - set(FIELDS))}; "
        f"only in WorkflowConfig: {sorted(set(FIELDS) - set(SCHEMA['properties']))}")
    assert SCHEMA["additionalProperties"] is False  # a key of neither is an error, not ignored


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_every_key_has_a_description_and_the_dataclass_default(name):
    spec = SCHEMA["properties"][name]
    assert spec.get("description"), f"{name}: no description"
    assert "default" in spec, f"{name}: no default"
    assert spec["default"] == dataclass_default(name), f"{name}: schema {spec['default']!r}"


@pytest.mark.parametrize("name", [n for n, s in SCHEMA["properties"].items() if s.get("type") == "object"])
def test_nested_keys_are_described_and_their_defaults_agree(name):
    spec = SCHEMA["properties"][name]
    for key, sub in spec.get("properties", {}).items():
        assert sub.get("description"), f"{name}.{key}: no description"
        if key in spec["default"]:  # e.g. synthetic: {out, seed, size}
            assert sub.get("default") == spec["default"][key], f"{name}.{key}"
        elif key not in spec.get("required", []):
            assert "default" in sub, f"{name}.{key}: optional without a default"
    entries = spec.get("additionalProperties")
    if isinstance(entries, dict) and entries.get("type") == "object":
        assert name in USER_MAPPINGS
        for key, sub in entries["properties"].items():
            assert sub.get("description") and "default" not in sub, f"{name}.<entry>.{key}"


def test_the_schema_defaults_load_as_the_dataclass_defaults():
    """What validate() fills in for a config that gives only the required keys."""
    config = {key: spec["default"] for key, spec in SCHEMA["properties"].items()}
    assert load_workflow_config(config) == WorkflowConfig(**{k: dataclass_default(k) for k in FIELDS})


def test_snakemake_validate_fills_in_the_defaults():
    from snakemake.utils import validate

    config = {"scale": "paper", "run_config": "paper", "catalog": "real", "backbone": {"arch": "a", "weights": "w"}}
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    wf = load_workflow_config(config)
    assert (wf.runs_dir, wf.seeds, wf.tasks, wf.gpus) == ("results/runs", None, {}, 0)
    assert wf.backbone == {"arch": "a", "weights": "w", "pretrain": False, "pretrain_overrides": []}


@pytest.mark.parametrize("name", ["synthetic", "smoke", "paper"])
def test_each_shipped_config_validates(name):
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / "workflow" / "config" / f"{name}.yaml").read_text())
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
