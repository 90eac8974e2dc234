"""The training-image record of a checkpoint (``training_images.sha256``): written and read strictly, exposed by
``load_model`` and the detector, and shipped with the default for every image it was trained on."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from sentry_image import load_detector
from sentry_image.models.checkpoint import CheckpointError, load_model
from sentry_image.models.training_record import (
    RECORD,
    image_digests,
    read_training_record,
    write_training_record,
)
from tests.helpers.builders import tiny_checkpoint, write_image
from tests.helpers.paths import SHARED, SHIPPED_DEFAULT

A, B = "a" * 64, "0123456789abcdef" * 4


def test_the_record_round_trips_sorted_and_unique(tmp_path: Path) -> None:
    assert read_training_record(tmp_path) is None  # no file: unknown, not "trained on nothing"
    write_training_record(tmp_path, [B, A.upper(), A])
    assert (tmp_path / RECORD).read_text() == f"{B}\n{A}\n"
    assert read_training_record(tmp_path) == frozenset({A, B})
    write_training_record(tmp_path, [])
    assert read_training_record(tmp_path) == frozenset()


def test_bad_digests_are_refused_on_write_and_on_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not SHA-256"):
        write_training_record(tmp_path, [A, "photo.jpg"])
    (tmp_path / RECORD).write_text(f"{A}\nreal/cam/photo.jpg\n")
    with pytest.raises(CheckpointError, match="not a SHA-256 digest per line"):
        read_training_record(tmp_path)


def test_digests_are_of_the_file_bytes_and_skip_unreadable_files(tmp_path: Path) -> None:
    first = write_image(tmp_path / "a.png", seed=1)
    copy = tmp_path / "copy.png"
    shutil.copyfile(first, copy)
    other = write_image(tmp_path / "b.png", seed=2)
    assert len(image_digests([first, copy, other, tmp_path / "missing.png"])) == 2


def test_load_model_and_the_detector_expose_the_record(tmp_path: Path) -> None:
    folder = tiny_checkpoint(tmp_path / "tiny")
    assert load_model(folder).trained_on is None and load_detector(folder).trained_on is None
    write_training_record(folder, [A, B])
    assert load_model(folder, "torch").trained_on == frozenset({A, B})
    assert load_detector(folder).trained_on == frozenset({A, B})


def test_the_shipped_default_records_every_image_it_was_trained_on() -> None:
    trained_on = load_detector().trained_on
    assert trained_on is not None and len(trained_on) == 1132  # its config: all 1,132 rows of the manifest
    assert read_training_record(SHIPPED_DEFAULT) == trained_on
    manifest = SHARED / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as fh:
            assert {row["sha256"] for row in csv.DictReader(fh)} == trained_on
