"""``score-batch`` on Ray Data: an actor pool scores batches and writes each as a Parquet part; resumable.

Flow: the driver lists the input (file names, or shard files that reader tasks expand into samples), groups it
into chunks of ``batch_size`` by position (the same groups on every run of one OUT), drops the names already in
OUT, and streams the chunks through ``map_batches`` to a fixed pool of :class:`BatchScorer` actors. Each actor
loads the detector once, scores a chunk with the same pipeline as ``detect`` (decode, provenance, preprocessing,
model, calibration, fusion; a bad image is an error row), writes the chunk's part and returns a one-row summary
the driver turns into progress. Killing the run loses only the chunks in flight.

Ray is started locally unless an address is given; with a cluster, INPUT and OUT must be on storage every node
sees under the same path.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging import ImageError
from ..types import Verdict
from .batch_inputs import InputSpec, ScaleError, chunks, file_items, open_input, shard_chunks, unique
from .parquet_out import check_run_record, completed_paths, count_rows, remove_temporaries, write_part
from .ray_setup import connect

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None, int], None]  # (done, total or None, failed)


@dataclass
class ScoreOptions:
    """How to score. ``model``/``backend`` as ``load_detector`` takes them; ``address`` None = local Ray."""

    model: str | None = None
    backend: str = "auto"
    address: str | None = None
    workers: int = 1
    batch_size: int = 64
    threads: int = 1
    recursive: bool = True
    provenance: bool = True


@dataclass
class ScoreSummary:
    """What a run did. ``failed`` and ``total_rows`` count the whole OUT dataset, resumed parts included."""

    scored: int
    skipped: int
    failed: int
    total_rows: int
    seconds: float
    worker_peak_rss_mb: dict[int, float] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0


class BatchScorer:
    """A Ray actor: loads the detector once, then scores one batch per call and writes it as a part."""

    def __init__(self, model: str | None, backend: str, threads: int, provenance: bool, out: str) -> None:
        from ..detect import load_detector

        # One inference thread per actor by default: actors, not threads, are how score-batch uses the cores.
        self.detector = load_detector(model, provenance=provenance, backend=backend, threads=threads)
        self.out = out

    def __call__(self, batch: Any) -> dict[str, np.ndarray]:
        """Score the chunks of ``batch`` (a ``pyarrow.Table``, one chunk of images per row); one part per chunk."""
        stats = [self._chunk(chunk) for chunk in batch.to_pylist()]
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
        return {"n": np.array([n for n, _ in stats]), "failed": np.array([f for _, f in stats]),
                "pid": np.full(len(stats), os.getpid()), "rss_mb": np.full(len(stats), rss_mb)}

    def _chunk(self, chunk: dict[str, Any]) -> tuple[int, int]:
        names = [str(p) for p in chunk["paths"]]
        sources: list[Any] = names
        if chunk.get("data") is not None:  # shard samples carry their bytes; a broken shard arrives as an error
            sources = [ImageError("unreadable", e, n) if e else bytes(d)
                       for n, d, e in zip(names, chunk["data"], chunk["errors"], strict=True)]
        rows = [v.to_dict() for v in self.detector.detect_many(sources, names=names, batch_size=len(names),
                                                               workers=1)]
        write_part(self.out, rows)
        return len(rows), sum(r["error"] is not None for r in rows)


def _model_name(options: ScoreOptions) -> str:
    """``name@version`` of the model, checked on the driver so a wrong --model fails before Ray starts."""
    from ..models.checkpoint import CheckpointError, choose_backend, model_config, model_id, resolve_model

    try:
        choose_backend(resolve_model(options.model), options.backend)
        return model_id(model_config(options.model))
    except (CheckpointError, ValueError, OSError) as exc:
        raise ScaleError(str(exc)) from exc


def _portable_model(model: str | None) -> str | None:
    """A local path made absolute (actors do not share the driver's working directory); names stay names."""
    return os.path.abspath(model) if model is not None and Path(model).exists() else model


def _list_files(spec: InputSpec, out: Path, done: set[str], options: ScoreOptions, name: str) -> list[str]:
    """Every image name of a folder or manifest INPUT; problems found while listing are written as rows."""
    names: list[str] = []
    listing_errors: list[dict[str, Any]] = []
    for item in unique(file_items(spec, recursive=options.recursive)):
        if not isinstance(item, ImageError):
            names.append(item)
        elif (item.path or str(spec.path)) not in done:  # e.g. a sub-folder that cannot be listed: a row
            listing_errors.append(Verdict.failed(item.path or str(spec.path), item.code, item.message,
                                                 model=name).to_dict())
    if listing_errors:
        write_part(out, listing_errors)
    return names


def _dataset(ray: Any, spec: InputSpec, todo: list[list[str]], done: set[str], batch_size: int) -> Any:
    """The Ray dataset of what is left, one row per chunk of images (shards: reader tasks make the chunks)."""
    if spec.kind == "shards":
        ds = ray.data.from_items([{"shard": str(s)} for s in spec.shards], override_num_blocks=len(spec.shards))
        return ds.flat_map(lambda row: list(shard_chunks(row["shard"], batch_size, done)), num_cpus=0.5)
    # One block per chunk (up to a cap), so chunks stream to the actors as soon as the first is ready.
    return ray.data.from_items([{"paths": c} for c in todo], override_num_blocks=max(1, min(len(todo), 10_000)))


def score_batch_run(input_path: str | Path, out: str | Path, options: ScoreOptions, *,
                    on_progress: Progress | None = None) -> ScoreSummary:
    """Score every image of ``input_path`` not yet in ``out`` (a Parquet dataset folder) on Ray.

    Raises:
        ScaleError: bad input, bad model, a Ray address that cannot be reached, Ray not installed, or an ``out``
            that holds another model's scores.
    """
    start = time.monotonic()
    out = Path(out)
    spec = open_input(input_path)
    name = _model_name(options)
    try:
        record = check_run_record(out, {"model": name, "backend": options.backend, "batch_size": options.batch_size,
                                        "input": str(Path(input_path).absolute())})
    except ValueError as exc:
        raise ScaleError(str(exc)) from exc
    batch_size = int(record["batch_size"])
    if remove_temporaries(out):
        log.info("removed half-written parts of an interrupted run")
    done = completed_paths(out)
    skipped, failed_before = count_rows(out)
    todo: list[list[str]] = []
    total: int | None = None
    if spec.kind == "shards":
        total = None if spec.samples is None else max(0, spec.samples - len(done))
    else:
        todo = list(chunks(_list_files(spec, out, done, options, name), batch_size, done))
        total = sum(len(c) for c in todo)
    rss: dict[int, float] = {}
    if spec.kind == "shards" or todo:  # nothing left to score: no need to start Ray
        with connect(options.address, workers=options.workers) as ray:
            kwargs = {"model": _portable_model(options.model), "backend": options.backend, "threads": options.threads,
                      "provenance": options.provenance, "out": str(out.absolute())}
            pool = ray.data.ActorPoolStrategy(size=options.workers)  # fixed: each actor loads the model once
            # Two glibc malloc arenas per actor: decoded images freed in one thread's arena were not reused by
            # another's, and the cap took each actor's peak RSS from 2.6 to 1.7 GB on 2,000 shared images at the
            # same throughput (benchmarks/score_batch.py).
            arenas = {"env_vars": {"MALLOC_ARENA_MAX": "2"}}
            ds = _dataset(ray, spec, todo, done, batch_size).map_batches(
                BatchScorer, fn_constructor_kwargs=kwargs, batch_size=1, compute=pool, num_cpus=1,
                batch_format="pyarrow", runtime_env=arenas)
            scored = failed = 0
            if on_progress is not None:  # the total is known before Ray has scored anything: show it at once
                on_progress(skipped, None if total is None else skipped + total, failed_before)
            for summary in ds.iter_rows():
                scored += int(summary["n"])
                failed += int(summary["failed"])
                pid = int(summary["pid"])
                rss[pid] = max(rss.get(pid, 0.0), float(summary["rss_mb"]))
                if on_progress is not None:
                    on_progress(skipped + scored, None if total is None else skipped + total, failed_before + failed)
    rows, failed_all = count_rows(out)
    return ScoreSummary(scored=rows - skipped, skipped=skipped, failed=failed_all, total_rows=rows,
                        seconds=time.monotonic() - start, worker_peak_rss_mb=rss)


__all__ = ["BatchScorer", "ScoreOptions", "ScoreSummary", "score_batch_run"]
