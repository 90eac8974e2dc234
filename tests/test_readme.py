"""README's two commands are the ones users and CI run: keep them true."""

from __future__ import annotations

import re

import pytest

from tests.helpers.paths import ROOT

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_readmes_test_command() -> None:
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    test_cmd = blocks[1]
    assert "pytest" in test_cmd
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_readme_first_command_sets_up_and_detects_the_demo_images() -> None:
    first = _bash_blocks((ROOT / "README.md").read_text())[0]
    assert first.startswith("python3 -m venv .venv") and "sentry-image detect ../shared/data/examples/" in first
