"""Benchmarks as data: what to evaluate (a manifest, a folder or published subset names, real images to pair with
them, a split) and with which suite. ``sentry-image eval --benchmark FILE`` runs one (``configs/benchmarks/``);
an unknown key or a wrong type is a :class:`~sentry_image.config.ConfigError` naming the key and the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError, build_file, resolve_path
from .suites import BUILTIN, load_suite


@dataclass
class BenchmarkConfig:
    """What to evaluate on and how (``configs/benchmarks/*.yaml``); explicit ``eval`` options override fields.

    Relative paths are taken from the working directory, else from the YAML file's folder.

    Attributes:
        name: shown in reports (default: the file's stem).
        description: what the benchmark measures, for readers of the file.
        data: a manifest CSV, a folder with ``real/`` and ``ai/``, or ``subsets:A,B`` (published subset names).
        subsets: published subset names (``sentry-image data subsets``); the same as ``data: subsets:A,B``.
        root: the folder given to ``data fetch --to`` / ``data extract --root`` (subset images under it).
        real: manifest or folder of real images paired with ``subsets`` (the hub holds AI images only).
        split: ``all``, or a role of the source-grouped split (``test``, ``calibration``).
        split_seed: seed of that split; ``null`` = the seed recorded in the checkpoint.
        subset_key: row column naming the subset (``family``, ``generator``, ``subset``).
        suite: built-in suite name or suite YAML path.
    """

    name: str = ""
    description: str = ""
    data: str = ""
    subsets: list[str] = field(default_factory=list)
    root: str = "."
    real: str = ""
    split: str = "all"
    split_seed: int | None = None
    subset_key: str = "family"
    suite: str = "robustness"

    @property
    def spec(self) -> str:
        """The data spec given to :func:`sentry_image.data.sources.read_source`."""
        return f"subsets:{','.join(self.subsets)}" if self.subsets else self.data


def load_benchmark(path: str | Path) -> BenchmarkConfig:
    """Read and check a benchmark YAML (unknown keys and wrong types raise :class:`ConfigError` naming the key)."""
    path = Path(path)
    cfg = build_file(BenchmarkConfig, path)
    if bool(cfg.data) == bool(cfg.subsets):
        raise ConfigError(f"{path}: give exactly one of data or subsets")
    base = path.parent
    cfg.name = cfg.name or path.stem
    cfg.root = resolve_path(cfg.root, base)
    cfg.real = resolve_path(cfg.real, base) if cfg.real else ""
    if not cfg.data.startswith("subsets:"):
        cfg.data = resolve_path(cfg.data, base) if cfg.data else ""
    if cfg.suite not in BUILTIN:
        cfg.suite = resolve_path(cfg.suite, base)
        load_suite(cfg.suite)  # a bad suite fails with the benchmark, before any model loads
    return cfg


__all__ = ["BenchmarkConfig", "load_benchmark"]
