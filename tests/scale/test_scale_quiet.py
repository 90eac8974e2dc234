"""score-batch's stderr carries what the user needs: no known-spurious error lines from Ray's C++ core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.scale.processes import score_batch

pytestmark = pytest.mark.xdist_group("ray")  # one local Ray at a time on the machine, as in test_scale_ray

SPURIOUS = (b"[2026-01-01 00:00:00,000 E 1 1] core_worker.cc:2465: Actor with class name: "
            b"'MapWorker(MapBatches(BatchScorer))' and ID: '0a93a02e7b00256101000000' has constructor arguments in "
            b"the object store and max_restarts > 0. If the arguments in the object store go out of scope or are "
            b"lost, the actor restart will fail.")

_CHILD = f"""
import os, sys
from sentry_image.scale.quiet_stderr import filtered_stderr
with filtered_stderr():
    os.write(2, b"native before\\n" + {SPURIOUS!r} + b"\\nnative after\\n")
    print("python line", file=sys.stderr)
    os.write(2, b"unterminated")
print("after the block", file=sys.stderr)
"""


@pytest.mark.core
def test_the_filter_drops_only_the_known_line_and_keeps_everything_else() -> None:
    res = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    err = res.stderr
    assert b"has constructor arguments" not in err
    for kept in (b"native before\n", b"native after\n", b"python line\n", b"unterminated", b"after the block\n"):
        assert kept in err, (kept, err)
    # what the C++ side writes keeps its order, and nothing written in the block is lost after it
    assert err.index(b"native before") < err.index(b"native after") < err.index(b"unterminated")
    assert err.rstrip().endswith(b"after the block")


def test_a_successful_run_prints_its_summary_and_no_error_lines(tiny_ckpt: Path, tmp_path: Path) -> None:
    from tests.helpers.scale_helpers import image_folder  # pyarrow: the scale extra, absent from the core install

    image_folder(tmp_path / "in", 6)
    out, stderr = tmp_path / "out", tmp_path / "stderr.txt"
    with score_batch([str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_ckpt)], stderr) as run:
        assert run.proc.wait(timeout=600) == 0, stderr.read_text()
    text = stderr.read_text()
    assert "6 scored this run" in text, text
    assert "core_worker.cc" not in text and " E " not in text, text
