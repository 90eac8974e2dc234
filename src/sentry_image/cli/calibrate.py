"""``sentry-image calibrate``: refit a checkpoint's calibration on the user's own labelled images.

A detector's calibration and threshold are only as good as the match between its calibration split and the images
it meets; a user with labelled images of their own domain can refit them without retraining
(:func:`sentry_image.evaluate.recalibrate.recalibrate`). Every image given is the calibration split: none of it may
be reused as a test set afterwards. A fit on too few images or with a degenerate uncertain band is made, with a
warning on stderr that is also recorded in the new ``config.json``. Exit codes: 0 success, 2 usage error (missing
model or data, one class only).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ._common import Backend, err, fail


class Method(StrEnum):
    temperature = "temperature"
    isotonic = "isotonic"


class Rule(StrEnum):
    balanced = "balanced"
    fpr = "fpr"


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
    target_fpr: Annotated[float, typer.Option(
        "--target-fpr", min=0.0, max=1.0,
        help="With --threshold-rule fpr: the largest share of real images allowed to be called AI.")] = 0.05,
    band_halfwidth: Annotated[float, typer.Option("--band-halfwidth", min=0.0, max=1.0,
                                                  help="Uncertain band: threshold -/+ this.")] = 0.15,
    selective_accuracy: Annotated[float, typer.Option(
        "--selective-accuracy", min=0.0, max=1.0,
        help="Instead of --band-halfwidth: the narrowest band outside which your images are right at this rate "
             "(e.g. 0.95); 0 = off.")] = 0.0,
    backend: Annotated[Backend, typer.Option(help="Runtime that scores the images (auto: onnxruntime when the "
                                                  "checkpoint has a graph).")] = Backend.auto,
) -> None:
    """Refit a checkpoint's calibration, threshold and uncertain band on your own labelled images."""
    from ..evaluate.calibrate import CalibrationConfig
    from ..evaluate.recalibrate import RecalibrationError, recalibrate

    settings = CalibrationConfig(method=method.value, threshold_rule=threshold_rule.value,
                                 target_fpr=target_fpr, band_halfwidth=band_halfwidth,
                                 selective_accuracy=selective_accuracy)
    from ..models.checkpoint import CheckpointError, model_config

    try:
        before = model_config(model).get("calibration", {}).get("threshold")
    except (CheckpointError, ValueError, OSError) as exc:
        raise fail(f"--model: {exc}") from None
    try:
        cal = recalibrate(model, data, out, settings, backend=str(backend))
    except RecalibrationError as exc:
        raise fail(str(exc)) from None
    except ImportError as exc:  # isotonic fits need scikit-learn
        raise fail(f"{exc}") from None
    low, high = cal.uncertain_band
    # the warning itself is logged where the fit is made (training fits log it alike); here, where it is kept
    caveat = (f"; see the calibration warning above, also recorded in {out / 'config.json'} (calibration.extra."
              "warnings)" if cal.extra.get("warnings") else "")
    # beside the old operating point: an imported detector's 0.5 is the authors' rule, rarely right on new images
    was = f" (was {before:.4f})" if isinstance(before, int | float) else ""
    err.print(f"threshold {cal.threshold:.4f}{was}, uncertain band [{low:.4f}, {high:.4f}]; "
              f"{cal.fitted_on.split(';')[0]}; wrote {out}{caveat}")


__all__ = ["calibrate_cmd"]
