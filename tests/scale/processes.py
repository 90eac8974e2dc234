"""What the scale tests know about the processes a run started, read from ``/proc`` (no psutil; Linux only).

A test starts ``sentry-image score-batch`` (or ``ray start``) in a session of its own, so every process the run
leads to is in that session (Ray's workers take a process group of their own, never a session), except the
watchdog, which leaves it on purpose and is found as the run's child. Processes are named with their start time,
so a pid the system reuses for something else is not taken for one of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """``(state, parent pid, session id, start time)``, or None once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[3]), int(fields[19])


def _table() -> dict[int, tuple[str, int, int, int]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            table[int(entry)] = stat
    return table


def cmdline(pid: int) -> str:
    """The command line of ``pid``, words joined by spaces ('' once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def run_processes(leader: int) -> set[Proc]:
    """The live processes of the session ``leader`` leads, and every descendant of ``leader`` wherever it is."""
    table = _table()
    found = {pid for pid, (state, _, sid, _) in table.items() if sid == leader and state != "Z"}
    found.add(leader)
    grew = True
    while grew:
        kids = {pid for pid, (state, ppid, _, _) in table.items() if ppid in found and state != "Z"} - found
        found |= kids
        grew = bool(kids)
    return {(pid, table[pid][3]) for pid in found if pid in table}


def alive(procs: Iterable[Proc], session: int | None = None) -> set[Proc]:
    """Those of ``procs`` still running, plus any process that has since joined ``session``."""
    table = _table()
    left = {(pid, start) for pid, start in procs
            if pid in table and table[pid][3] == start and table[pid][0] != "Z"}
    if session is not None:
        left |= {(pid, st[3]) for pid, st in table.items() if st[2] == session and st[0] != "Z"}
    return left


def wait_gone(procs: set[Proc], session: int | None, timeout: float) -> set[Proc]:
    """Wait until none of ``procs`` (nor of ``session``) runs, at most ``timeout`` s; returns what is left."""
    deadline = time.monotonic() + timeout
    left = alive(procs, session)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = alive(procs, session)
    return left


def kill_all(procs: Iterable[Proc], session: int | None = None, grace: float = 5.0) -> None:
    """SIGTERM what is left of ``procs`` and ``session``, SIGKILL it after ``grace`` s: a test's last cleanup."""
    left = alive(procs, session)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, _ in left:
            with suppress(OSError):
                os.kill(pid, sig)
        left = wait_gone(left, session, grace)
        if not left:
            return


def ray_folder(procs: Iterable[Proc]) -> Path | None:
    """The private Ray folder a run used, from its raylet's command line (``--temp_dir=``)."""
    for pid, _ in procs:
        for word in cmdline(pid).split():
            if word.startswith("--temp_dir="):
                return Path(word.removeprefix("--temp_dir="))
    return None


@dataclass
class Run:
    """A ``score-batch`` process and every process seen to belong to it so far."""

    proc: subprocess.Popen[bytes]
    seen: set[Proc] = field(default_factory=set)

    def snapshot(self) -> set[Proc]:
        """Add the run's processes as they are now to :attr:`seen`; returns it."""
        self.seen |= run_processes(self.proc.pid)
        return self.seen


@contextmanager
def score_batch(args: list[str], stderr: Path, env: Mapping[str, str] | None = None) -> Iterator[Run]:
    """``sentry-image score-batch ARGS`` in a session of its own; whatever is left of it is killed at the end.

    stderr goes to a file: a pipe nobody reads could fill up and stall the run, and a process the run started
    could hold the pipe open after the run.
    """
    cmd = [sys.executable, "-m", "sentry_image.cli", "score-batch", *args, "--no-progress"]
    full_env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **(env or {})}
    with stderr.open("wb") as err:
        run = Run(subprocess.Popen(cmd, env=full_env, start_new_session=True, stdout=subprocess.DEVNULL,
                                   stderr=err))
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.snapshot()
            run.proc.kill()
        run.proc.wait()
        kill_all(run.seen, session=run.proc.pid)
