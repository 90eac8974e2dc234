"""The detect pipeline and the fusion rules, on a real tiny checkpoint and generated images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from sentry_image import Hint, Signal, Strength, Verdict, VerdictLabel, fuse, load_detector
from sentry_image.detect import Detector
from sentry_image.imaging import ImageError
from sentry_image.models import CheckpointError, LoadedModel
from sentry_image.models.checkpoint import load_model
from sentry_image.types import ImageError as TypesImageError
from sentry_image.types import ImageInfo
from tests.helpers.builders import image_bytes, noise_image, tiny_checkpoint, write_image

AI_META = Signal("metadata", Hint.AI, "ComfyUI prompt", Strength.STRONG)
REAL_C2PA = Signal("c2pa", Hint.REAL, "capture by a trusted camera", Strength.STRONG)
EXIF = Signal("exif", Hint.REAL, "Make Canon", Strength.WEAK)


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory):
    folder = tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")
    return load_detector(folder)


# The pipeline tests run on the shipped default (onnxruntime: the core install, where CI runs them first) and on a
# tiny torch checkpoint (the torch backend).
@pytest.fixture(scope="module", params=[pytest.param("default", marks=pytest.mark.core), "tiny"])
def detector(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if request.param == "default":
        return load_detector()
    return load_detector(tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny"))


@pytest.mark.core
@pytest.mark.parametrize(("prob", "expected"), [(0.9, "ai-generated"), (0.1, "real"), (0.5, "uncertain"),
                                                (0.6, "ai-generated"), (0.4, "real")])
def test_model_only_verdict_uses_threshold_and_open_band(prob: float, expected: str) -> None:
    verdict, decided_by, reasons = fuse(prob, [], 0.5, (0.4, 0.6))
    assert str(verdict) == expected
    assert decided_by == "model"
    assert reasons


@pytest.mark.core
def test_strong_ai_provenance_overrides_a_low_score() -> None:
    verdict, decided_by, reasons = fuse(0.02, [AI_META], 0.5, (0.4, 0.6))
    assert verdict is VerdictLabel.AI
    assert decided_by == "provenance:metadata"
    assert "ComfyUI" in reasons[0]


@pytest.mark.core
def test_strong_real_decides_but_ai_claim_wins_over_it() -> None:
    assert fuse(0.95, [REAL_C2PA], 0.5, (0.4, 0.6))[0] is VerdictLabel.REAL
    assert fuse(0.05, [REAL_C2PA, AI_META], 0.5, (0.4, 0.6))[0] is VerdictLabel.AI


@pytest.mark.core
def test_weak_evidence_never_overrides_the_model() -> None:
    verdict, decided_by, reasons = fuse(0.95, [EXIF], 0.5, (0.4, 0.6))
    assert verdict is VerdictLabel.AI and decided_by == "model"
    assert any("Weak evidence" in r for r in reasons)


@pytest.mark.core
def test_no_score_and_no_strong_evidence_gives_no_verdict() -> None:
    assert fuse(None, [EXIF], 0.5, (0.4, 0.6))[0] is None
    assert fuse(None, [AI_META], 0.5, (0.4, 0.6))[0] is VerdictLabel.AI


def test_detect_accepts_path_bytes_and_pil_alike(detector, tmp_path: Path) -> None:
    img = noise_image((80, 60), seed=3)
    path = tmp_path / "a.png"
    img.save(path)
    by_path = detector.detect(path)
    by_bytes = detector.detect(path.read_bytes(), name="a.png")
    by_pil = detector.detect(Image.open(path))
    assert by_path.ok and by_bytes.ok and by_pil.ok
    assert by_path.ai_probability == pytest.approx(by_bytes.ai_probability, abs=1e-6)
    assert by_path.ai_probability == pytest.approx(by_pil.ai_probability, abs=1e-6)
    assert 0.0 <= by_path.ai_probability <= 1.0
    row = by_path.to_dict()
    assert set(row) >= {"path", "ai_probability", "verdict", "threshold", "model", "signals", "error"}
    assert row["model"] == detector.name and row["image"]["format"] == "PNG" and row["image"]["width"] == 80


def test_batched_scores_equal_one_by_one(detector, tmp_path: Path) -> None:
    paths = [write_image(tmp_path / f"{i}.png", (40 + 7 * i, 50), seed=i) for i in range(7)]
    single = [detector.detect(p).ai_probability for p in paths]
    batched = [v.ai_probability for v in detector.detect_many(paths, batch_size=3)]
    assert batched == pytest.approx(single, abs=1e-5)


def test_broken_inputs_are_rows_and_the_rest_is_scored(detector, tmp_path: Path) -> None:
    good = write_image(tmp_path / "good.png")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(image_bytes(noise_image((64, 64)))[:300])
    missing = tmp_path / "missing.png"
    inputs = [good, empty, text, truncated, missing, ImageError("permission_denied", "permission denied", "x/")]
    rows = list(detector.detect_many(inputs, batch_size=2))
    assert [r.path for r in rows] == [str(p) for p in inputs[:5]] + ["x/"]
    assert rows[0].ok and rows[0].verdict is not None
    assert all(not r.ok and r.ai_probability is None and r.verdict is None for r in rows[1:])
    assert rows[-1].error is not None and rows[-1].error.code == "permission_denied"
    assert rows[4].error is not None and rows[4].error.code == "not_found"
    # a verdict's error is the one error value, ImageError: code, message, the input's path, its row form
    for row in rows[1:]:
        assert isinstance(row.error, ImageError) and row.error.path == row.path
        assert row.to_dict()["error"] == row.error.to_dict() == {"code": row.error.code, "message": row.error.message}


def test_tiny_image_with_generator_metadata_gets_a_provenance_verdict(detector, tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a duck\nNegative prompt: x\nSteps: 15, Sampler: UniPC, CFG scale: 5, Seed: 1, "
                                "Size: 512x512, Model hash: c0d1994c73, Model: v1-5")
    path = tmp_path / "one.png"
    noise_image((1, 1)).save(path, pnginfo=info)
    v = detector.detect(path)
    assert v.ok and v.ai_probability is None and v.verdict is VerdictLabel.AI
    assert v.decided_by == "provenance:metadata"
    plain = tmp_path / "plain.png"
    noise_image((1, 1)).save(plain)
    w = detector.detect(plain)
    assert w.error is not None and w.error.code == "too_small"


def test_threshold_override_turns_the_band_off(tmp_path: Path) -> None:
    folder = tiny_checkpoint(tmp_path / "t", threshold=0.5, band=(0.0, 1.0))
    path = write_image(tmp_path / "x.png")
    assert load_detector(folder).detect(path).verdict is VerdictLabel.UNCERTAIN
    strict = load_detector(folder, threshold=0.0).detect(path)
    assert strict.verdict is VerdictLabel.AI and strict.threshold == 0.0


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        load_detector(tmp_path / "nope")
    with pytest.raises(ValueError, match="threshold"):
        load_detector(tiny_checkpoint(tmp_path / "c"), threshold=1.5)


@pytest.mark.core
def test_imaging_reexports_the_types_error_and_info() -> None:
    from sentry_image import imaging

    assert ImageError is TypesImageError and imaging.ImageInfo is ImageInfo
    failed = Verdict.failed("x.png", "truncated", "ends early", model="m@1")
    assert isinstance(failed.error, ImageError) and failed.error.path == "x.png" and not failed.ok
    assert failed.to_dict()["error"] == {"code": "truncated", "message": "ends early"}


def test_detector_wraps_a_loaded_model(tiny_detector, tmp_path: Path) -> None:
    detector = tiny_detector
    assert isinstance(detector.model, LoadedModel) and detector.backend == "torch"  # torch weights only
    assert detector.name == detector.model.id == "tiny@t1" and detector.config is detector.model.config
    assert detector.calibration is detector.model.calibration
    assert detector.model.runner.preprocess_cfg.crop_size == 32
    path = write_image(tmp_path / "a.png", (70, 50), seed=4)
    built = Detector(load_model(detector.model.source, "torch"), provenance=False)
    assert built.detect(path).ai_probability == pytest.approx(detector.detect(path).ai_probability, abs=1e-6)
    strict = Detector(detector.model, threshold=0.0, provenance=False)
    assert strict.detect(path).verdict is VerdictLabel.AI and strict.threshold == 0.0


def test_load_detector_backend_and_threads(tmp_path: Path) -> None:
    folder = tiny_checkpoint(tmp_path / "c")
    path = write_image(tmp_path / "x.png", (90, 64), seed=2)
    one_thread = load_detector(folder, backend="onnx", threads=1, provenance=False)
    assert one_thread.backend == "onnx"
    reference = load_detector(folder, backend="torch", provenance=False)
    assert one_thread.detect(path).ai_probability == pytest.approx(reference.detect(path).ai_probability, abs=1e-5)
    with pytest.raises(CheckpointError, match="unknown backend 'cuda'"):
        load_detector(folder, backend="cuda")


@pytest.mark.core
def test_jpegs_decode_reduced_only_where_the_model_resizes_and_no_reader_needs_every_pixel() -> None:
    from sentry_image.imaging import Reduce
    from sentry_image.provenance.watermark import mark_can_survive

    detector = load_detector()  # short side 256: JPEGs may decode down to twice that, unless a mark may survive
    assert detector.reduce == Reduce(512, keep=mark_can_survive)
    no_provenance = load_detector(provenance=False).reduce
    assert no_provenance is not None and no_provenance.keep is None


def test_a_native_resolution_model_gets_every_pixel(tiny_detector) -> None:
    assert tiny_detector.model.scorer.reduce_to is None and tiny_detector.reduce is None
