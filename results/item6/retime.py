"""Time every compared detector in one process (same load), re-render its report, summarise training times.

Run from the repository root after the evaluations: .venv/bin/python results/item6/retime.py
"""
import json
import sys
from pathlib import Path

import torch

from sentry_image.detect import resolve_model
from sentry_image.evaluate.protocol import measure_throughput
from sentry_image.evaluate.report import read_report, write_report
from sentry_image.models.checkpoint import load_checkpoint

torch.set_num_threads(1)  # one thread: the shared CPU is oversubscribed; spinning OpenMP threads distort timings
root = Path("results/item6")
training = {}
for folder in sorted(p for p in root.iterdir() if (p / "report.json").is_file()):
    report = read_report(folder / "report.json")
    model, _, config = load_checkpoint(resolve_model(report.checkpoint))
    report.throughput["forward_images_per_s"] = measure_throughput(model, repeats=20)
    report.throughput["torch_threads"] = torch.get_num_threads()
    write_report(report, folder)
    hist = config.get("training", {}).get("history")
    if hist:
        training[folder.name] = {"epochs": len(hist), "seconds_per_epoch": [h["seconds"] for h in hist],
                                 "final_train_loss": hist[-1]["loss"], "world_size": config["training"]["world_size"]}
    else:
        training[folder.name] = {"runtime_s": config.get("training", {}).get("runtime_s"),
                                 "recipe": "python -m sentry_image.train.default (feature extraction + L-BFGS head)"}
    print(folder.name, report.throughput, file=sys.stderr)
(root / "training.json").write_text(json.dumps(training, indent=1) + "\n")
