"""Every shipped config under configs/ loads and means what it says; detector references expand in train configs.

The sweep globs the folder, so a config added later is checked without editing this file: train configs load
through ``load_config``, detector configs bind to their registered factory (tiny ones are built and run), suites
apply every condition to a real image, benchmarks name known subsets and a loadable suite.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from sentry_image.config import ConfigError, build
from sentry_image.evaluate.benchmark import load_benchmark
from sentry_image.evaluate.suites import BUILTIN, load_suite
from sentry_image.models.families import create_detector, get_entry, list_detectors
from sentry_image.models.runtime import logits_for_images
from sentry_image.train.config import ModelConfig, load_config, save_config
from sentry_image.train.fusion_config import is_fusion, load_fusion_config
from tests.helpers.paths import CONFIGS as CONFIG_ROOT

CONFIGS = sorted(CONFIG_ROOT.rglob("*.yaml"))


def _id(path: Path) -> str:
    return path.relative_to(CONFIG_ROOT).as_posix()


def _photo() -> Image.Image:
    """A small decoded RGB image with edges, gradients and grain, like a downsized photo (96x72)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:72, 0:96]
    arr = np.stack([x * 2.5, y * 3.0, (x + y) * 1.5], axis=-1) + rng.normal(0, 12, (72, 96, 3))
    arr[20:50, 30:60] = [200, 40, 40]  # a hard-edged object
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def test_every_config_folder_is_known_and_populated() -> None:
    kinds = {p.parent.name for p in CONFIGS}
    assert kinds == {"train", "detectors", "suites", "benchmarks", "comparisons"}, kinds  # one schema per folder


def _check_train(path: Path) -> None:
    if is_fusion(path):
        fusion = load_fusion_config(path)
        for name, args in ((fusion.semantic.model.name, fusion.semantic.model.args),
                           (fusion.lowlevel.model, fusion.lowlevel.args)):
            inspect.signature(get_entry(name).factory).bind(**args)
        assert fusion.folds >= 2 and fusion.lowlevel.epochs > 0
        return
    cfg = load_config(path)
    assert cfg.model.name in list_detectors(), f"{cfg.model.name} is not registered"
    assert cfg.optim.batch_size > 0 and cfg.optim.epochs > 0 and sum(cfg.data.fractions) == pytest.approx(1.0)
    inspect.signature(get_entry(cfg.model.name).factory).bind(**cfg.model.args)


def _check_detector(path: Path) -> None:
    section = build(ModelConfig, yaml.safe_load(path.read_text()), "model.")
    assert path.stem == section.name, "a detector config is named after its registry entry"
    factory = get_entry(section.name).factory  # KeyError names an unregistered detector
    inspect.signature(factory).bind(**section.args)  # TypeError: an argument the factory does not take
    assert section.pretrained in (None, "hub", "package"), "shipped configs must not name a local weights file"
    if section.name.startswith("test_"):  # tiny: build it and run a forward pass
        model = create_detector(section.name, **section.args).eval()
        logits = logits_for_images(model, [_photo()])
        assert logits.shape == (1,) and bool(np.isfinite(logits).all())


def _check_comparison(path: Path) -> None:
    from sentry_image.train.compare import load_compare_config
    from sentry_image.train.crossval import load_crossval_config

    if yaml.safe_load(path.read_text()).get("kind") == "crossval":
        crossval, _ = load_crossval_config(path)  # also loads the fusion config it compares
        for extra in crossval.extra:
            inspect.signature(get_entry(extra.model).factory).bind(**extra.args)
        return

    cfg = load_compare_config(path)  # also loads each detector's training config
    load_suite(cfg.suite)


def _check_suite(path: Path) -> None:
    suite = load_suite(path)
    image = _photo()
    for condition in suite.conditions:
        out = condition(image)
        assert out.mode == "RGB" and min(out.size) > 0, condition.name


def _check_benchmark(path: Path) -> None:
    bench = load_benchmark(path)
    load_suite(bench.suite)
    if bench.subsets:
        from sentry_image.data.subsets import get_subset

        assert all(get_subset(n).split == "val" for n in bench.subsets), "MPBench subsets are the val split"


@pytest.mark.parametrize("path", CONFIGS, ids=_id)
def test_every_shipped_config_loads(path: Path) -> None:
    checks = {"train": _check_train, "detectors": _check_detector, "suites": _check_suite,
              "benchmarks": _check_benchmark, "comparisons": _check_comparison}
    checks[path.parent.name](path)


def test_every_trainable_family_has_a_detector_config() -> None:
    shipped = {p.stem for p in (CONFIG_ROOT / "detectors").glob("*.yaml")}
    wanted = {"cnnspot_resnet50", "npr_resnet", "clip_probe_vitl14", "clip_probe_vitb16", "timm_vit_b16", "timm_swin_t",
              "timm_convnext_t", "efficientnet_lite2_probe", "test_tiny_cnn"}
    assert wanted <= shipped


def test_shipped_robustness_suite_file_matches_the_builtin() -> None:
    assert load_suite(CONFIG_ROOT / "suites" / "robustness.yaml").params() == BUILTIN["robustness"].params()


def test_train_config_expands_a_detector_reference_and_saves_it_expanded(tmp_path: Path) -> None:
    detector = tmp_path / "detectors" / "tiny.yaml"
    detector.parent.mkdir()
    detector.write_text("name: test_tiny_cnn\nargs: {width: 4, crop_size: 32}\nfreeze_backbone: true\n")
    train = tmp_path / "train" / "t.yaml"
    train.parent.mkdir()
    # relative to the train YAML's folder (the working directory holds no such path)
    train.write_text("model: {config: ../detectors/tiny.yaml, args: {crop_size: 16}}\n")
    cfg = load_config(train, ["optim.epochs=2"])
    assert cfg.model.name == "test_tiny_cnn" and cfg.model.freeze_backbone
    assert cfg.model.args == {"width": 4, "crop_size": 16}  # local args override the file's key by key
    saved = yaml.safe_load(save_config(cfg, tmp_path / "resolved.yaml").read_text())
    assert saved["model"]["name"] == "test_tiny_cnn" and "config" not in saved["model"]
    assert load_config(tmp_path / "resolved.yaml") == cfg


@pytest.mark.parametrize(("text", "message"), [
    ("model: {config: ../nowhere.yaml}\n", r"model\.config: no detector config '\.\./nowhere\.yaml'"),
    ("model: {config: 3}\n", r"model\.config: expected a detector config path"),
])
def test_bad_detector_reference_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "t.yaml")


def test_detector_config_with_an_unknown_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("name: test_tiny_cnn\nfreeze: true\n")
    (tmp_path / "t.yaml").write_text("model: {config: d.yaml}\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'model\.freeze'"):
        load_config(tmp_path / "t.yaml")


def test_shipped_train_configs_that_reference_detectors_resolve_from_any_directory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    referencing = [p for p in CONFIGS if p.parent.name == "train" and "config:" in p.read_text()]
    assert referencing, "at least one shipped train config starts from a detector config"
    monkeypatch.chdir(tmp_path)
    for path in referencing:
        name = load_fusion_config(path).semantic.model.name if is_fusion(path) else load_config(path).model.name
        assert name in list_detectors()
