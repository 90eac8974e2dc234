"""Typed configs: precedence defaults < YAML < overrides, and early rejection of bad keys and types."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry_image.config import parse_override
from sentry_image.data.degrade import AugmentConfig
from sentry_image.evaluate.calibrate import CalibrationConfig
from sentry_image.train import config as train_config
from sentry_image.train.config import ConfigError, TrainConfig, load_config, save_config
from sentry_image.train.fusion_config import is_fusion
from tests.helpers.paths import CONFIGS as CONFIG_ROOT

# single-network runs; fusion configs (kind: fusion) are checked by tests/train/test_fusion.py and tests/test_configs.py
CONFIGS = sorted(p for p in CONFIG_ROOT.rglob("train/*.yaml") if not is_fusion(p))


def test_precedence_defaults_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\noptim: {lr: 0.1, epochs: 4}\nmodel: {name: test_tiny_cnn, args: {width: 4}}\n")
    cfg = load_config(path, ["optim.lr=0.01", "model.args={crop_size: 16}", "augment.jpeg_quality=[70, 90]"])
    assert cfg.seed == 3 and cfg.optim.epochs == 4 and cfg.optim.lr == 0.01
    assert cfg.optim.batch_size == TrainConfig().optim.batch_size  # untouched default
    assert cfg.model.args == {"crop_size": 16}  # args are replaced whole, never merged key by key
    assert cfg.augment.jpeg_quality == [70, 90]


def test_ints_are_accepted_as_floats_and_null_as_none() -> None:
    cfg = load_config(None, ["optim.lr=1", "model.pretrained=null"])
    assert isinstance(cfg.optim.lr, float) and cfg.model.pretrained is None


@pytest.mark.parametrize(("override", "message"), [
    ("optim.lrr=0.1", "optim.lrr"),
    ("nope=1", "'nope'"),
    ("optim.lr=fast", "optim.lr: expected float"),
    ("optim.epochs=1.5", "optim.epochs: expected int"),
    ("optim.epochs=true", "optim.epochs: expected int"),
    ("augment.scale=[0.5, x]", r"augment.scale\[1\]"),
    ("data=3", "data: expected a section"),
    ("lr", "expected key=value"),
])
def test_bad_keys_and_types_are_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_parse_override_nests_dotted_keys() -> None:
    assert parse_override("a.b.c=[1, 2]") == {"a": {"b": {"c": [1, 2]}}}


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(None, ["optim.lr=0.02", "model.args={width: 4}"])
    assert load_config(save_config(cfg, tmp_path / "r.yaml")) == cfg


def test_shipped_configs_exist() -> None:
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_names_a_registered_model(path: Path) -> None:
    from sentry_image.models import list_detectors

    cfg = load_config(path)
    assert cfg.model.name in list_detectors(), f"{path.name}: {cfg.model.name} is not registered"
    assert cfg.optim.batch_size > 0 and cfg.optim.epochs > 0 and sum(cfg.data.fractions) == pytest.approx(1.0)


def test_sections_owned_by_other_layers_are_the_same_classes() -> None:
    # one augmentation schema and one calibration schema: train.config re-exports them, it does not copy them
    assert train_config.AugmentConfig is AugmentConfig and train_config.CalibrationConfig is CalibrationConfig
    cfg = load_config(None, ["augment.p_noise=0.5", "calibration.method=isotonic"])
    assert isinstance(cfg.augment, AugmentConfig) and isinstance(cfg.calibration, CalibrationConfig)
    assert cfg.augment.p_noise == 0.5 and cfg.calibration.method == "isotonic"
    assert TrainConfig().augment == AugmentConfig() and TrainConfig().calibration == CalibrationConfig()
    with pytest.raises(ConfigError, match=r"calibration\.method: expected one of"):
        load_config(None, ["calibration.method=platt"])
