"""Take a local Ray down with the ``score-batch`` run that started it, however the run ends (even ``kill -9``).

``ray.shutdown()`` stops a local Ray when the run ends normally, on Ctrl-C or on SIGTERM (Ray turns SIGTERM into
``sys.exit``). A SIGKILL (or the OOM killer) gives the run no chance to do so: Ray's GCS and raylet notice and exit,
but its dashboard and runtime-env agents then block reporting the raylet's death to the dead GCS and stay, about
170 MB between them, and the actor that was scoring keeps going until it finishes its batch (and writes its part).

So a local run starts a small watchdog: ``python -m sentry_image.scale.local_reaper FOLDER SID DRIVER``, standard
library only. It reads a pipe whose only writer is the run, so it wakes when the run closes the pipe (it is done)
or the kernel does (the run died), then stops every process that belongs to that Ray and removes its folder.

A process belongs to the run's Ray when it is in the run's session *and* refers to the run's private Ray folder
(made by ``mkdtemp`` for this run): on its command line (GCS, raylet, dashboard), as its working directory, or as
an open file (agents and workers log there). Both must hold, so a cluster the run merely joined, another run's
Ray, or anything else on the machine is never touched. Linux only (it reads ``/proc``); elsewhere it is not started.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

log = logging.getLogger(__name__)

GRACE_S = 1.0  # SIGTERM, then SIGKILL what is still there: all gone well within the 5 s a killed run allows
ROUNDS = 4  # a raylet that is still alive may start a worker between two scans; scan again until none is left
WAIT_S = 10.0  # how long a run that ends normally waits for its watchdog (it finds nothing, so it takes ms)


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, session id)`` of a process from ``/proc/PID/stat``, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) ", which may hold spaces and parentheses
    return fields[0], int(fields[3])


def _refers_to(pid: int, folder: str) -> bool:
    """Whether the process names ``folder`` on its command line, works in it or has a file in it open."""
    proc = f"/proc/{pid}"
    inside = folder.rstrip("/") + "/"
    try:
        if folder.encode() in Path(proc, "cmdline").read_bytes():
            return True
        if (os.readlink(f"{proc}/cwd") + "/").startswith(inside):
            return True
        return any(os.readlink(f"{proc}/fd/{fd}").startswith(inside) for fd in os.listdir(f"{proc}/fd"))
    except OSError:  # gone meanwhile, or not ours to inspect: not ours to kill either
        return False


def alive(pid: int) -> bool:
    """Whether ``pid`` is still running (a zombie has exited: only its exit status is left)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def members(folder: str, session: int, exclude: set[int]) -> list[int]:
    """The live processes of ``session`` that refer to ``folder``, except ``exclude``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        stat = _stat(int(entry))
        if stat is not None and stat[0] != "Z" and stat[1] == session and _refers_to(int(entry), folder):
            found.append(int(entry))
    return found


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with suppress(OSError):  # exited meanwhile
            os.kill(pid, sig)


def reap(folder: str, session: int, exclude: set[int], grace: float = GRACE_S) -> int:
    """Stop the processes of ``session`` that refer to ``folder`` (SIGTERM, then SIGKILL); returns how many."""
    stopped: set[int] = set()
    for round_ in range(ROUNDS):
        pids = members(folder, session, exclude)
        if not pids:
            break
        stopped.update(pids)
        _signal_all(pids, signal.SIGTERM if round_ == 0 else signal.SIGKILL)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = [p for p in pids if alive(p)]
        _signal_all(pids, signal.SIGKILL)
    return len(stopped)


@contextmanager
def reaper(folder: str) -> Iterator[None]:
    """For the duration of the block, a watchdog that stops the local Ray in ``folder`` once this process ends."""
    if not sys.platform.startswith("linux"):
        yield
        return
    read_end, write_end = os.pipe()  # not inheritable: Ray's processes never hold the write end open
    args = [sys.executable, "-m", __name__, folder, str(os.getsid(0)), str(os.getpid())]
    watchdog: subprocess.Popen[bytes] | None = None
    try:
        # Its own session: Ctrl-C, a hang-up or a kill of the run's process group must not reach the watchdog.
        watchdog = subprocess.Popen(args, stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
    except OSError as exc:
        log.warning("cannot start the watchdog of the local Ray (%s): a killed run may leave Ray processes", exc)
    finally:
        os.close(read_end)  # the watchdog holds its copy
    try:
        yield
    finally:
        os.close(write_end)  # the watchdog wakes, finds what ray.shutdown left (usually nothing) and exits
        if watchdog is not None:
            with suppress(subprocess.TimeoutExpired):  # it finishes on its own; no need to wait longer for it
                watchdog.wait(timeout=WAIT_S)


def main(argv: list[str]) -> int:
    """The watchdog: wait for the run to end, then stop its Ray and remove its folder."""
    folder, session, driver = argv[0], int(argv[1]), int(argv[2])
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    sys.stdin.buffer.read()  # returns at end of file: the run closed the pipe or died
    reap(folder, session, exclude={os.getpid(), driver})
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["alive", "members", "reap", "reaper"]
