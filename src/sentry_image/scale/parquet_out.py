"""The output of ``score-batch``: a Parquet dataset folder, one part file per scored batch, one row per image.

Rows follow the verdict contract (:meth:`sentry_image.types.Verdict.to_dict`) under a fixed schema, so every part
has the same columns whatever its batch held (an all-error batch would otherwise infer null types). Read it with
``pyarrow.dataset.dataset(OUT)``, ``pandas.read_parquet(OUT)`` or ``ray.data.read_parquet(OUT)``.

Why it resumes without losing or repeating rows:

* a part is written under a temporary dot-name and renamed: readers (and a restarted run) see whole parts only;
  dot-files are ignored by Parquet readers;
* a part's name is a hash of the names it holds, so a batch retried after a worker died overwrites its own part;
* a restarted run reads the ``path`` column of the existing parts and scores only the names not there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

RUN_RECORD = "_sentry_score.json"
PART_GLOB = "part-*.parquet"

_SIGNAL = pa.struct([("name", pa.string()), ("hint", pa.string()), ("evidence", pa.string()),
                     ("strength", pa.string())])
_IMAGE = pa.struct([("format", pa.string()), ("width", pa.int64()), ("height", pa.int64()), ("mode", pa.string()),
                    ("frames", pa.int64()), ("bytes", pa.int64()), ("jpeg_quality", pa.int64()),
                    ("orientation", pa.int64())])
_ERROR = pa.struct([("code", pa.string()), ("message", pa.string())])

#: One verdict per row; nested fields keep the contract's shape.
SCHEMA = pa.schema([
    ("path", pa.string()), ("ai_probability", pa.float64()), ("verdict", pa.string()), ("threshold", pa.float64()),
    ("model", pa.string()), ("signals", pa.list_(_SIGNAL)), ("decided_by", pa.string()),
    ("reasons", pa.list_(pa.string())), ("image", _IMAGE), ("error", _ERROR),
])


def verdict_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Verdict dicts -> an Arrow table with :data:`SCHEMA` (unknown keys dropped, missing ones null)."""
    columns = {name: [row.get(name) for row in rows] for name in SCHEMA.names}
    image_fields = set(_IMAGE.names)
    columns["image"] = [None if img is None else {k: v for k, v in img.items() if k in image_fields}
                        for img in columns["image"]]
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def part_name(paths: Sequence[str]) -> str:
    """A part's file name: a hash of the names it holds (the same batch always lands in the same file)."""
    digest = hashlib.sha256("\n".join(paths).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return f"part-{digest}.parquet"


def write_part(out: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` as one part of the dataset at ``out``, atomically (temporary dot-name, then rename)."""
    out = Path(out)
    final = out / part_name([str(r["path"]) for r in rows])
    tmp = out / f".{final.name}.{os.getpid()}.tmp"
    pq.write_table(verdict_table(rows), tmp)
    os.replace(tmp, final)
    return final


def parts(out: str | Path) -> list[Path]:
    """The finished part files of ``out``, sorted."""
    return sorted(Path(out).glob(PART_GLOB))


def completed_paths(out: str | Path) -> set[str]:
    """Names already scored in ``out``. A part that cannot be read is removed, so its images are scored again."""
    done: set[str] = set()
    for part in parts(out):
        try:
            done.update(pq.read_table(part, columns=["path"]).column("path").to_pylist())
        except (OSError, pa.ArrowException) as exc:
            log.warning("%s: unreadable part, its images will be scored again (%s)", part, exc)
            part.unlink(missing_ok=True)
    return done


def remove_temporaries(out: str | Path) -> int:
    """Delete half-written parts a killed run left behind; returns how many."""
    stale = list(Path(out).glob(".part-*.tmp"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return len(stale)


def count_rows(out: str | Path) -> tuple[int, int]:
    """``(rows, error rows)`` over every part of ``out``."""
    rows = failed = 0
    for part in parts(out):
        error = pq.read_table(part, columns=["error"]).column("error")
        rows += len(error)
        failed += len(error) - error.null_count
    return rows, failed


def check_run_record(out: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write ``out``'s run record, or check a resumed ``out`` was scored by the same model; returns the record in force.

    Mixing two models' scores in one dataset would silently corrupt it, so that is refused with ValueError. A
    resumed run keeps the first run's ``batch_size``: batches are then the same groups of images, so a batch
    that a worker of the killed run was still writing lands in the same part as its re-run, never beside it.
    """
    path = Path(out) / RUN_RECORD
    if path.is_file() and parts(out):  # a record without parts (a run that never started scoring) binds nothing
        previous: dict[str, Any] = json.loads(path.read_text())
        if previous.get("model") != record.get("model"):
            raise ValueError(f"{out} holds scores from model {previous.get('model')!r}, not {record.get('model')!r}: "
                             "choose another --out to score with a different model")
        if "batch_size" in previous and previous["batch_size"] != record.get("batch_size"):
            log.warning("resuming %s with its first batch size, %s", out, previous["batch_size"])
        return {**record, "batch_size": previous.get("batch_size", record.get("batch_size"))}
    Path(out).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


__all__ = ["SCHEMA", "check_run_record", "completed_paths", "count_rows", "part_name", "parts",
           "remove_temporaries", "verdict_table", "write_part"]
