"""Drop known-spurious lines that Ray's C++ core writes straight to file descriptor 2 of the driver.

Ray Data passes every actor pool's transformer to its actors through the object store and turns actor restarts on,
so Ray's core logs an ERROR line ("... has constructor arguments in the object store and max_restarts > 0") on
every successful run (ray-project/ray#57733, open). The run is fine: the transformer stays referenced by the running
operator, so a restart finds it. Turning restarts off would silence it but lose fault tolerance, and the line comes
from C++, past Python's logging, so it can only be filtered at the descriptor.

While :func:`filtered_stderr` is active, fd 2 is a pipe read by a thread that forwards every line except the known
ones to the real stderr; Python's own ``sys.stderr`` (progress bars, messages) keeps writing to the real stderr
directly, so terminals stay terminals and nothing is reordered for the user.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SPURIOUS = (re.compile(rb"core_worker\.cc:\d+: Actor with class name: '.*' and ID: '\w+' has constructor arguments "
                       rb"in the object store and max_restarts > 0"),)


def _pump(read_fd: int, write_fd: int, patterns: tuple[re.Pattern[bytes], ...]) -> None:
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line + b"\n" for line in lines if not any(p.search(line) for p in patterns)]
            if kept:
                os.write(write_fd, b"".join(kept))
    if pending and not any(p.search(pending) for p in patterns):
        os.write(write_fd, pending)


@contextmanager
def filtered_stderr(patterns: tuple[re.Pattern[bytes], ...] = SPURIOUS) -> Iterator[None]:
    """Route fd 2 through a line filter for the block; ``sys.stderr`` writes to the original stderr meanwhile."""
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters, closed stderr): nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    saved_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(real), "w", buffering=1, encoding=saved_stderr.encoding,
                           errors=saved_stderr.errors)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, real, patterns), name="stderr-filter", daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the pump drains what is left and stops
        pump.join(timeout=5)
        sys.stderr.close()
        sys.stderr = saved_stderr
        os.close(real)


__all__ = ["SPURIOUS", "filtered_stderr"]
