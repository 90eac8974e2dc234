"""Calibration by scoring: score a split through the detection-time path, fit its calibration, refit a checkpoint.

:func:`calibrate_model` is the one place a model's logits on labelled images become a :class:`Calibration`: the
training run calls it on its calibration split, ``sentry-image calibrate`` on a user's own images. It takes any
:class:`~sentry_image.models.runtime.Runner`, so a shipped ONNX checkpoint is recalibrated without torch.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..data.manifest import ManifestRow, rows_hash
from ..data.sources import read_source
from ..data.splits import Split, folder_key
from ..imaging import ImageError, load_image
from ..models.calibration import Calibration
from ..models.checkpoint import GRAPH, WEIGHTS, CheckpointError, load_model, write_config
from ..models.fusion import ARCHITECTURE as FUSION
from ..models.runtime import Runner, Scorer, logits_for_images
from ..models.training_record import image_digests, read_training_record, write_training_record
from .calibrate import CalibrationConfig, ScoredSplit, fit_calibration
from .metrics import summary

log = logging.getLogger(__name__)


class RecalibrationError(ValueError):
    """The checkpoint, the data or the output folder cannot be used; the message says which and why."""


def score_split(runner: Runner | Scorer, rows: Sequence[ManifestRow]) -> tuple[NDArray[np.float64], list[int]]:
    """Logits through the detection-time path for every row that decodes; indices of those that do not."""
    logits, bad = [], []
    for i, row in enumerate(rows):
        try:
            image = load_image(row.path).rgb
        except ImageError as exc:
            log.warning("skipping %s: %s", row.rel_path, exc)
            bad.append(i)
            continue
        logits.append(float(logits_for_images(runner, [image])[0]))
    return np.asarray(logits, dtype=np.float64), bad


def score_kept(runner: Runner | Scorer, split: Split) -> tuple[Split, NDArray[np.float64], int]:
    """The rows of ``split`` that decode (as a split of the same role), their logits, and how many did not."""
    logits, bad = score_split(runner, split.rows)
    dropped = set(bad)
    kept = Split(split.role, tuple(r for i, r in enumerate(split.rows) if i not in dropped), split.groups,
                 split.description)
    return kept, logits, len(bad)


def calibrate_model(runner: Runner | Scorer, split: Split, cfg: CalibrationConfig,
                    held_out: Sequence[Split] = ()) -> tuple[Calibration, dict[str, Any], Split]:
    """Score ``split`` and fit ``cfg``'s calibration on the rows that decode.

    Returns the calibration, its metrics on that split (with ``skipped``: rows that did not decode) and the split
    of the rows it was fitted on. Raises ValueError (from :func:`~.calibrate.fit_calibration`, with the counts)
    when it cannot fit.
    """
    kept, logits, skipped = score_kept(runner, split)
    scored = ScoredSplit(kept, logits)
    try:
        calibration = fit_calibration(scored, method=cfg.method, rule=cfg.threshold_rule,
                                      target_fpr=cfg.target_fpr, band_halfwidth=cfg.band_halfwidth, held_out=held_out,
                                      selective_accuracy=cfg.selective_accuracy)
    except ValueError as exc:
        raise ValueError(f"{exc} ({len(kept)} images read, {skipped} undecodable)") from exc
    metrics = summary(scored.labels, calibration.probability(logits), calibration.threshold)
    metrics["skipped"] = skipped
    return calibration, metrics, kept


def recalibrate(model: str | Path, data: str | Path, out: str | Path, cfg: CalibrationConfig | None = None, *,
                backend: str = "auto") -> Calibration:
    """Write a copy of checkpoint ``model`` to ``out`` with its calibration refitted on all of ``data``.

    Every image of ``data`` (a manifest CSV or a folder with ``real/`` and ``ai/``) is calibration data. The
    weights are copied unchanged; the new ``config.json`` gets the new calibration, metrics on that data and a
    ``recalibration`` record of the data and of what the checkpoint had before.

    Raises:
        RecalibrationError: missing or unreadable checkpoint or data, data without both classes, ``out`` not empty.
    """
    cfg = cfg or CalibrationConfig()
    out = Path(out)
    try:
        loaded = load_model(str(model), backend)
    except (CheckpointError, ValueError) as exc:
        raise RecalibrationError(f"--model: {exc}") from None
    source = Path(loaded.source)
    if source.is_file():
        raise RecalibrationError(f"--model: {source} is a lone .onnx file; recalibrate its checkpoint folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RecalibrationError(f"--out: {out} exists and is not an empty folder")
    try:
        rows = read_source(data)
    except ValueError as exc:
        raise RecalibrationError(f"--data: {exc}") from None
    split = Split("calibration", tuple(rows), tuple(sorted({folder_key(r) for r in rows})),
                  f"all decodable images of {data} (recalibration data)")
    try:
        cal, metrics, fitted = calibrate_model(loaded.scorer, split, cfg)
    except ValueError as exc:
        raise RecalibrationError(f"--data: {exc}") from None
    config, old = dict(loaded.config), loaded.calibration
    digest = rows_hash(fitted.rows)
    record: dict[str, Any] = {
        "data": str(data), "data_hash": digest, "images": len(fitted), "skipped": metrics["skipped"],
        "previous": {"checkpoint": str(source), "version": config.get("version"), "calibration": old.to_dict(),
                     "metrics": config.get("metrics", {})},
    }
    # the old metrics were measured with the old threshold; they move to the record instead of being misread
    config.update(calibration=cal.to_dict(), metrics={"calibration_split": metrics}, recalibration=record,
                  version=f"{config.get('version', '0')}+cal.{digest[:8]}")
    out.mkdir(parents=True, exist_ok=True)
    for weights in (WEIGHTS, GRAPH):  # config.json is authoritative in a folder: the graph keeps its export copy
        if (source / weights).is_file():
            shutil.copy2(source / weights, out / weights)
    for branch in config.get("branches", []) if config.get("architecture") == FUSION else []:
        shutil.copytree(source / branch["folder"], out / branch["folder"])  # a fusion's branches, unchanged
    write_config(out, config)
    seen = read_training_record(source)
    if seen is not None:  # the new calibration saw the recalibration images: they join what the weights saw
        write_training_record(out, seen | image_digests(r.path for r in fitted.rows))
    return cal


__all__ = ["RecalibrationError", "calibrate_model", "recalibrate", "score_kept", "score_split"]
