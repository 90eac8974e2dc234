"""Which images a checkpoint was fitted on: ``training_images.sha256`` beside its ``config.json``.

One lowercase hex SHA-256 of an image file's bytes per line, sorted, no names: the file says which images the
weights, the stacker or the calibration saw, and nothing else about them. A score measured on any of these images
tells how well the detector remembers them, not how well it detects, so whoever compares the detector with people
(the questionnaire) or reports its accuracy leaves them out.

A file that is absent means "not recorded" (a checkpoint written before the record existed, or a lone ``.onnx``
file): :func:`read_training_record` returns ``None`` then, never an empty set, so "trained on nothing" and
"unknown" cannot be confused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

from ..data.parts import file_sha256
from .runtime import CheckpointError

log = logging.getLogger(__name__)
RECORD = "training_images.sha256"
_DIGEST = re.compile(r"[0-9a-f]{64}")


def image_digests(paths: Iterable[Path]) -> set[str]:
    """SHA-256 of each file's bytes (the same digest the questionnaire pool computes for its images). A file that
    cannot be read is left out: training skipped it too, so the model never saw it."""
    digests = set()
    for path in paths:
        try:
            digests.add(file_sha256(Path(path)))
        except OSError as exc:
            log.warning("training record: %s left out (%s)", path, exc.strerror or exc)
    return digests


def write_training_record(folder: str | Path, digests: Iterable[str]) -> Path:
    """Write the record into ``folder``; raises ``ValueError`` for anything that is not a SHA-256 hex digest."""
    lines = sorted({d.strip().lower() for d in digests})
    bad = [d for d in lines if not _DIGEST.fullmatch(d)]
    if bad:
        raise ValueError(f"not SHA-256 hex digests: {bad[:3]}")
    path = Path(folder) / RECORD
    path.write_text("".join(f"{d}\n" for d in lines), encoding="ascii")
    return path


def read_training_record(folder: str | Path) -> frozenset[str] | None:
    """The digests recorded in ``folder``, or ``None`` when the checkpoint has no record (or is a lone file)."""
    path = Path(folder) / RECORD
    if not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable training record ({exc})") from exc
    bad = [line for line in lines if not _DIGEST.fullmatch(line)]
    if bad:
        raise CheckpointError(f"{path}: not a SHA-256 digest per line (first bad line: {bad[0][:80]!r})")
    return frozenset(lines)


__all__ = ["RECORD", "image_digests", "read_training_record", "write_training_record"]
