"""Start or join Ray for ``score-batch``, with plain messages for the common failures.

* Ray not installed: it is the ``scale`` extra (about 0.7 GB), so the core install stays small.
* A cluster that cannot be joined (unreachable, or refusing this client's token): :mod:`.ray_cluster`.

A local Ray lives in a private temporary folder and goes down with the run, however the run ends: ``ray.shutdown``
when it can, the watchdog of :mod:`.local_reaper` when it is killed. A cluster the run joined is only left.
A Ray that is already running in this process (``ray.init`` called by the caller, e.g. a test session) is used
as it is and left running.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .batch_inputs import ScaleError
from .local_reaper import reaper
from .quiet_stderr import filtered_stderr
from .ray_cluster import check_token_settings, join

log = logging.getLogger(__name__)


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


def _start_local(ray: Any, workers: int, temp_dir: str) -> None:
    """``ray.init`` of a Ray on this machine only, in ``temp_dir``."""
    # A slot beyond the scoring actors keeps the reader tasks (shard expansion) from starving.
    cpus = max(os.cpu_count() or 1, workers + 1)
    check_token_settings(joining=False)  # Ray's core aborts on an unreadable RAY_AUTH_TOKEN_PATH, even for a local Ray
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             _temp_dir=temp_dir)


@contextmanager
def connect(address: str | None, *, workers: int = 1) -> Iterator[Any]:
    """Ray for the duration of the block: local unless ``address`` is given; shut down after if started here."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    ray.data.DataContext.get_current().enable_progress_bars = False  # the CLI draws its own; Ray's would interleave
    if address is not None:
        with filtered_stderr():
            join(ray, address)
            try:
                yield ray
            finally:
                ray.shutdown()  # disconnects this driver; the cluster stays up
        return
    # A short private folder: Ray's socket paths must stay under the 107-byte limit of Unix sockets. It is also
    # how the watchdog tells this run's Ray from any other.
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    try:
        # the reaper before ray.init (a run killed while Ray starts must not leave it half started) and outside
        # the filter, so the watchdog never holds the filter's pipe
        with reaper(temp_dir), filtered_stderr():
            _start_local(ray, workers, temp_dir)
            try:
                yield ray
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


__all__ = ["connect", "import_ray"]
