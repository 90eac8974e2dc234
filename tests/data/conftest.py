"""Fixtures of the dataset tests: the miniature FakeImageDataset and a loopback hub serving it (never the network).

Helpers live in ``tests/helpers/data_helpers.py`` (``from tests.helpers.data_helpers import ...``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.data_helpers import HubServer, MiniDataset, build_mini_dataset


@pytest.fixture(scope="session")
def mini(tmp_path_factory: pytest.TempPathFactory) -> MiniDataset:
    """The miniature repository, built once per test process (read-only by convention)."""
    return build_mini_dataset(tmp_path_factory.mktemp("hub-repo"))


@pytest.fixture
def hub(mini: MiniDataset) -> Iterator[HubServer]:
    """A fresh loopback hub per test (its request log and failure switches start empty)."""
    with HubServer(mini.root) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_real_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever a test forgets, the client must not reach the real hub nor read a token."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    try:
        from huggingface_hub import constants
    except ImportError:  # the core install has no hub client (the `data` extra): nothing can reach the hub
        return
    # CI runs with HF_HUB_OFFLINE=1, which the client reads once at import: lift it for the loopback hub only
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
