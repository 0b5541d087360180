"""The generic config loader: dotted overrides as YAML scalars (numbers included)."""

import pytest

from tcclip.config import parse_overrides
from tcclip.errors import ConfigError


def test_overrides_nest_and_parse_yaml_scalars():
    got = parse_overrides(["a.b=3", "a.c=0.5", "d=true", "e=null", "f=[1, 2]", "g=name", "a.h="])
    assert got == {"a": {"b": 3, "c": 0.5, "h": None}, "d": True, "e": None, "f": [1, 2], "g": "name"}


@pytest.mark.parametrize("raw, value", [("1e-4", 1e-4), ("5E3", 5e3), ("-2e-1", -0.2), ("1.5e-6", 1.5e-6), (".5e2", 50.0)])
def test_exponent_numbers_are_numbers(raw, value):
    # YAML 1.1 (PyYAML) reads "1e-4" without a dot as a string; a command line means the number
    assert parse_overrides([f"train.lr={raw}"]) == {"train": {"lr": value}}


def test_quoted_exponent_stays_a_string():
    assert parse_overrides(['name="1e-4"']) == {"name": "1e-4"}


@pytest.mark.parametrize("item", ["novalue", "=3"])
def test_malformed_override_is_one_line(item):
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides([item])


def test_value_and_section_clash():
    with pytest.raises(ConfigError, match="set both as a value and as a section"):
        parse_overrides(["a=1", "a.b=2"])
