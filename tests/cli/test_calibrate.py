"""``sentry-image calibrate``: a recalibrated copy of a checkpoint, and exit 2 without a traceback on bad input.

The library behind it (:func:`sentry_image.evaluate.recalibrate.recalibrate`) is tested in
``tests/evaluate/test_recalibrate.py``; here the command's options, output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sentry_image import load_detector
from sentry_image.cli import app
from tests.helpers.builders import labelled_folder, tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def test_calibrate_writes_a_recalibrated_copy(ckpt: Path, tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", 8, 8)
    out = tmp_path / "recal"
    result = CliRunner().invoke(app, ["calibrate", "--model", str(ckpt), "--data", str(data), "--out", str(out),
                                      "--method", "isotonic", "--threshold-rule", "fpr", "--target-fpr", "0.125"])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").read_bytes() == (ckpt / "model.safetensors").read_bytes()
    config = json.loads((out / "config.json").read_text())
    cal = config["calibration"]
    assert cal["isotonic"]["x"] and cal["extra"]["fit"] == {"method": "isotonic", "threshold_rule": "fpr",
                                                            "band_halfwidth": 0.15, "n": 16, "target_fpr": 0.125}
    assert cal["fitted_on"].startswith("calibration split: 16 images (8 real, 8 AI) from 2 groups")
    rec = config["recalibration"]
    assert rec["images"] == 16 and rec["previous"]["calibration"]["method"] == "test"
    assert config["version"].startswith("t1+cal.") and config["metrics"]["calibration_split"]["n"] == 16
    # the new checkpoint loads, and on its own calibration data the fpr rule holds
    detector = load_detector(out, provenance=False)
    reals = sorted((data / "real").rglob("*.png"))
    p_real = np.array([v.ai_probability for v in detector.detect_many(reals)])
    assert (p_real >= detector.threshold).mean() <= 0.125


def test_backend_option_scores_on_either_runtime_alike(ckpt: Path, tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", 6, 6)
    configs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / backend
        result = CliRunner().invoke(app, ["calibrate", "--model", str(ckpt), "--data", str(data), "--out", str(out),
                                          "--backend", backend])
        assert result.exit_code == 0, result.output
        assert "threshold" in result.output and str(out) in result.output
        old = json.loads((ckpt / "config.json").read_text())["calibration"]["threshold"]
        assert f"(was {old:.4f})" in result.output  # the operating point it replaces, beside the new one
        configs[backend] = json.loads((out / "config.json").read_text())["calibration"]
    assert configs["onnx"]["threshold"] == pytest.approx(configs["torch"]["threshold"], abs=1e-3)
    assert configs["onnx"]["temperature"] == pytest.approx(configs["torch"]["temperature"], abs=1e-3)


@pytest.mark.parametrize("case", ["missing model", "one class", "missing data", "out not empty"])
def test_bad_input_exits_2_with_a_message(case: str, ckpt: Path, tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", 4, 0 if case == "one class" else 4)
    out = tmp_path / "out"
    if case == "out not empty":
        (out / "x").mkdir(parents=True)
    args = {"--model": str(tmp_path / "nope") if case == "missing model" else str(ckpt),
            "--data": str(tmp_path / "nodata") if case == "missing data" else str(data), "--out": str(out)}
    result = CliRunner().invoke(app, ["calibrate", *[x for kv in args.items() for x in kv]])
    assert result.exit_code == 2
    want = {"missing model": "--model:", "one class": "both real and AI", "missing data": "--data:",
            "out not empty": "not an empty folder"}[case]
    assert want in result.output and "Traceback" not in result.output
    assert not (out / "config.json").exists()


def test_calibrate_on_forty_images_warns_in_one_line_and_records_it(ckpt: Path, tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", 20, 20)
    out = tmp_path / "recal"
    # the real entry point: the warning must reach stderr through the command's own logging setup
    cmd = [sys.executable, "-c", "from sentry_image.cli import main; main()", "calibrate", "--model", str(ckpt),
           "--data", str(data), "--out", str(out), "--method", "isotonic"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr  # warned, not refused
    lines = [line for line in done.stderr.splitlines() if "calibration warning:" in line]
    assert len(lines) == 1, done.stderr
    cal = json.loads((out / "config.json").read_text())["calibration"]
    low, high = cal["uncertain_band"]
    assert (f"calibration warning: isotonic fitted on 40 images (20 real, 20 AI), threshold {cal['threshold']:.3f}, "
            f"uncertain band [{low:.3f}, {high:.3f}]: too few images for isotonic") in lines[0]
    assert cal["extra"]["warnings"] and all(issue in lines[0] for issue in cal["extra"]["warnings"])
    assert "see the calibration warning above" in done.stderr.splitlines()[-1]

