"""No camera photograph of the shared data gets an AI hint from its metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry_image.imaging import load_image
from sentry_image.provenance.metadata import read_metadata
from sentry_image.types import Hint
from tests.helpers.provenance import shared_data

pytestmark = pytest.mark.core

ROOT = shared_data() / "real"
if not ROOT.is_dir():
    pytest.skip(f"shared data not found: {ROOT} (set SENTRY_SHARED_DATA)", allow_module_level=True)

SOURCES = sorted(p for p in ROOT.iterdir() if p.is_dir())


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_no_ai_metadata_hint_on_real_photos(source: Path) -> None:
    files = [p for p in source.rglob("*") if p.is_file()]
    assert files
    flagged = []
    for path in files:
        decoded = load_image(path)
        flagged += [f"{path.name}: {s.evidence}" for s in read_metadata(decoded.original, decoded.data)
                    if s.hint == Hint.AI]
    assert flagged == []
