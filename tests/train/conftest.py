"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainhelpers import write_manifest


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_manifest(tmp_path_factory.mktemp("tiny_data"))
