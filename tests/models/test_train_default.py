"""The default training recipe end to end on generated images, with the tiny variant (no ImageNet weights)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sentry_image.models import load_checkpoint
from sentry_image.train import default


def _manifest(tmp_path: Path) -> Path:
    rows = []
    for g in range(12):
        label = "ai" if g % 2 else "real"
        for i in range(2):
            rel = f"{label}/src{g}/{i}.png"
            arr = np.random.default_rng(g * 10 + i).integers(0, 256, (72, 90, 3), dtype=np.uint8)
            if label == "ai":
                arr = np.repeat(np.repeat(arr[::2, ::2], 2, 0), 2, 1)  # upsampled: a low-level trace to find
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(tmp_path / rel)
            rows.append({"path": rel, "label": label})
    path = tmp_path / "manifest.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.slow
def test_recipe_writes_a_self_describing_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(default, "load_imagenet_weights", lambda model: {"package": "none (test)"})
    cfg = default.TrainConfig(manifest=str(_manifest(tmp_path)), out=str(tmp_path / "ckpt"),
                              results=str(tmp_path / "report.json"), arch="test_efficientnet_lite_tiny", aug_views=1,
                              max_iter=20)
    report = default.train(cfg, command="test")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    for key in ("training_data_sha256", "split", "metrics", "licence_notes", "command", "calibration"):
        assert key in config
    assert set(config["metrics"]) >= {"test", "test_format_matched", "calibration_split"}
    assert "calibration split" in config["calibration"]["fitted_on"]
    groups = [set(config["split"][role]["groups"]) for role in ("train", "calibration", "test")]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert json.loads((tmp_path / "report.json").read_text())["metrics"] == json.loads(json.dumps(report["metrics"]))
    model, calibration, _ = load_checkpoint(tmp_path / "ckpt")
    first = report["test_predictions"][0]
    prob = calibration.probability(model.logits_for_images([Image.open(tmp_path / first["path"]).convert("RGB")]))
    assert prob[0] == pytest.approx(first["p"], abs=1e-4)
