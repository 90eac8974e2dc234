"""The inference contract (:mod:`sentry_image.models.runtime`): runners, logits per image, model ids. numpy only."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from sentry_image.data.preprocess import PreprocessConfig, preprocess
from sentry_image.models.calibration import Calibration
from sentry_image.models.runtime import CropScorer, LoadedModel, Runner, Scorer, as_scorer, logits_for_images, model_id
from tests.helpers.builders import noise_image


class MeanRunner:
    """A stand-in network: the logit of a crop is the mean of its first channel; records the batches it got."""

    def __init__(self, crop: int = 16, num_crops: int = 1) -> None:
        self.preprocess_cfg = PreprocessConfig(crop_size=crop, num_crops=num_crops)
        self.batches: list[tuple[int, ...]] = []

    def run(self, pixels: NDArray[np.float32]) -> NDArray[np.float32]:
        assert pixels.dtype == np.float32 and pixels.flags.c_contiguous
        self.batches.append(pixels.shape)
        return pixels[:, 0].mean(axis=(1, 2)).astype(np.float32)


def test_a_class_with_a_config_and_run_is_a_runner() -> None:
    assert isinstance(MeanRunner(), Runner) and not isinstance(object(), Runner)


def test_a_crop_scorer_runs_one_forward_pass_and_takes_one_mean_per_image() -> None:
    runner = MeanRunner()
    scorer = CropScorer(runner)
    prepared = [scorer.prepare(noise_image((16, 16), seed=s)) for s in range(3)]
    for p, (n, v) in zip(prepared, ((1, 1.0), (4, 2.0), (2, -3.0)), strict=True):
        p.pixels = np.full((n, 3, 16, 16), v, dtype=np.float32)
        p.boxes = np.zeros((n, 4), dtype=np.int64)
    prepared[1].pixels[3] = 6.0  # the last of its four crops: the mean of 2, 2, 2, 6 is 3
    scored = scorer.score(prepared)
    assert scored.logits.dtype == np.float64 and scored.logits.tolist() == [1.0, 3.0, -3.0]
    assert runner.batches == [(7, 3, 16, 16)]  # every crop of every image in a single batch
    assert [r.logits.tolist() for r in scored.regions if r is not None] == [[1.0], [2.0, 2.0, 2.0, 6.0], [-3.0, -3.0]]
    assert scorer.score([]).logits.shape == (0,) and len(runner.batches) == 1  # nothing to run


def test_a_crop_scorers_regions_are_its_crops_in_the_images_pixels() -> None:
    scorer = CropScorer(MeanRunner(crop=24, num_crops=4))  # native pixels, a 2x2 grid
    found = scorer.score([scorer.prepare(noise_image((60, 40), seed=1))]).regions[0]
    assert found is not None and found.boxes.tolist() == [[0, 0, 24, 24], [36, 0, 24, 24], [0, 16, 24, 24],
                                                            [36, 16, 24, 24]]
    assert scorer.reduce_to is None and isinstance(scorer, Scorer) and as_scorer(scorer) is scorer
    assert isinstance(as_scorer(MeanRunner()), CropScorer) and not isinstance(MeanRunner(), Scorer)


def test_logits_for_images_preprocesses_with_the_runners_own_config() -> None:
    runner = MeanRunner(crop=24, num_crops=4)
    images = [noise_image((60, 40), seed=1), noise_image((30, 70), seed=2)]
    logits = logits_for_images(runner, images)
    assert runner.batches == [(8, 3, 24, 24)]  # 2x2 crops each
    want = [preprocess(im, runner.preprocess_cfg)[:, 0].mean(axis=(1, 2)).mean() for im in images]
    np.testing.assert_allclose(logits, want, rtol=1e-6)


def test_model_id_and_loaded_model() -> None:
    assert model_id({"name": "sentry-default", "version": "1"}) == "sentry-default@1"
    assert model_id({"architecture": "tiny_cnn"}) == "tiny_cnn@0"  # unnamed: the architecture, version 0
    assert model_id({}) == "unknown@0"
    runner = MeanRunner()
    loaded = LoadedModel(runner, Calibration(threshold=0.3), {"name": "m", "version": "2", "num_parameters": 12},
                         "onnx", "/x")
    assert loaded.id == "m@2" and loaded.scorer.runner is runner and loaded.num_parameters == 12  # type: ignore[attr-defined]
    assert LoadedModel(runner, Calibration(), {}, "torch").num_parameters == 0


@pytest.mark.parametrize("logits", [[0.0, 2.0], np.array([0.0, 2.0], dtype=np.float32), (0.0, 2.0)])
def test_calibration_takes_any_array_like(logits: object) -> None:
    p = Calibration(temperature=2.0, bias=0.0).probability(logits)  # type: ignore[arg-type]
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, [0.5, 1 / (1 + np.exp(-1.0))])


def test_whole_images_of_different_sizes_score_in_one_call_as_they_do_alone() -> None:
    """crop_mode "none" feeds each image at its own size: a batch mixes shapes, which one array cannot hold."""
    runner = MeanRunner()
    runner.preprocess_cfg = PreprocessConfig(crop_mode="none")
    scorer = CropScorer(runner)
    images = [noise_image(seed=s, size=size) for s, size in enumerate([(40, 30), (64, 48), (40, 30), (33, 57)])]
    together = scorer.score([scorer.prepare(im) for im in images])
    alone = [scorer.score([scorer.prepare(im)]).logits[0] for im in images]
    np.testing.assert_array_equal(together.logits, alone)
    assert sorted(runner.batches[:3]) == sorted([(2, 3, 30, 40), (1, 3, 48, 64), (1, 3, 57, 33)])  # one per shape
