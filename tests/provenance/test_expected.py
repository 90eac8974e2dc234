"""Every real-world file of ``shared/data/provenance/expected.csv`` reads as the table says."""

from __future__ import annotations

import csv

import pytest

from sentry_image.imaging import load_image
from sentry_image.provenance import read_provenance, summarize
from tests.helpers.provenance import shared_data

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)

ROOT = shared_data() / "provenance"
TABLE = ROOT / "expected.csv"
if not TABLE.is_file():
    pytest.skip(f"shared data not found: {TABLE} (set SENTRY_SHARED_DATA)", allow_module_level=True)

ROWS = list(csv.DictReader(TABLE.open(encoding="utf-8")))


def test_table_is_complete() -> None:
    assert len(ROWS) >= 51
    assert {row["expected_hint"] for row in ROWS} <= {"ai-generated", "real", "none"}


@pytest.mark.parametrize("row", ROWS, ids=[row["path"] for row in ROWS])
def test_expected_reading(row: dict[str, str]) -> None:
    signals = read_provenance(load_image(ROOT / row["path"]))
    detail = "\n".join(f"{s.name} {s.hint} {s.strength}: {s.evidence}" for s in signals)
    assert str(summarize(signals)) == row["expected_hint"], f"{row['expected_evidence']}\nread:\n{detail}"
    # Every signal carries evidence a person can read; no reader failed on these files.
    assert all(s.evidence for s in signals)
    assert not any("reader failed" in s.evidence for s in signals), detail
