"""Start or join Ray for ``score-batch``, with plain messages for the two common failures.

* Ray not installed: it is the ``scale`` extra (about 0.7 GB), so the core install stays small.
* An address that cannot be reached: checked with a TCP connect before ``ray.init``, whose own retries take
  minutes to give up on a wrong host or port.

A Ray that is already running in this process (``ray.init`` called by the caller, e.g. a test session) is used
as it is and left running.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .batch_inputs import ScaleError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


def import_ray() -> Any:
    """Import Ray, or say which extra to install."""
    # Before the import: keeps a local Ray on this machine rather than announcing it on the network.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
        import ray.data  # Ray without its data library cannot run score-batch
    except ImportError as exc:
        raise ScaleError("score-batch needs Ray Data: pip install 'sentry-image[scale]' "
                         f"(import failed: {exc})") from exc
    # Ray Data logs each execution's plan at INFO on the driver; score-batch reports progress itself, and the
    # details stay in Ray's session logs.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port`` or ``ray://host:port``; None for ``auto`` and other forms Ray resolves."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ScaleError unless a TCP connection to ``address`` opens within ``timeout`` seconds."""
    target = _host_port(address)
    if target is None:
        if address != "auto":
            raise ScaleError(f"bad Ray address {address!r}: expected 'auto', 'host:port' or 'ray://host:port'")
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as exc:
        raise ScaleError(f"cannot reach a Ray cluster at {address!r} ({exc.strerror or exc}); check the address "
                         "(the head's GCS port, usually 6379, or ray:// client port 10001) and that it is up"
                         ) from None


def _init(ray: Any, address: str | None, workers: int) -> str | None:
    """``ray.init`` for a local Ray (returns its temporary folder) or a cluster (returns None)."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # progress is the CLI's own bar; Ray's would interleave with it
    if address is None:
        # A slot beyond the scoring actors keeps the reader tasks (shard expansion) from starving.
        cpus = max(os.cpu_count() or 1, workers + 1)
        # A short private folder: Ray's socket paths must stay under the 107-byte limit of Unix sockets.
        temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 _temp_dir=temp_dir)
        return temp_dir
    check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ScaleError(f"cannot join the Ray cluster at {address!r}: {exc}") from None
    return None


@contextmanager
def connect(address: str | None, *, workers: int = 1) -> Iterator[Any]:
    """Ray for the duration of the block: local unless ``address`` is given; shut down after if started here."""
    ray = import_ray()
    started = not ray.is_initialized()
    temp_dir = _init(ray, address, workers) if started else None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


__all__ = ["check_reachable", "connect", "import_ray"]
