"""A Stable Diffusion mark weakened below the decision threshold is reported as info, never as a hint.

The mark is embedded by the reference library (the test oracle) and degraded by JPEG until its bit agreement
falls between chance and the threshold; absence of a mark stays silent and never reads as ``real``.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sentry_image.provenance.watermark import PAYLOADS, Decode, decode_watermarks, read_watermark
from sentry_image.types import Hint, Signal, Strength
from tests.helpers.provenance import jpeg_weakened, reencode, synthetic_photo

SDV1 = PAYLOADS[0]


def test_a_jpeg_weakened_mark_is_info_with_its_agreement(marked_sdv1: Image.Image) -> None:
    weakened = jpeg_weakened(marked_sdv1, SDV1)
    assert weakened is not None, "no JPEG quality from 90 down to 76 left a partial mark"
    degraded, best = weakened
    assert SDV1.min_partial <= best.agree < SDV1.min_agree and not best.claimed
    assert read_watermark(degraded) == [Signal(
        "watermark", Hint.NONE,
        f'Stable Diffusion invisible watermark "StableDiffusionV1" partly read ({best.agree}/136 bits, {best.path}; '
        "chance 68, decision threshold 100): a degraded mark may be present, not evidence", Strength.INFO)]


def test_a_lightly_compressed_mark_is_still_a_strong_claim(marked_sdv1: Image.Image) -> None:
    [signal] = read_watermark(reencode(marked_sdv1, "JPEG", quality=84, subsampling=0))
    assert (signal.hint, signal.strength) == (Hint.AI, Strength.STRONG)


@pytest.mark.parametrize(("quality", "subsampling"), [(75, 2), (60, 0)])
def test_a_destroyed_mark_says_nothing(marked_sdv1: Image.Image, quality: int, subsampling: int) -> None:
    # Chance-level agreement is silence, not "real".
    degraded = reencode(marked_sdv1, "JPEG", quality=quality, subsampling=subsampling)
    assert not any(d.partial or d.claimed for d in decode_watermarks(degraded))
    assert read_watermark(degraded) == []


@pytest.mark.parametrize(("agree", "claimed", "partial"), [(68, False, False), (89, False, False),
                                                           (90, False, True), (99, False, True),
                                                           (100, True, False)])
def test_partial_band_edges(agree: int, claimed: bool, partial: bool) -> None:
    decode = Decode(SDV1, agree, "BGR")
    assert (decode.claimed, decode.partial) == (claimed, partial)


def test_partial_floors_sit_between_chance_and_threshold() -> None:
    for payload in PAYLOADS:
        assert len(payload.bits) // 2 < payload.min_partial < payload.min_agree


def test_unmarked_photo_gives_no_signal_at_all() -> None:
    assert read_watermark(Image.fromarray(synthetic_photo(640, seed=21))) == []
    assert read_watermark(Image.fromarray(np.full((512, 512, 3), 90, np.uint8))) == []
