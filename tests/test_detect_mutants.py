"""The detector's plumbing on a stub scorer: every input kind keeps its caps, reduced decode and name; batches hold
at most ``batch_size`` images; regions come back in the displayed image's pixels; a failing row says why.

The stub gives an image the probability ``width / 100`` (at most 0.99) of the pixels it is handed and records what
it saw, so each test reads the pipeline's behaviour directly. The cases come from faults the other detect tests let
through (``benchmarks/mutation.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from sentry_image import VerdictLabel, fuse, load_detector
from sentry_image.detect import Detector, Source
from sentry_image.imaging import ImageError
from sentry_image.imaging.fetch import FetchOptions, RemoteImage
from sentry_image.models.calibration import Calibration
from sentry_image.models.runtime import CheckpointError, LoadedModel, RegionLogits, Scored
from sentry_image.types import Hint, Signal, Strength
from tests.helpers.builders import image_bytes, noise_image, write_image
from tests.imaging.loopback import LoopbackServer, serve_loopback

pytestmark = pytest.mark.core  # numpy, Pillow and the shipped ONNX default: the core install


class StubScorer:
    """Probability ``width / 100`` (at most 0.99); one region (a box in its pixels, the image's own logit) per
    image at least 50 px wide; ``short`` drops one logit or region from each batch (a broken model)."""

    def __init__(self, reduce_to: int | None = None, short: str = "", fail: bool = False) -> None:
        self.reduce_to, self.short, self.fail = reduce_to, short, fail
        self.sizes: list[tuple[int, int]] = []
        self.batches: list[int] = []

    def prepare(self, image: Image.Image) -> tuple[int, int]:
        if self.fail:
            raise RuntimeError("boom")
        self.sizes.append(image.size)
        return image.size

    def score(self, prepared: Sequence[tuple[int, int]]) -> Scored:
        self.batches.append(len(prepared))
        p = np.array([min(w, 99) / 100 for w, _ in prepared])
        logits = np.log(p / (1 - p))
        regions = [RegionLogits(np.array([[w // 2, h // 2, w // 4, h // 4]]), np.array([z])) if w >= 50 else None
                   for (w, h), z in zip(prepared, logits, strict=True)]
        if self.short == "logits":
            logits = logits[1:]
        if self.short == "boxes":  # a region map with one box more than it has scores
            regions = [RegionLogits(np.vstack([r.boxes, r.boxes]), r.logits) if r else r for r in regions]
        return Scored(logits, regions[1:] if self.short == "regions" else regions)


def stub_detector(scorer: StubScorer | None = None, **kw: object) -> Detector:
    model = LoadedModel(runner=None, calibration=Calibration(), config={"name": "stub", "version": "1"},
                        backend="onnx", scorer=scorer or StubScorer())
    return Detector(model, **kw)  # type: ignore[arg-type]


def generator_png(size: tuple[int, int] = (60, 40)) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a duck\nSteps: 15, Sampler: UniPC, CFG scale: 5, Seed: 1, Size: 512x512, Model: v1-5")
    return image_bytes(noise_image(size), pnginfo=info)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serve_loopback() as started:
        yield started


def test_provenance_is_read_by_default_and_regions_only_when_asked(tmp_path: Path) -> None:
    v = stub_detector().detect(generator_png())
    assert v.verdict is VerdictLabel.AI and v.decided_by == "provenance:metadata" and v.regions is None
    assert [s.name for s in v.signals] == ["metadata"] and v.reasons[0].startswith("Provenance says AI-generated")
    assert stub_detector(provenance=False).detect(generator_png()).signals == []


def test_thresholds_from_zero_to_one_are_allowed_and_binary_and_others_refused() -> None:
    strict = stub_detector(threshold=1.0)
    assert strict.threshold == 1.0 and strict.band == (1.0, 1.0)
    assert strict.detect(noise_image((99, 20))).verdict is VerdictLabel.REAL
    assert stub_detector(threshold=0.0).detect(noise_image((20, 20))).verdict is VerdictLabel.AI
    assert stub_detector().band == (0.35, 0.65)  # no threshold given: the calibration's own band
    with pytest.raises(ValueError, match=r"^threshold must be within \[0, 1\], got 1.5$"):
        stub_detector(threshold=1.5)


@pytest.mark.parametrize("kind", ["path", "bytes", "url", "pil"])
def test_every_input_kind_keeps_the_pixel_cap(kind: str, tmp_path: Path, server: LoopbackServer) -> None:
    sources: dict[str, Source] = {"path": write_image(tmp_path / "a.png", (64, 48)), "url": server.url("/img.png"),
                                  "bytes": image_bytes(noise_image((64, 48))), "pil": noise_image((64, 48))}
    source = sources[kind]
    v = stub_detector(max_pixels=64 * 48 - 1).detect(source)
    assert v.error is not None and v.error.code == "too_large"
    assert stub_detector(max_pixels=64 * 48).detect(source).ok


@pytest.mark.parametrize("kind", ["path", "bytes", "url"])
def test_every_input_kind_keeps_the_byte_cap(kind: str, tmp_path: Path, server: LoopbackServer) -> None:
    data = image_bytes(noise_image((64, 48), seed=11))
    path = tmp_path / "a.png"
    path.write_bytes(data)
    sources: dict[str, Source] = {"path": path, "bytes": data, "url": RemoteImage(server.url("/img.png"))}
    source = sources[kind]
    v = stub_detector(max_bytes=len(data) - 1).detect(source)
    assert v.error is not None and v.error.code == "too_large"


@pytest.mark.parametrize("kind", ["path", "bytes", "url"])
def test_a_large_jpeg_decodes_reduced_whatever_the_input_kind(kind: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = image_bytes(noise_image((1200, 800)), "JPEG", quality=90)
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    monkeypatch.setattr(RemoteImage, "fetch", lambda self, max_bytes: data if max_bytes > len(data) else b"")
    sources: dict[str, Source] = {"path": path, "bytes": data, "url": "http://example.invalid/big.jpg"}
    source = sources[kind]
    scorer = StubScorer(reduce_to=100)  # JPEGs may decode down to a short side of 200: 1/4 scale
    v = stub_detector(scorer, provenance=False, explain=True).detect(source)
    assert scorer.sizes == [(300, 200)] and v.image is not None and (v.image["width"], v.image["height"]) == (1200, 800)
    # the region's box, drawn at (150, 100, 75, 50) in the reduced pixels, comes back in the displayed ones
    assert v.regions is not None and [(r.x, r.y, r.width, r.height) for r in v.regions] == [(600, 400, 300, 200)]
    assert v.regions[0].ai_probability == pytest.approx(v.ai_probability) == pytest.approx(0.99)


def test_urls_are_fetched_given_as_text_or_as_remote_images(server: LoopbackServer) -> None:
    detector = stub_detector(provenance=False)
    url = server.url("/img.png")
    for source in (url, RemoteImage(url)):
        v = detector.detect(source)
        assert v.ok and v.path == url and v.ai_probability == pytest.approx(0.64)
    # a RemoteImage is fetched with its own options: here no redirect may be followed
    v = detector.detect(RemoteImage(server.url("/chain/1"), FetchOptions(max_redirects=0)))
    assert v.error is not None and v.error.code == "fetch_failed"


def test_regions_only_for_scored_images_that_have_them() -> None:
    detector = stub_detector(explain=True)
    narrow, wide, tiny = noise_image((40, 30)), noise_image((60, 30)), generator_png((8, 8))
    rows = list(detector.detect_many([narrow, wide, tiny]))
    assert rows[0].regions is None and rows[1].regions is not None and len(rows[1].regions) == 1
    assert rows[2].verdict is VerdictLabel.AI and rows[2].ai_probability is None and rows[2].regions is None
    alone = detector.detect(generator_png((8, 8)))  # a batch with nothing to score
    assert alone.verdict is VerdictLabel.AI and alone.regions is None


@pytest.mark.parametrize("short", ["logits", "regions", "boxes"])
def test_a_model_that_returns_too_few_scores_is_an_error_not_a_shifted_row(short: str) -> None:
    detector = stub_detector(StubScorer(short=short), explain=True, provenance=False)
    with pytest.raises(ValueError):
        list(detector.detect_many([noise_image((60, 30)), noise_image((70, 30))]))


def test_a_side_of_exactly_the_minimum_is_scored() -> None:
    v = stub_detector(provenance=False).detect(noise_image((16, 16)))
    assert v.ok and v.ai_probability == pytest.approx(0.16)


def test_batches_hold_at_most_batch_size_images() -> None:
    scorer = StubScorer()
    images = [noise_image((20 + i, 20)) for i in range(5)]
    assert [v.ai_probability for v in stub_detector(scorer).detect_many(images, batch_size=2)] == pytest.approx(
        [(20 + i) / 100 for i in range(5)])
    assert scorer.batches == [2, 2, 1]
    default = StubScorer()
    list(stub_detector(default).detect_many([noise_image((20, 20))] * 20))
    assert default.batches == [16, 4]  # 16 images a forward pass unless told otherwise


def test_a_batch_of_one_is_allowed_and_zero_refused() -> None:
    scorer = StubScorer()
    assert len(list(stub_detector(scorer).detect_many([noise_image((20, 20))] * 3, batch_size=1))) == 3
    assert scorer.batches == [1, 1, 1]
    with pytest.raises(ValueError, match=r"^batch_size must be >= 1$"):
        list(stub_detector().detect_many([], batch_size=0))


def test_names_label_rows_and_anonymous_inputs_get_placeholders(tmp_path: Path) -> None:
    detector = stub_detector(provenance=False)
    assert detector.detect(noise_image((20, 20)), name="upload.png").path == "upload.png"
    assert detector.detect(image_bytes(noise_image((20, 20)))).path == "<image>"
    assert detector.detect(noise_image((20, 20))).path == "<image>"
    named = list(detector.detect_many([b"", ImageError("fetch_failed", "no route", "")], names=["a.png", "b.png"]))
    assert [r.path for r in named] == ["a.png", "b.png"]
    anonymous = next(detector.detect_many([ImageError("fetch_failed", "no route", "")]))
    assert anonymous.path == "<input>" and anonymous.model == "stub@1"


def test_a_failed_decode_keeps_its_code_and_message() -> None:
    v = stub_detector().detect(b"", name="empty.png")
    assert v.error is not None and (v.error.code, v.error.message, v.error.path) == ("empty_file", "file is empty",
                                                                                    "empty.png")
    assert v.model == "stub@1" and v.to_dict()["error"] == {"code": "empty_file", "message": "file is empty"}


def test_an_unexpected_failure_costs_one_row_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    detector = stub_detector(StubScorer(fail=True), provenance=False)
    with caplog.at_level(logging.ERROR, logger="sentry_image.detect"):
        v = detector.detect(noise_image((20, 20)), name="a.png")
    assert v.error is not None and (v.error.code, v.error.message, v.path) == ("unreadable", "unexpected error: boom",
                                                                              "a.png")
    assert v.signals == [] and v.model == "stub@1"
    assert [(r.getMessage(), r.exc_info is not None) for r in caplog.records] == [("unexpected failure on a.png", True)]


def test_a_too_small_image_without_evidence_says_why() -> None:
    v = stub_detector().detect(noise_image((8, 8)), name="icon.png")
    assert v.path == "icon.png" and v.model == "stub@1" and v.error is not None
    assert v.error.message == "image is smaller than 16 px on a side and carries no strong provenance evidence"
    assert v.image is not None and v.image["width"] == 8


def test_load_detector_passes_its_caps_explain_and_threads_on(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", (64, 48))
    assert load_detector(max_bytes=100).detect(path).error.code == "too_large"  # type: ignore[union-attr]
    assert load_detector(max_pixels=100).detect(path).error.code == "too_large"  # type: ignore[union-attr]
    assert load_detector().detect(path).regions is None
    chosen = load_detector(threshold=0.2)
    assert chosen.threshold == 0.2 and chosen.band == (0.2, 0.2)
    with pytest.raises(CheckpointError, match="unknown backend 'cuda'"):
        load_detector(backend="cuda")
    assert load_detector(explain=True).detect(path).regions
    # the default is a fusion of ONNX branches: each branch's session runs on the threads asked for
    for threads in (1, None):
        scorer = load_detector(threads=threads).model.scorer
        sessions = [branch.runner.session for branch in scorer.branches.values()]  # type: ignore[attr-defined]
        assert [s.get_session_options().intra_op_num_threads for s in sessions] == [threads or 0] * len(sessions)


AI_C2PA = Signal("c2pa", Hint.AI, "trained algorithmic media", Strength.STRONG)
AI_META = Signal("metadata", Hint.AI, "Stable Diffusion parameters", Strength.STRONG)
REAL_C2PA = Signal("c2pa-capture", Hint.REAL, "capture by a trusted camera", Strength.STRONG)
EXIF = Signal("exif", Hint.REAL, "Make Canon", Strength.WEAK)
BAND = (0.35, 0.65)


def test_each_model_verdict_states_its_number_and_bound() -> None:
    assert fuse(0.5, [], 0.5, BAND)[2] == ["The detector's probability 0.50 lies in its uncertain band (0.35-0.65)."]
    assert fuse(0.1, [], 0.5, BAND)[2] == ["The detector gives 0.10, below its threshold 0.50."]
    assert fuse(0.9, [], 0.5, BAND)[2] == ["The detector gives 0.90, at or above its threshold 0.50."]


def test_provenance_reasons_come_first_and_name_every_strong_signal() -> None:
    verdict, decided_by, reasons = fuse(0.1, [AI_C2PA, AI_META, REAL_C2PA], 0.5, BAND)
    assert (verdict, decided_by) == (VerdictLabel.AI, "provenance:c2pa")
    assert reasons == ["Provenance says AI-generated: c2pa: trained algorithmic media; metadata: Stable Diffusion "
                       "parameters.", "The detector gives 0.10, below its threshold 0.50.",
                       "A capture claim is also present; an AI claim wins because it marks a generated part."]
    second = Signal("c2pa-2", Hint.REAL, "capture", Strength.STRONG)
    verdict, decided_by, reasons = fuse(0.9, [REAL_C2PA, second], 0.5, BAND)
    assert (verdict, decided_by) == (VerdictLabel.REAL, "provenance:c2pa-capture")
    assert reasons == ["Provenance says real: c2pa-capture: capture by a trusted camera; c2pa-2: capture.",
                       "The detector gives 0.90, at or above its threshold 0.50."]


def test_weak_evidence_says_whether_it_agrees_with_the_model() -> None:
    assert fuse(0.1, [EXIF], 0.5, BAND)[2][-1] == "Weak evidence (agrees): exif: Make Canon."
    assert fuse(0.9, [EXIF], 0.5, BAND)[2][-1] == "Weak evidence (not decisive): exif: Make Canon."
    assert fuse(None, [EXIF], 0.5, BAND) == (None, None, ["Weak evidence (not decisive): exif: Make Canon."])


def test_info_signals_and_weak_signals_without_a_hint_are_not_weak_evidence() -> None:
    info = Signal("c2pa", Hint.AI, "a manifest without an origin statement", Strength.INFO)
    hintless = Signal("exif", Hint.NONE, "Software GIMP", Strength.WEAK)
    assert fuse(0.1, [info, hintless], 0.5, BAND)[2] == ["The detector gives 0.10, below its threshold 0.50."]
