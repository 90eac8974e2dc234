"""Fixtures of the provenance tests (helpers are in ``prov_helpers``)."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.helpers.provenance import embed, synthetic_photo


@pytest.fixture(scope="session")
def marked_sdv1() -> Image.Image:
    """One SD 1.x-marked synthetic image shared by several tests (embedding costs ~0.1 s)."""
    return embed(synthetic_photo(512, seed=1), "sdv1", "compvis")
