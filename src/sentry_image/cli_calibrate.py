"""``sentry-image calibrate``: refit a checkpoint's calibration on the user's own calibration data.

A detector's calibration and threshold are only as good as the match between its calibration split and the images
it meets; a user with labelled images of their own domain can refit them without retraining. Every image given is
the calibration split (none of it may be reused as a test set afterwards). The weights are copied unchanged; the
new folder's ``config.json`` gets the new calibration, metrics on that data, and a ``recalibration`` record of
where the data came from and what the checkpoint had before.

Exit codes follow the CLI contract: 0 success, 2 usage error (missing model or data, one class only, ...).
"""

from __future__ import annotations

import json
import shutil
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:  # torch stays unimported until the command runs
    from .models.base import Calibration

err = Console(stderr=True)
EXIT_USAGE = 2


class Method(StrEnum):
    temperature = "temperature"
    isotonic = "isotonic"


class Rule(StrEnum):
    balanced = "balanced"
    fpr = "fpr"


class RecalibrationError(ValueError):
    """The checkpoint, the data or the output folder cannot be used; the message says which and why."""


def recalibrate(model: str | Path, data: str | Path, out: str | Path, *, method: str = "temperature",
                rule: str = "balanced", target_fpr: float = 0.05, band_halfwidth: float = 0.15) -> Calibration:
    """Write a copy of checkpoint ``model`` to ``out`` with its calibration refitted on all of ``data``.

    Args:
        model: a checkpoint folder (or shipped checkpoint name).
        data: a manifest CSV or a folder with ``real/`` and ``ai/`` sub-folders; all of it is the calibration split.
        out: a new (or empty) folder for the recalibrated checkpoint.
        method, rule, target_fpr, band_halfwidth: as in :func:`sentry_image.evaluate.calibrate.fit_calibration`.

    Raises:
        RecalibrationError: missing or unreadable checkpoint or data, data without both classes, ``out`` not empty.
    """
    from .data.manifest import rows_hash
    from .data.sources import read_source
    from .data.splits import Split, folder_key
    from .detect import resolve_model
    from .models.checkpoint import CONFIG, WEIGHTS, CheckpointError, load_checkpoint
    from .train.config import CalibrationConfig
    from .train.run import calibrate_model

    out = Path(out)
    try:
        source = resolve_model(str(model))
        net, old, config = load_checkpoint(source)
    except (CheckpointError, ValueError) as exc:
        raise RecalibrationError(f"--model: {exc}") from None
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RecalibrationError(f"--out: {out} exists and is not an empty folder")
    try:
        rows = read_source(data)
    except ValueError as exc:
        raise RecalibrationError(f"--data: {exc}") from None
    split = Split("calibration", tuple(rows), tuple(sorted({folder_key(r) for r in rows})),
                  f"all decodable images of {data} (recalibration data)")
    settings = CalibrationConfig(method=method, threshold_rule=rule,  # type: ignore[arg-type]
                                 target_fpr=target_fpr, band_halfwidth=band_halfwidth)
    try:
        cal, metrics, fitted = calibrate_model(net, split, settings)
    except ValueError as exc:
        raise RecalibrationError(f"--data: {exc}") from None
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
    shutil.copy2(source / WEIGHTS, out / WEIGHTS)
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return cal


def calibrate_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="Checkpoint folder (or shipped checkpoint name).")],
    data: Annotated[str, typer.Option("--data", help="Manifest CSV or folder with real/ and ai/: all of it is "
                                                     "calibration data (do not test on it afterwards).")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the recalibrated checkpoint.")],
    method: Annotated[Method, typer.Option("--method", help="temperature (2 parameters) or isotonic (monotone "
                                                            "steps; a few hundred images or more).")]
    = Method.temperature,
    threshold_rule: Annotated[Rule, typer.Option("--threshold-rule", help="balanced (max TPR - FPR) or fpr "
                                                                          "(FPR on real images <= --target-fpr).")]
    = Rule.balanced,
    target_fpr: Annotated[float, typer.Option("--target-fpr", min=0.0, max=1.0)] = 0.05,
    band_halfwidth: Annotated[float, typer.Option("--band-halfwidth", min=0.0, max=1.0,
                                                  help="Uncertain band: threshold -/+ this.")] = 0.15,
) -> None:
    """Refit a checkpoint's calibration, threshold and uncertain band on your own labelled images."""
    try:
        cal = recalibrate(model, data, out, method=method.value, rule=threshold_rule.value, target_fpr=target_fpr,
                          band_halfwidth=band_halfwidth)
    except RecalibrationError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    low, high = cal.uncertain_band
    err.print(f"threshold {cal.threshold:.4f}, uncertain band [{low:.4f}, {high:.4f}]; {cal.fitted_on.split(';')[0]}; "
              f"wrote {out}", highlight=False)


__all__ = ["RecalibrationError", "calibrate_cmd", "recalibrate"]
