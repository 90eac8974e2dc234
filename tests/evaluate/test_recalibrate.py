"""Recalibration (:mod:`sentry_image.evaluate.recalibrate`): score a split through the detection-time path, fit its
calibration, and write a recalibrated copy of a checkpoint without touching its weights or graph."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sentry_image import load_detector
from sentry_image.data.sources import read_source
from sentry_image.data.splits import Split
from sentry_image.evaluate.calibrate import CalibrationConfig
from sentry_image.evaluate.recalibrate import RecalibrationError, calibrate_model, recalibrate, score_split
from sentry_image.models.checkpoint import load_model
from sentry_image.models.runtime import logits_for_images
from tests.helpers.builders import labelled_folder, tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def test_score_split_uses_the_detection_path_and_skips_what_does_not_decode(ckpt: Path, tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", 2, 2)
    rows = read_source(data)
    (data / "ai" / "gen" / "a1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # broken after listing
    runner = load_model(ckpt, "torch").runner
    logits, bad = score_split(runner, rows)
    assert [rows[i].path.name for i in bad] == ["a1.png"] and logits.shape == (len(rows) - 1,)
    good = [r for i, r in enumerate(rows) if i not in bad]
    want = logits_for_images(runner, [Image.open(r.path).convert("RGB") for r in good])
    np.testing.assert_allclose(logits, want, atol=1e-6)


def test_calibrate_model_fits_on_the_rows_that_decode(ckpt: Path, tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", 7, 6)
    rows = read_source(data)
    (data / "real" / "cam" / "r6.png").write_bytes(b"")  # emptied after listing: skipped, not fatal
    split = Split("calibration", tuple(rows), ("ai/gen", "real/cam"))
    runner = load_model(ckpt, "torch").runner
    cal, metrics, kept = calibrate_model(runner, split, CalibrationConfig(method="temperature"))
    assert metrics["skipped"] == 1 and len(kept) == 12 and metrics["n"] == 12
    assert "r6.png" not in {r.path.name for r in kept.rows}
    assert cal.method.startswith("temperature") and 0.0 <= cal.threshold <= 1.0
    with pytest.raises(ValueError, match="undecodable"):  # one class only: no fit, and the counts are given
        calibrate_model(runner, Split("calibration", tuple(r for r in rows if r.label == 0), ("real/cam",)),
                        CalibrationConfig())


def test_recalibrate_writes_a_copy_with_the_new_calibration_and_a_record(ckpt: Path, tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", 8, 8)
    out = tmp_path / "recal"
    settings = CalibrationConfig(method="isotonic", threshold_rule="fpr", target_fpr=0.125)
    cal = recalibrate(ckpt, data, out, settings)
    assert (out / "model.safetensors").read_bytes() == (ckpt / "model.safetensors").read_bytes()
    assert not (out / "model.onnx").exists()  # nothing to copy: the source has torch weights only
    config = json.loads((out / "config.json").read_text())
    assert config["calibration"] == cal.to_dict()
    assert cal.isotonic is not None and cal.extra["fit"] == {"method": "isotonic", "threshold_rule": "fpr",
                                                             "band_halfwidth": 0.15, "n": 16, "target_fpr": 0.125}
    assert cal.fitted_on.startswith("calibration split: 16 images (8 real, 8 AI) from 2 groups")
    rec = config["recalibration"]
    assert rec["images"] == 16 and rec["skipped"] == 0 and rec["data"] == str(data)
    assert rec["previous"]["calibration"]["method"] == "test" and rec["previous"]["version"] == "t1"
    assert config["version"] == f"t1+cal.{rec['data_hash'][:8]}"
    assert config["metrics"] == {"calibration_split": config["metrics"]["calibration_split"]}
    assert config["metrics"]["calibration_split"]["n"] == 16
    # the copy loads, and on its own calibration data the fpr rule holds
    detector = load_detector(out, provenance=False)
    assert detector.name == config["name"] + "@" + config["version"]
    reals = sorted((data / "real").rglob("*.png"))
    p_real = np.array([v.ai_probability for v in detector.detect_many(reals)])
    assert (p_real >= detector.threshold).mean() <= 0.125


def test_default_settings_are_temperature_and_balanced(ckpt: Path, tmp_path: Path) -> None:
    cal = recalibrate(ckpt, labelled_folder(tmp_path / "data", 5, 5), tmp_path / "out")
    assert cal.isotonic is None and cal.extra["fit"]["method"] == "temperature"
    assert cal.extra["fit"]["threshold_rule"] == "balanced"


@pytest.mark.parametrize("case", ["missing model", "one class", "missing data", "out not empty", "lone onnx"])
def test_bad_input_is_a_recalibration_error_naming_the_option(case: str, ckpt: Path, tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", 4, 0 if case == "one class" else 4)
    out = tmp_path / "out"
    model: Path = ckpt
    if case == "out not empty":
        (out / "x").mkdir(parents=True)
    if case == "missing model":
        model = tmp_path / "nope"
    if case == "lone onnx":
        from sentry_image.models.export import export_onnx

        model = export_onnx(ckpt, tmp_path / "lone.onnx").path
    with pytest.raises(RecalibrationError) as info:
        recalibrate(model, tmp_path / "nodata" if case == "missing data" else data, out)
    want = {"missing model": "--model:", "one class": "both real and AI", "missing data": "--data:",
            "out not empty": "not an empty folder", "lone onnx": "lone .onnx file"}[case]
    assert want in str(info.value)
    assert not (out / "config.json").exists()


def test_the_copy_keeps_the_training_record_and_adds_the_recalibration_images(ckpt: Path, tmp_path: Path) -> None:
    from sentry_image.models.training_record import image_digests, read_training_record, write_training_record

    source = tmp_path / "recorded"
    shutil.copytree(ckpt, source)
    write_training_record(source, {"0" * 64})
    data = labelled_folder(tmp_path / "data", 3, 3)
    recalibrate(source, data, tmp_path / "out")
    recorded = read_training_record(tmp_path / "out")
    assert recorded == {"0" * 64} | image_digests(r.path for r in read_source(data))
    recalibrate(ckpt, data, tmp_path / "unrecorded")  # "not recorded" stays unknown rather than partial
    assert read_training_record(ckpt) is None and read_training_record(tmp_path / "unrecorded") is None
