"""Fixtures of the scale tests: one local Ray per test process (``tiny_ckpt`` comes from the root conftest).

Ray costs 4-7 s and about 1.7 GB to start, so it starts once per test process (session scope), on loopback, with
two CPUs and a private temporary folder; the Ray tests share the ``ray`` xdist group so only one process runs them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    """A local Ray started once per test process and shut down at its end."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before the import: stay on loopback
    import ray

    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Unix socket paths are limited to 107 bytes
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)

