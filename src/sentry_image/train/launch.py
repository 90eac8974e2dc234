"""Several training processes on this machine (``sentry-image train CONFIG --nproc-per-node N``): DDP without torchrun.

Each process runs ``sentry-image train`` with the same arguments and the environment ``torchrun`` would give it
(``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT`` on the loopback), so
:func:`sentry_image.train.loop.init_distributed` joins them on gloo (NCCL on GPUs) exactly as under ``torchrun``.
What differs is failure: ``torchrun`` answers a process that exits with an error with its own Python traceback and
report, whatever the process printed; here the processes' own one-line errors (rank 0 only) are all the user sees,
and the first process to fail stops the others. Several machines still need ``torchrun``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

STOP_GRACE_S = 10.0  # how long a stopped process gets to leave before it is killed


def free_port() -> int:
    """A TCP port free on the loopback now (the rendezvous of rank 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(rank: int, world: int, port: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of process ``rank`` of ``world`` on this machine, as ``torchrun --standalone`` sets it."""
    env = dict(os.environ if base is None else base)
    env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
               GROUP_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    # as torchrun does: N processes each with every core's worth of threads would oversubscribe the CPU
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // world)))
    return env


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def launch(args: Sequence[str], nproc: int) -> int:
    """Run ``sentry-image train ARGS`` in ``nproc`` processes of one process group; returns the exit code.

    0 when every process succeeded; else the code of the first process that failed (the others are stopped), 1
    for one killed by a signal.
    """
    port = free_port()
    command = [sys.executable, "-m", "sentry_image.cli", "train", *args]
    procs = [subprocess.Popen(command, env=worker_env(rank, nproc, port)) for rank in range(nproc)]
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                _stop(procs)
                return failed[0] if failed[0] > 0 else 1  # killed by a signal: still a failure
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.2)
    except KeyboardInterrupt:  # Ctrl-C reached the processes too (one process group); make sure none is left
        _stop(procs)
        raise


__all__ = ["free_port", "launch", "worker_env"]
