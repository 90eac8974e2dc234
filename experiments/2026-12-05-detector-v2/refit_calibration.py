"""Refit the shipped default's stacker and calibration with today's fusion code, from the out-of-fold logits that
``sentry-image compare configs/comparisons/crossval.yaml`` saved (``results/crossval/scores.npz``).

The crossval's grouped folds, views, seeds and probe fits are the fusion trainer's own, so its
``grouped/semantic/original`` logits are the out-of-fold logits ``sentry-image train configs/train/default.yaml``
computes (checked here against the AUC the trained checkpoint recorded). The training run that produced the shipped
weights predates the two-sided selective band; this applies the same fits the trainer now runs after its folds,
instead of repeating 26 minutes of training that would reproduce the same weights.

    .venv/bin/python experiments/2026-12-05-detector-v2/refit_calibration.py src/sentry_image/weights/default
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from sentry_image.data.sources import read_source
from sentry_image.data.splits import Split, folder_key
from sentry_image.evaluate.calibrate import ScoredSplit, fit_calibration
from sentry_image.train.fusion import _oof_metrics, stacker

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    folder = Path(sys.argv[1])
    config = json.loads((folder / "config.json").read_text())
    scores = np.load(ROOT / "results" / "crossval" / "scores.npz")
    rows = read_source(ROOT.parent / "shared" / "data" / "manifest.csv")
    y = np.array([int(r.label) for r in rows])
    assert np.array_equal(scores["labels"].astype(int), y)
    oof = np.stack([scores["grouped/semantic/original"], scores["grouped/lowlevel/original"].mean(1)], 1)
    recorded = config["metrics"]["out_of_fold"]["branch_auc"]
    weights, bias = stacker(oof, y)
    stacked = oof @ weights + bias
    c = config["training"]["config"]["calibration"]
    split = Split("calibration", tuple(rows), tuple(sorted({folder_key(r) for r in rows})),
                  f"out-of-fold scores of {config['folds']['k']} source-grouped folds")
    cal = fit_calibration(ScoredSplit(split, stacked), method=c["method"], rule=c["threshold_rule"],
                          target_fpr=c["target_fpr"], band_halfwidth=c["band_halfwidth"],
                          selective_accuracy=c["selective_accuracy"])
    metrics = _oof_metrics(y, oof, stacked, cal, rows)
    print("recorded branch AUC", recorded, "recomputed", metrics["branch_auc"])
    print("stacker", config["stacker"]["out_of_fold_weights"], config["stacker"]["bias"], "->", weights.tolist(), bias)
    assert abs(metrics["branch_auc"]["semantic"] - recorded["semantic"]) < 1e-4
    assert np.allclose(weights, config["stacker"]["out_of_fold_weights"], atol=1e-5)
    # the crossval initialised its low-level fold nets differently (since fixed), so keep the run's own branch AUCs;
    # the stacker dropped that branch either way
    metrics["branch_auc"] = recorded
    config["calibration"] = cal.to_dict()
    config["metrics"]["out_of_fold"] = metrics
    config["stacker"]["regions"] = "semantic" if weights[1] <= 0 else "lowlevel"
    config["split"] = {"seed": 0, "train": {"groups": sorted({folder_key(r) for r in rows})}}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print("threshold", cal.threshold, "band", cal.uncertain_band, "coverage", metrics["coverage"],
          "selective accuracy", metrics["selective_accuracy"], "accuracy", metrics["accuracy"])


if __name__ == "__main__":
    main()
