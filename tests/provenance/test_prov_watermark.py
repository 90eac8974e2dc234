"""The invisible-watermark reader against the library it re-implements (used as an oracle) and on real photos."""

from __future__ import annotations

import csv
import logging
import time

import numpy as np
import pytest
import pywt
from PIL import Image
from prov_helpers import embed, reencode, shared_data, synthetic_photo

from sentry_image.provenance import watermark
from sentry_image.provenance.watermark import decode_watermarks, haar_approx, read_watermark
from sentry_image.types import Hint, Strength

logger = logging.getLogger(__name__)


def test_haar_band_is_bit_exact_with_pywavelets() -> None:
    rng = np.random.default_rng(0)
    planes = np.stack([rng.integers(0, 256, (64, 96)).astype(np.float64), rng.normal(0, 80, (64, 96))])
    expected, _ = pywt.dwt2(planes, "haar", axes=(-2, -1))
    assert np.array_equal(haar_approx(planes), expected)


def test_u_planes_match_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    rgb = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    planes = watermark._u_planes(rgb)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    assert np.array_equal(planes[0], cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)[:, :, 1])
    assert np.allclose(planes[1], cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2YUV)[:, :, 1], atol=1e-3)
    assert np.array_equal(planes[2], cv2.cvtColor(rgb, cv2.COLOR_BGR2YUV)[:, :, 1])


@pytest.mark.parametrize(("kind", "recipe", "name", "paths"), [
    ("sdv1", "compvis", '"StableDiffusionV1"', {"BGR", "BGR/f32"}),
    ("sdv2", "compvis", '"SDV2"', {"BGR", "BGR/f32"}),
    ("sdxl", "diffusers", "0xB3EC907BB19E", {"RGB", "RGB/f32"}),
    ("sdxl", "sgm", "0xB3EC907BB19E", {"BGR/f32"}),
])
def test_each_embedder_is_read(kind: str, recipe: str, name: str, paths: set[str]) -> None:
    image = embed(synthetic_photo(512, seed=2), kind, recipe)
    signals = read_watermark(reencode(image, "PNG"))
    assert len(signals) == 1
    signal = signals[0]
    assert (signal.name, signal.hint, signal.strength) == ("watermark", Hint.AI, Strength.STRONG)
    assert name in signal.evidence
    assert signal.evidence.rsplit(", ", 1)[1].rstrip(")") in paths


def test_evidence_reports_bit_agreement(marked_sdv1: Image.Image) -> None:
    [signal] = read_watermark(marked_sdv1)
    assert signal.evidence == 'Stable Diffusion invisible watermark "StableDiffusionV1" decoded (136/136 bits, BGR)'


def test_jpeg_destroys_the_mark_and_nothing_is_claimed(marked_sdv1: Image.Image) -> None:
    assert read_watermark(reencode(marked_sdv1, "JPEG", quality=75)) == []


def test_wrong_channel_order_is_not_enough() -> None:
    # A diffusers mark read only in BGR order must stay below threshold: the RGB paths are what find it.
    image = embed(synthetic_photo(512, seed=3), "sdxl", "diffusers")
    decodes = {d.payload.name: d for d in decode_watermarks(image)}
    assert decodes["SDXL invisible watermark 0xB3EC907BB19E"].path.startswith("RGB")


@pytest.mark.parametrize("pixels", [
    np.full((512, 512, 3), 128, np.uint8),  # flat: every block decodes the same bit
    np.random.default_rng(4).integers(0, 256, (512, 512, 3), dtype=np.uint8),
    synthetic_photo(768, seed=5),
])
def test_unmarked_images_claim_nothing(pixels: np.ndarray) -> None:
    assert read_watermark(Image.fromarray(pixels)) == []


def test_small_and_odd_images_are_skipped_quietly() -> None:
    assert decode_watermarks(Image.new("RGB", (200, 200))) == []
    assert read_watermark(Image.new("L", (300, 300))) == []
    assert read_watermark(Image.new("RGBA", (301, 259), (10, 20, 30, 0))) == []


def test_row_cap_keeps_block_indices(marked_sdv1: Image.Image, monkeypatch: pytest.MonkeyPatch) -> None:
    # Decoding only the top rows of a large image must still read the mark: rows are cut at block boundaries.
    monkeypatch.setattr(watermark, "MAX_DECODE_PIXELS", 512 * 200)
    [signal] = read_watermark(marked_sdv1)
    assert "StableDiffusionV1" in signal.evidence


def test_no_false_alarm_on_real_photos() -> None:
    root = shared_data()
    manifest = root / "manifest-real.csv"
    if not manifest.is_file():
        pytest.skip(f"shared data not found at {root} (set SENTRY_SHARED_DATA)")
    paths = [root / row["path"] for row in csv.DictReader(manifest.open())]
    alarms, decoded, spent = [], 0, 0.0
    for path in paths:
        image = Image.open(path)
        image.load()
        start = time.perf_counter()
        signals = read_watermark(image)
        spent += time.perf_counter() - start
        decoded += image.width * image.height >= watermark.MIN_PIXELS
        alarms += [f"{path.name}: {s.evidence}" for s in signals]
    logger.info("watermark reader: %d photos (%d large enough) in %.2f s", len(paths), decoded, spent)
    assert len(paths) >= 195
    assert alarms == []
