"""Calibration in config.json: old entries load unchanged, isotonic knots round-trip and are validated, and the
torch and ONNX detectors apply the same map."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from sentry_image import load_detector
from sentry_image.models import create_detector, save_checkpoint
from sentry_image.models.calibration import Calibration, IsotonicKnots
from sentry_image.models.checkpoint import CheckpointError, load_torch
from sentry_image.models.runtime import logits_for_images
from tests.helpers.builders import noise_image, write_image

# the calibration entry exactly as config.json files have been written before isotonic calibration existed
OLD_ENTRY: dict[str, Any] = {"temperature": 1.7, "bias": -0.4, "threshold": 0.62, "uncertain_band": [0.47, 0.77],
                             "method": "temperature+bias (Newton, L2 pull 1.0 to identity); threshold rule 'balanced'",
                             "fitted_on": "calibration split: 40 images (20 real, 20 AI) from 4 groups; ...",
                             "extra": {}}
KNOTS = {"x": [-2.0, -0.5, 0.0, 1.5], "y": [0.1, 0.3, 0.3, 0.8]}


def test_an_entry_written_before_isotonic_loads_and_behaves_as_before() -> None:
    cal = Calibration.from_dict(OLD_ENTRY)
    z = np.array([-3.0, 0.0, 0.5, 4.0])
    np.testing.assert_array_equal(cal.probability(z), 1 / (1 + np.exp(-(z / 1.7 - 0.4))))
    assert cal.isotonic is None and cal.uncertain_band == (0.47, 0.77)
    assert cal.to_dict() == OLD_ENTRY  # written back byte for byte: no isotonic key appears


def test_isotonic_entry_round_trips_and_interpolates() -> None:
    cal = Calibration.from_dict(OLD_ENTRY | {"isotonic": KNOTS})
    got = cal.probability(torch.tensor([-9.0, -1.25, -0.25, 0.75, 9.0]))
    np.testing.assert_allclose(got, [0.1, 0.2, 0.3, 0.55, 0.8], atol=1e-12)  # temperature and bias are ignored
    # any array-like: a list, a float32 array, a scalar
    np.testing.assert_array_equal(cal.probability([-9.0, 0.75]), got[[0, 3]])
    np.testing.assert_allclose(cal.probability(np.float32([-1.25])), [0.2], atol=1e-7)
    assert cal.probability(0.75).shape == () and float(cal.probability(0.75)) == pytest.approx(0.55)
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal and again.to_dict()["isotonic"] == KNOTS


@pytest.mark.parametrize(("knots", "message"), [
    ({"x": [0.0, 1.0, 2.0], "y": [0.1, 0.2]}, "x has 3 values but y has 2"),
    ({"x": [0.0, 2.0, 1.0], "y": [0.1, 0.2, 0.3]}, r"x must be strictly increasing, but x\[2\]=1.0"),
    ({"x": [0.0, 1.0, 1.0], "y": [0.1, 0.2, 0.3]}, "x must be strictly increasing"),
    ({"x": [0.0, 1.0, 2.0], "y": [0.1, 0.5, 0.3]}, r"y must be non-decreasing \(a monotone map\), but y\[2\]=0.3"),
    ({"x": [0.0, 1.0], "y": [0.1, 1.5]}, r"y must lie in \[0, 1\]"),
    ({"x": [0.0, "a"], "y": [0.1, 0.2]}, "x must be a list of numbers"),
    ({"x": [0.0, float("nan")], "y": [0.1, 0.2]}, "x has a value that is not finite"),
    ({"x": 3, "y": [0.1]}, "x must be a list of numbers"),
    ({"x": [], "y": []}, "empty"),
    ({"x": [0.0], "y": [0.1], "z": [1]}, "exactly the keys 'x' and 'y'"),
    ([[0.0], [0.1]], "exactly the keys 'x' and 'y'"),
])
def test_malformed_knots_are_refused_with_the_problem_named(knots: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calibration.from_dict(OLD_ENTRY | {"isotonic": knots})


def _checkpoint(folder: Path) -> tuple[Path, Calibration]:
    torch.manual_seed(0)
    model = create_detector("test_tiny_cnn", width=4, crop_size=32)
    logits = logits_for_images(model, [noise_image(seed=s) for s in range(4)])
    # knots spanning the tiny model's logits, so that detection lands on ramps and not only on the clipped ends
    x = np.linspace(logits.min() - 0.01, logits.max() + 0.01, 5)
    cal = Calibration(threshold=0.4, uncertain_band=(0.3, 0.5), method="isotonic (test)",
                      isotonic=IsotonicKnots(tuple(x), (0.05, 0.2, 0.35, 0.35, 0.9)))
    return save_checkpoint(model, folder, calibration=cal, name="iso", version="1"), cal


def test_checkpoint_and_detector_apply_the_stored_knots(tmp_path: Path) -> None:
    ckpt, cal = _checkpoint(tmp_path / "ckpt")
    net, loaded, config = load_torch(ckpt)
    assert loaded == cal and config["calibration"]["isotonic"]["y"] == [0.05, 0.2, 0.35, 0.35, 0.9]
    images = [write_image(tmp_path / f"i{s}.png", seed=s) for s in range(4)]
    verdicts = list(load_detector(ckpt, provenance=False).detect_many(images))
    logits = logits_for_images(net, [Image.open(p).convert("RGB") for p in images])
    want = np.interp(logits, cal.isotonic.x, cal.isotonic.y)  # type: ignore[union-attr]
    np.testing.assert_allclose([v.ai_probability for v in verdicts], want, atol=1e-6)
    assert len({round(v.ai_probability or 0, 6) for v in verdicts}) > 1  # not all clipped to one end


def test_malformed_knots_in_config_json_stop_loading(tmp_path: Path) -> None:
    ckpt, _ = _checkpoint(tmp_path / "ckpt")
    config = json.loads((ckpt / "config.json").read_text())
    config["calibration"]["isotonic"]["y"] = [0.9, 0.2, 0.35, 0.35, 0.9]
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="y must be non-decreasing"):
        load_torch(ckpt)
    with pytest.raises(CheckpointError, match="y must be non-decreasing"):
        load_detector(ckpt, backend="onnx")  # the onnx backend reads the same config.json


def test_onnx_runner_applies_the_same_knots(tmp_path: Path) -> None:
    from sentry_image.models.export import export_onnx

    ckpt, cal = _checkpoint(tmp_path / "ckpt")
    report = export_onnx(ckpt, tmp_path / "m.onnx")
    assert report.max_prob_diff is not None and report.max_prob_diff < 1e-4
    onnx_detector = load_detector(report.path, backend="onnx", provenance=False)
    assert onnx_detector.calibration == cal
    images = [write_image(tmp_path / f"i{s}.png", seed=s) for s in range(4)]
    torch_p = [v.ai_probability for v in load_detector(ckpt, provenance=False).detect_many(images)]
    onnx_p = [v.ai_probability for v in onnx_detector.detect_many(images)]
    np.testing.assert_allclose(onnx_p, torch_p, atol=1e-4)
