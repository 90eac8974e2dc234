"""Typed YAML configs: dataclass defaults < YAML file < ``key=value`` overrides, checked before any work.

Every config of the project (training runs, evaluation suites and benchmarks, comparisons) is a dataclass whose
fields carry their types and docstrings. :func:`build` turns a mapping into one and rejects an unknown key, a
missing required key or a value of the wrong type with the dotted key's name (``optim.lr: expected float, got
'fast'``), so a typo fails in the first second rather than after an hour of work.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml


class ConfigError(ValueError):
    """A config key is unknown or its value has the wrong type; the message names the dotted key."""


T = TypeVar("T")


def _check_value(key: str, value: Any, tp: Any) -> Any:
    """Return ``value`` checked against the annotation ``tp`` (ints accepted as floats), else raise."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(c) for c in typing.get_args(tp))
            raise ConfigError(f"{key}: expected one of {choices}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return _check_value(key, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {tp}, got {value!r}")
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_check_value(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a section (mapping), got {value!r}")
        return build(tp, value, key + ".")  # type: ignore[arg-type]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (tp in (int, float) and isinstance(value, bool)) or not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def missing_keys(cls: type, data: dict[str, Any]) -> list[str]:
    """The fields of dataclass ``cls`` that have no default and are absent from ``data``."""
    return [f.name for f in dataclasses.fields(cls) if f.name not in data
            and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def build(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """``cls(**data)`` with every key checked: unknown, missing or mistyped keys raise :class:`ConfigError`."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise ConfigError(f"unknown config key '{prefix}{key}'; known: {', '.join(sorted(names))}")
    missing = missing_keys(cls, data)
    if missing:
        raise ConfigError(f"missing config key{'s' if len(missing) > 1 else ''} "
                          + ", ".join(f"'{prefix}{name}'" for name in missing))
    return cls(**{k: _check_value(prefix + k, v, hints[k]) for k, v in data.items()})


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "args" else v
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``optim.lr=0.01`` -> ``{"optim": {"lr": 0.01}}`` (the value is parsed as YAML: numbers, lists, null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r}: expected key=value")
    value = yaml.safe_load(raw) if raw.strip() else ""
    node: dict[str, Any] = {}
    cursor = node
    parts = key.strip().split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return node


def resolve_path(value: str, base: str | Path) -> str:
    """``value`` as given when absolute or present under the working directory, else under ``base`` if it is there.

    Configs name files from the repository root (``../shared/data/manifest.csv``) or beside themselves; the
    first that exists wins, and a path found in neither is returned unchanged for the caller to report.
    """
    if not value or Path(value).is_absolute() or Path(value).exists():
        return value
    beside = Path(base) / value
    return str(beside) if beside.exists() else value


def read_mapping(path: str | Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable config ({exc})") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return loaded


def build_file(cls: type[T], path: str | Path) -> T:
    """:func:`build` on the YAML mapping in ``path``; every error names the file as well as the key."""
    data = read_mapping(path)
    try:
        return build(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_layers(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The mapping of an optional YAML file with ``key=value`` overrides merged on top (defaults come from the
    dataclass that :func:`build` fills)."""
    data: dict[str, Any] = read_mapping(path) if path is not None else {}
    for text in overrides:
        data = merge(data, parse_override(text))
    return data


def save_yaml(data: dict[str, Any], path: str | Path) -> Path:
    """Write a resolved config as YAML (readable back through :func:`load_layers`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


__all__ = ["ConfigError", "build", "build_file", "load_layers", "merge", "missing_keys", "parse_override",
           "read_mapping", "resolve_path", "save_yaml"]
