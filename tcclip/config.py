"""Typed configuration: dataclasses filled from YAML plus dotted ``key=value`` overrides.

Unknown keys are rejected with the valid ones listed, values are checked against the
field types, and every error names the dotted key. A config hashes to a short id
(``config_hash``) so that a run is named by what it computes.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tcclip.errors import ConfigError

C = TypeVar("C")


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same result, ~10x faster


def read_yaml_file(path: str | Path) -> Any:
    """A YAML file's content (a fresh copy each call). Parsed once per version of the file:
    planning every table resolves the same few protocol and preset files thousands of times."""
    path = Path(path)
    stat = path.stat()
    return copy.deepcopy(_parse_yaml(str(path.resolve()), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=256)
def _parse_yaml(path: str, mtime_ns: int, size: int) -> Any:
    return yaml.load(Path(path).read_text(), Loader=_YAML_LOADER)


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = read_yaml_file(path) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge; ``update`` wins, nested mappings merge key by key."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


_EXPONENT_FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)[eE][+-]?\d+$")


def parse_overrides(overrides: list[str]) -> dict:
    """['model.vision.num_context=16', ...] -> nested dict; values parsed as YAML scalars."""
    nested: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. model.vision.num_context=16")
        value = yaml.safe_load(raw) if raw != "" else None
        if isinstance(value, str) and _EXPONENT_FLOAT.match(raw.strip()):
            value = float(value)  # YAML 1.1 reads '1e-4' (no dot) as a string; on a command line it is a number
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is set both as a value and as a section")
        node[parts[-1]] = value
    return nested


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, key: str) -> Any:
    """Check (and lightly coerce: int -> float) a value against a field type."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, tp, key)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{key}: expected one of {list(typing.get_args(tp))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {sorted(f.name for f in dataclasses.fields(tp))}, got {value!r}")
        return from_dict(tp, value, key)
    if origin in (list, tuple) or origin is dict or tp is dict:
        return _coerce_container(value, tp, key)
    return _coerce_scalar(value, tp, key)


def _coerce_union(value: Any, tp, key: str) -> Any:
    """The first option of ``Optional[...]`` / ``A | B`` the value passes (None where allowed)."""
    options = typing.get_args(tp)
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return _coerce(value, option, key)
        except ConfigError:
            pass
    raise ConfigError(f"{key}: expected {' or '.join(_type_name(o) for o in options)}, got {value!r}")


def _coerce_container(value: Any, tp, key: str) -> Any:
    """A list (from a list or tuple) or a dict, items checked against the type's arguments."""
    if typing.get_origin(tp) in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_type, *_) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    args = typing.get_args(tp)
    if args:
        return {k: _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    return dict(value)


def _coerce_scalar(value: Any, tp, key: str) -> Any:
    """float (from an int too), int, bool, str; bool is never taken for a number. Other types pass."""
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[C], data: dict, prefix: str = "") -> C:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"unknown key {key!r}; valid keys{' of ' + prefix if prefix else ''}: {', '.join(fields)}")
    values = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        values[name] = _coerce(value, hints[name], key)
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


def config_hash(obj, length: int = 12) -> str:
    """Short stable id of a config (dataclass or dict): same content, same id."""
    data = to_dict(obj) if dataclasses.is_dataclass(obj) else obj
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def load_config(cls: type[C], sources: list[str | Path | dict], overrides: list[str] | None = None) -> C:
    """Merge YAML files / dicts in order, then dotted overrides, into ``cls``."""
    data: dict = {}
    for source in sources:
        data = merge(data, source if isinstance(source, dict) else load_yaml(source))
    if overrides:
        data = merge(data, parse_overrides(overrides))
    return from_dict(cls, data)
