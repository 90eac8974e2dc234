"""Fixtures of the evaluation tests: a generated manifest and a checkpoint trained on it in a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.train import write_manifest


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(manifest, checkpoint folder of test_tiny_cnn trained one epoch on its train split)."""
    from sentry_image.train.config import load_config
    from sentry_image.train.run import train

    root = tmp_path_factory.mktemp("eval")
    manifest = write_manifest(root / "data", groups=5)
    cfg = load_config(None, [f"data.manifest={manifest}", f"out={root / 'ckpt'}", "model.args={width: 4}",
                             "optim.batch_size=8", "optim.lr=0.02", "optim.epochs=2"])
    return manifest, train(cfg)
