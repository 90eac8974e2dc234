"""The suite relies on ``xdist_group``: the Ray tests share one worker so a run starts one test Ray, not two. A
pytest / pytest-xdist pair that silently stops grouping (pytest 9.2 with xdist 3.8) must fail here, not show up as
two Rays fighting over two cores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.core

_GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("together")

@pytest.mark.parametrize("i", range(8))
def test_grouped(i):
    with open(os.path.join(os.environ["OUT"], f"{i}"), "w") as f:
        f.write(os.environ.get("PYTEST_XDIST_WORKER", "none"))
"""

_LOOSE = """
import pytest

@pytest.mark.parametrize("i", range(8))
def test_loose(i):
    pass
"""


def test_tests_of_one_xdist_group_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(_GROUPED)
    (tmp_path / "test_loose.py").write_text(_LOOSE)
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p",
                           "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OUT": str(out)})
    assert done.returncode == 0, done.stdout + done.stderr
    workers = {p.read_text() for p in out.iterdir()}
    assert len(list(out.iterdir())) == 8 and len(workers) == 1, f"one group ran on {sorted(workers)}"
