"""Report tables (:mod:`sentry_image.evaluate.tables`): how a checkpoint's preprocessing is summarised."""

from __future__ import annotations

import pytest

from sentry_image.data.preprocess import PreprocessConfig
from sentry_image.evaluate.tables import preprocessing_summary

pytestmark = pytest.mark.core


def test_preprocessing_summary_of_one_network_and_of_a_fusion() -> None:
    resized = PreprocessConfig(crop_size=224, resize_short=256).to_dict()
    tiles = PreprocessConfig(crop_size=64, resize_short=None, num_crops=16).to_dict()
    assert preprocessing_summary(resized) == "resize 256 -> crop 224"
    assert preprocessing_summary(tiles) == "native, crop 64 x16"
    assert preprocessing_summary({"semantic": resized, "lowlevel": tiles}) == \
        "semantic: resize 256 -> crop 224 + lowlevel: native, crop 64 x16"
