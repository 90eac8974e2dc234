"""The typed YAML loader every config shares (:mod:`sentry_image.config`): checked keys and types named by their
dotted key, layered files and overrides, paths resolved from the working directory or beside the file.

The shipped files under ``configs/`` are checked by ``test_configs.py``; the training run's sections by
``tests/train/test_config.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from sentry_image.config import (
    ConfigError,
    build,
    build_file,
    load_layers,
    merge,
    parse_override,
    read_mapping,
    resolve_path,
    save_yaml,
)

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


@dataclass
class Inner:
    rate: float = 0.5
    mode: Literal["fast", "slow"] = "fast"


@dataclass
class Outer:
    name: str
    sizes: list[int] = field(default_factory=list)
    limit: int | None = None
    inner: Inner = field(default_factory=Inner)
    args: dict[str, int] = field(default_factory=dict)


def test_build_checks_every_key_and_type() -> None:
    cfg = build(Outer, {"name": "a", "sizes": [1, 2], "limit": None, "inner": {"rate": 1, "mode": "slow"}})
    assert cfg == Outer("a", [1, 2], None, Inner(1.0, "slow")) and isinstance(cfg.inner.rate, float)
    with pytest.raises(ConfigError, match=r"unknown config key 'inner\.speed'; known: mode, rate"):
        build(Outer, {"name": "a", "inner": {"speed": 1}})
    with pytest.raises(ConfigError, match=r"missing config key 'name'"):
        build(Outer, {})
    with pytest.raises(ConfigError, match=r"inner\.mode: expected one of 'fast', 'slow', got 'medium'"):
        build(Outer, {"name": "a", "inner": {"mode": "medium"}})
    with pytest.raises(ConfigError, match=r"sizes\[1\]: expected int, got 'x'"):
        build(Outer, {"name": "a", "sizes": [1, "x"]})
    with pytest.raises(ConfigError, match=r"limit: expected int \| None, got True"):  # a bool is not an int here
        build(Outer, {"name": "a", "limit": True})
    with pytest.raises(ConfigError, match="inner: expected a section"):
        build(Outer, {"name": "a", "inner": 3})
    assert issubclass(ConfigError, ValueError)


def test_merge_is_deep_except_for_args() -> None:
    base = {"inner": {"rate": 0.1, "mode": "slow"}, "args": {"a": 1, "b": 2}}
    merged = merge(base, {"inner": {"rate": 0.2}, "args": {"c": 3}})
    assert merged == {"inner": {"rate": 0.2, "mode": "slow"}, "args": {"c": 3}}  # args replaced whole
    assert base["inner"] == {"rate": 0.1, "mode": "slow"}  # inputs untouched


@pytest.mark.parametrize(("text", "parsed"), [
    ("a.b.c=[1, 2]", {"a": {"b": {"c": [1, 2]}}}),
    ("x=null", {"x": None}),
    ("x=", {"x": ""}),
    ("x=0.5", {"x": 0.5}),
    ("x=a=b", {"x": "a=b"}),
])
def test_parse_override(text: str, parsed: dict) -> None:  # type: ignore[type-arg]
    assert parse_override(text) == parsed


@pytest.mark.parametrize("text", ["lr", "=3", " =3"])
def test_an_override_without_a_key_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override(text)


def test_layers_file_then_overrides_and_yaml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ninner: {rate: 0.1, mode: slow}\n")
    data = load_layers(path, ["inner.rate=0.3", "sizes=[4]"])
    assert data == {"name": "a", "inner": {"rate": 0.3, "mode": "slow"}, "sizes": [4]}
    assert load_layers(None, ["name=b"]) == {"name": "b"}
    saved = save_yaml(data, tmp_path / "deep" / "resolved.yaml")
    assert saved.is_file() and load_layers(saved) == data
    assert build_file(Outer, saved) == build(Outer, data)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: the top level must be a mapping"):
        read_mapping(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match=r"missing\.yaml: unreadable config"):
        read_mapping(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: a\ninner: {rate: fast}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: inner\.rate: expected float, got 'fast'"):
        build_file(Outer, tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert read_mapping(tmp_path / "empty.yaml") == {}


def test_resolve_path_prefers_the_working_directory_then_the_files_folder(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "configs"
    (base / "d").mkdir(parents=True)
    (base / "d" / "x.yaml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert resolve_path("d/x.yaml", base) == str(base / "d" / "x.yaml")  # only beside the file
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.yaml").write_text("")
    assert resolve_path("d/x.yaml", base) == "d/x.yaml"  # the working directory wins
    assert resolve_path("nowhere.yaml", base) == "nowhere.yaml"  # unchanged, for the caller to report
    assert resolve_path(str(tmp_path / "abs.yaml"), base) == str(tmp_path / "abs.yaml")
    assert resolve_path("", base) == ""
