"""A killed score-batch run: its local Ray goes with it, and running it again ends with one row per image.

The runs are real ``sentry-image score-batch`` processes on a local Ray, each in a session of its own so that
everything they start can be found (and is killed at the end whatever happens). Nothing waits a fixed time: each
step waits for what it needs (parts in OUT, processes gone), and the deadlines only bound a failing test.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sentry_image.scale.parquet_out import parts
from sentry_image.scale.ray_batch import ScoreOptions, score_batch_run
from tests.helpers.scale_helpers import image_folder, read_rows
from tests.scale.processes import Proc, Run, cmdline, ray_folder, score_batch, wait_gone

pytestmark = pytest.mark.xdist_group("ray")  # one local Ray at a time on the machine, as in test_scale_ray

GONE_WITHIN_S = 5.0  # how long a killed run's Ray may outlive it
SLOW_MACHINE_S = 300.0  # bounds a failing wait only: a loaded machine may take this long to start Ray and score


def _wait_scoring(run: Run, out: Path, n_parts: int, stderr: Path) -> None:
    """Wait until the run has written ``n_parts`` parts; it must still be running then (the kill lands mid-run)."""
    deadline = time.monotonic() + SLOW_MACHINE_S
    while len(parts(out)) < n_parts and run.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.proc.poll() is None, f"the run ended before it was killed: {stderr.read_text()!r}"
    assert len(parts(out)) >= n_parts, "the run wrote nothing in time"


def _describe(procs: set[Proc]) -> str:
    return "; ".join(f"{pid}: {cmdline(pid)[:80]}" for pid, _ in sorted(procs))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_run_takes_its_local_ray_down_within_seconds(sig: signal.Signals, tiny_ckpt: Path,
                                                              tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 120, size=(640, 480))
    out, stderr = tmp_path / "out", tmp_path / "stderr.txt"
    args = [str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_ckpt), "--batch-size", "8"]
    folder: Path | None = None
    try:
        with score_batch(args, stderr) as run:
            _wait_scoring(run, out, 1, stderr)
            procs = run.snapshot()
            folder = ray_folder(procs)
            assert folder is not None and folder.is_dir() and len(procs) > 5, _describe(procs)  # a real local Ray
            killed = time.monotonic()
            os.kill(run.proc.pid, sig)  # the run only, as `kill PID` does: Ray's processes are for it to take down
            left = wait_gone(procs, run.proc.pid, timeout=GONE_WITHIN_S)
            took = time.monotonic() - killed
            assert not left, f"{len(left)} processes of the run still there {took:.1f} s after it: {_describe(left)}"
            assert not folder.exists(), f"{folder} is left behind"
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def test_a_run_killed_mid_way_resumes_to_exactly_one_row_per_image(local_ray: Any, tiny_ckpt: Path,
                                                                  tmp_path: Path) -> None:
    # Large enough images that scoring takes seconds after Ray's start-up, so the kill lands mid-run.
    n = 240
    image_folder(tmp_path / "in", n, size=(640, 480))
    out, stderr = tmp_path / "out", tmp_path / "stderr.txt"
    args = [str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_ckpt), "--batch-size", "8"]
    with score_batch(args, stderr) as run:
        _wait_scoring(run, out, 3, stderr)
        procs = run.snapshot()
        # The run and the Ray processes of its process group at once; its actors, each in a group of its own,
        # are left for the watchdog to stop, as after a real `kill -9` of a terminal's job.
        os.killpg(run.proc.pid, signal.SIGKILL)
        assert run.proc.wait() == -signal.SIGKILL
        # Count only once nothing of the killed run is left: an actor still scoring would add its part after the
        # count (what made this test fail under load: 48 rows at the resume's start, not the 40 counted).
        left = wait_gone(procs, run.proc.pid, timeout=SLOW_MACHINE_S)
        assert not left, _describe(left)
    before = len(read_rows(out))
    assert 0 < before < n
    summary = score_batch_run(tmp_path / "in", out, ScoreOptions(model=str(tiny_ckpt), batch_size=32))
    counts = Counter(r["path"] for r in read_rows(out))
    assert len(counts) == n and set(counts.values()) == {1}
    assert (summary.skipped, summary.scored) == (before, n - before)
