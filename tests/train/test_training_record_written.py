"""Every trainer writes ``training_images.sha256``: the single-network trainer the images of its training and
calibration splits (never its test split), the fusion trainer every image (its final fit used them all)."""

from __future__ import annotations

import json
from pathlib import Path

from sentry_image import load_detector
from sentry_image.data.manifest import read_manifest
from sentry_image.data.splits import folder_key
from sentry_image.models.training_record import image_digests, read_training_record
from sentry_image.train import fusion
from sentry_image.train.config import load_config
from sentry_image.train.fusion_config import load_fusion_config
from sentry_image.train.run import train
from tests.helpers.paths import CONFIGS
from tests.train.test_fusion import TINY


def test_a_trained_network_records_its_training_and_calibration_images(tiny_manifest: Path, tmp_path: Path,
                                                                       one_torch_thread: None) -> None:
    cfg = load_config(CONFIGS / "train" / "test_tiny.yaml", [f"data.manifest={tiny_manifest}", f"out={tmp_path}/r"])
    out = train(cfg)
    split = json.loads((out / "config.json").read_text())["split"]
    rows = read_manifest(tiny_manifest)

    def digests(role: str) -> set[str]:
        return image_digests(r.path for r in rows if folder_key(r) in set(split[role]["groups"]))

    record = read_training_record(out)
    assert record is not None and record == digests("train") | digests("calibration")
    assert digests("test") and not digests("test") & record  # held out, so it may be compared with people
    assert load_detector(out).trained_on == record


def test_a_trained_fusion_records_every_image(tiny_manifest: Path, tmp_path: Path, one_torch_thread: None) -> None:
    config = tmp_path / "fusion.yaml"
    config.write_text(f"kind: fusion\nout: {tmp_path / 'out'}\ndata: {{manifest: {tiny_manifest}}}\n")
    out = fusion.train_fusion(load_fusion_config(config, TINY))
    everything = image_digests(r.path for r in read_manifest(tiny_manifest))
    assert read_training_record(out) == everything and load_detector(out).trained_on == everything
