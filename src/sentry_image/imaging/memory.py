"""Keep a long run's memory flat while decoding threads come and go: cap glibc's malloc arenas.

Each thread that allocates gets its own arena (up to 8 per core), and pixels freed in one arena are not reused by
another, so peak memory creeps up with every large image a different thread decodes. Two arenas keep it flat at the
same speed: ``detect`` over 10,000 files peaked at 785 MB (and was still rising) with glibc's default and at 590 MB,
flat over the last 2,500 files, with two (benchmarks/detect_throughput.py --n 10000); the service's peak stayed at
1.2 GB instead of creeping to 2 GB over three waves of 50 uploads (benchmarks/serve_load.py).
"""

from __future__ import annotations

import ctypes

_M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


def limit_malloc_arenas(count: int = 2) -> bool:
    """Cap glibc's malloc arenas at ``count`` for this process; returns whether the cap is set (False off glibc).

    Call it before the decoding threads start: arenas already created stay."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, count))
    except (OSError, AttributeError):
        return False


__all__ = ["limit_malloc_arenas"]
