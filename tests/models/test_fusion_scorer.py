"""The fusion's arithmetic (:mod:`sentry_image.models.fusion`): the stacked logit, the regions it draws, and what a
reduced decode may do; numpy only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from sentry_image.models.fusion import FusedScorer
from sentry_image.models.runtime import RegionLogits, Scored

pytestmark = pytest.mark.core  # runs on the core install too (no torch)


class FixedScorer:
    """A branch whose image logit is the image's width times ``factor``; ``regions``: two boxes at -1 and +1."""

    def __init__(self, factor: float, reduce_to: int | None, regions: bool = False) -> None:
        self.factor, self.reduce_to, self.regions = factor, reduce_to, regions

    def prepare(self, image: Image.Image) -> float:
        return float(image.width)

    def score(self, prepared: Sequence[float]) -> Scored:
        logits = np.asarray(prepared, dtype=np.float64) * self.factor
        regions = [RegionLogits(np.array([[0, 0, 4, 4], [4, 0, 4, 4]]), np.array([-1.0, 1.0])) if self.regions
                   else None for _ in prepared]
        return Scored(logits, regions)


def test_the_stacked_logit_is_the_weighted_sum_and_a_region_replaces_its_branchs_logit() -> None:
    fused = FusedScorer({"a": FixedScorer(1.0, 256), "b": FixedScorer(0.5, None, regions=True)},
                        {"a": 2.0, "b": -1.0}, bias=0.5, regions="b")
    assert fused.reduce_to is None  # one branch needs every pixel: no reduced decode
    images = [Image.new("RGB", (w, 8)) for w in (8, 10)]
    scored = fused.score([fused.prepare(im) for im in images])
    np.testing.assert_allclose(scored.logits, [0.5 + 2 * 8 - 0.5 * 8, 0.5 + 2 * 10 - 0.5 * 10])
    first = scored.regions[0]
    assert first is not None and first.boxes.tolist() == [[0, 0, 4, 4], [4, 0, 4, 4]]
    np.testing.assert_allclose(first.logits, [0.5 + 16 - 1 * -1.0, 0.5 + 16 - 1 * 1.0])
    assert FusedScorer({"a": FixedScorer(1, 224), "b": FixedScorer(1, 256)}, {"a": 1, "b": 1}, 0).reduce_to == 256
    with pytest.raises(ValueError, match="do not match"):
        FusedScorer({"a": FixedScorer(1, None)}, {"b": 1.0}, 0.0)
    with pytest.raises(ValueError, match="regions branch"):
        FusedScorer({"a": FixedScorer(1, None)}, {"a": 1.0}, 0.0, regions="z")
