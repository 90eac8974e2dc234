"""The MPBench protocol per subset, times a robustness grid of degradations -> :class:`EvalReport`.

Per subset (every AI subset against all real images of the evaluated rows, plus ``all``): accuracy on real, on
AI and overall at the checkpoint's stored threshold, AUC, AP, EER, TPR at 1 % and 5 % FPR, ECE, Brier and n, from
:mod:`.metrics`, with bootstrap intervals and a ``small`` flag per cell from :mod:`.uncertainty`. Each degradation
of :mod:`sentry_image.data.degrade` is applied alike to both classes, and the threshold is never refitted on the
evaluated data (it comes from the calibration split, see :mod:`.calibrate`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.manifest import ManifestRow, rows_hash
from ..data.sources import read_source
from ..data.splits import make_splits
from ..imaging import ImageError, load_image
from ..models.calibration import Calibration
from ..models.checkpoint import load_model
from ..models.runtime import Runner, Scorer, as_scorer, logits_for_images
from .metrics import summary
from .suites import BUILTIN, Condition, Suite, load_suite
from .uncertainty import IntervalConfig, annotate

log = logging.getLogger(__name__)
# the built-in conditions by name (the ``robustness`` suite); suites of any other conditions come from YAML
CONDITIONS: dict[str, Condition] = {c.name: c for c in BUILTIN["robustness"].conditions}
SUITES: dict[str, tuple[str, ...]] = {name: tuple(s.names) for name, s in BUILTIN.items()}
# (images done, images in all, images that failed to decode): called after each image
Progress = Callable[[int, int, int], None]


@dataclass
class EvalReport:
    """Everything one evaluation measured; the canonical JSON from which tables and pages are rendered.

    Attributes:
        model: ``name@version`` of the checkpoint; checkpoint: its folder; architecture, num_parameters,
            preprocessing, calibration: copied from its ``config.json``.
        data: what was evaluated (source spec, root and real images for subsets, split, subset key, row count and
            hash, skipped rows).
        suite, conditions: the degradation suite (name, or file) and its condition names, in order.
        condition_params: per condition, its op and parameters (``{"op": "jpeg", "quality": 75}``) as applied.
        results: ``results[condition][subset]`` -> metrics summary, with ``ci`` (bootstrap intervals) and
            ``small`` (too few images of a class to read) from :mod:`.uncertainty`.
        predictions: per evaluated row: path, label, subset, and ``p[condition]`` calibrated probabilities.
        throughput: ``images_per_s`` of the clean pass (decode + preprocessing + forward, one image at a time)
            and ``forward_images_per_s`` on a fixed 640x480 image (preprocessing + forward), with the backend.
        uncertainty: how the intervals were computed and the ``small`` rule (:meth:`IntervalConfig.record`);
            empty in reports written before intervals existed.
        created: when the evaluation finished (UTC, ISO 8601); empty in older reports.
    """

    model: str
    checkpoint: str
    architecture: str
    num_parameters: int
    preprocessing: dict[str, Any]
    calibration: dict[str, Any]
    data: dict[str, Any]
    suite: str
    conditions: list[str]
    results: dict[str, dict[str, dict[str, Any]]]
    predictions: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, Any] = field(default_factory=dict)
    condition_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    uncertainty: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @classmethod
    def read(cls, path: str | Path) -> EvalReport:
        """A ``report.json`` as ``eval`` wrote it."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def subset_of(row: ManifestRow, key: str) -> str:
    """The row's subset under ``key`` (``family``, ``generator``, ``source`` or any manifest column)."""
    value = getattr(row, key, None) if key in ("family", "generator", "source") else row.fields.get(key)
    return str(value or "unknown")


def subset_masks(labels: np.ndarray, subsets: Sequence[str]) -> dict[str, np.ndarray]:
    """``all`` plus one mask per AI subset: that subset's AI images and every real image (MPBench pairs)."""
    real = labels == 0
    masks = {"all": np.ones_like(real)}
    for name in sorted({s for s, y in zip(subsets, labels, strict=True) if y == 1}):
        masks[name] = real | (np.asarray(subsets) == name) & (labels == 1)
    return masks


def score_conditions(model: Runner | Scorer, calibration: Calibration, rows: Sequence[ManifestRow],
                     conditions: Sequence[Condition], progress: Progress | None = None
                     ) -> tuple[list[int], dict[str, np.ndarray], list[dict[str, str]], float]:
    """Calibrated probabilities per condition for the rows that decode; also the skipped rows and the
    clean-pass seconds (decode + degrade + preprocess + forward)."""
    kept: list[int] = []
    probs: dict[str, list[float]] = {c.name: [] for c in conditions}
    skipped: list[dict[str, str]] = []
    clean_seconds = 0.0
    for i, row in enumerate(rows):
        t0 = time.perf_counter()
        try:
            image = load_image(row.path).rgb
        except ImageError as exc:
            skipped.append({"path": row.rel_path, "error": f"{exc.code}: {exc.message}"})
            if progress is not None:
                progress(i + 1, len(rows), len(skipped))
            continue
        kept.append(i)
        for i_cond, condition in enumerate(conditions):
            logit = logits_for_images(model, [condition(image)])
            probs[condition.name].append(float(calibration.probability(logit)[0]))
            if i_cond == 0:  # the first condition (clean in every shipped suite) times decode + forward
                clean_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
        if progress is not None:
            progress(i + 1, len(rows), len(skipped))
    return kept, {c: np.asarray(v) for c, v in probs.items()}, skipped, clean_seconds


def _warn_one_class(labels: np.ndarray) -> None:
    n_real, n_ai = int((labels == 0).sum()), int((labels == 1).sum())
    if not n_real or not n_ai:
        log.warning("only %s images among the %d evaluated (no %s): AUC, AP, EER and TPR@FPR are undefined (n/a); "
                    "accuracy is reported alone. Pair AI subsets with real images (--real).",
                    "AI" if n_ai else "real", labels.size, "real" if n_ai else "AI")


def evaluate(model: Runner | Scorer, calibration: Calibration, rows: Sequence[ManifestRow], *,
             suite: str | Path | Suite = "robustness", subset_key: str = "family",
             intervals: IntervalConfig = IntervalConfig(), progress: Progress | None = None) -> dict[str, Any]:
    """Run the protocol; returns the ``results``, ``predictions``, ``throughput``, ``uncertainty`` and skip record
    of a report.

    ``suite``: a built-in name, a suite YAML path or a :class:`~.suites.Suite`. ``intervals``: bootstrap settings
    and the ``small`` rule. ``progress(done, total, failed)`` is called after each image.
    """
    chosen = load_suite(suite)
    conditions = chosen.names
    kept, probs, skipped, seconds = score_conditions(model, calibration, rows, chosen.conditions, progress)
    used = [rows[i] for i in kept]
    labels = np.array([int(r.label) for r in used], dtype=np.int64)
    _warn_one_class(labels)
    subsets = [subset_of(r, subset_key) for r in used]
    masks = subset_masks(labels, subsets)
    results = {c: {name: annotate(summary(labels[m], probs[c][m], calibration.threshold), labels[m], probs[c][m],
                                  calibration.threshold, intervals) for name, m in masks.items()}
               for c in conditions}
    predictions = {"path": [r.rel_path for r in used], "label": labels.tolist(), "subset": subsets,
                   "p": {c: [round(float(x), 6) for x in probs[c]] for c in conditions}}
    throughput = {"images_per_s": round(len(used) / max(seconds, 1e-9), 2)}
    return {"suite": chosen.name, "conditions": conditions, "condition_params": chosen.params(), "results": results,
            "predictions": predictions, "throughput": throughput, "skipped": skipped, "rows_sha256": rows_hash(used),
            "uncertainty": intervals.record()}


def fill_intervals(report: EvalReport, intervals: IntervalConfig | None = None) -> EvalReport:
    """``report``, completed in place: ``ci`` and ``small`` in every cell, computed from its stored predictions
    where a report written before intervals existed lacks them (cells that have them are kept as they are)."""
    cfg = intervals or IntervalConfig.from_record(report.uncertainty)
    pred = report.predictions
    if not pred.get("label") or all("ci" in cell for cells in report.results.values() for cell in cells.values()):
        return report
    labels = np.asarray(pred["label"], dtype=np.int64)
    masks = subset_masks(labels, pred["subset"])
    threshold = float(report.calibration["threshold"])
    for condition, cells in report.results.items():
        p = np.asarray(pred["p"][condition], dtype=np.float64)
        for name, cell in cells.items():
            if "ci" not in cell and name in masks:
                annotate(cell, labels[masks[name]], p[masks[name]], threshold, cfg)
    report.uncertainty = report.uncertainty or cfg.record() | {"added": "from the stored predictions"}
    return report


def measure_throughput(model: Runner | Scorer, repeats: int = 10, size: tuple[int, int] = (640, 480), *,
                       network_only: bool = False) -> float:
    """Images per second of preprocessing + forward on one fixed synthetic image (batch 1, median of repeats);
    with ``network_only``, of the network alone on that image already preprocessed.

    Independent of the evaluated files (their sizes vary), so detectors compare on equal terms on one machine.
    """
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    scorer = as_scorer(model)
    if network_only:
        x = scorer.prepare(image)
        call: Callable[[], object] = lambda: scorer.score([x])  # noqa: E731
    else:
        call = lambda: logits_for_images(scorer, [image])  # noqa: E731
    call()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return round(1.0 / float(np.median(times)), 2)


def read_data(data: str | Path | Sequence[ManifestRow], *, root: str | Path = ".",
              real: str | Path | None = None) -> list[ManifestRow]:
    """Rows to evaluate: given rows as they are, else a manifest, a labelled folder or published subset names
    (``subsets:A,B`` or bare names, under ``root``, paired with the ``real`` images) through
    :func:`sentry_image.data.sources.read_source`."""
    if not isinstance(data, str | Path):
        return list(data)
    return read_source(data, root=root, real=real)


def evaluate_checkpoint(model_ref: str | Path, data: str | Path | Sequence[ManifestRow], *,
                        suite: str | Path | Suite = "robustness", split: str = "all", split_seed: int | None = None,
                        subset_key: str = "family", backend: str = "auto", root: str | Path = ".",
                        real: str | Path | None = None, intervals: IntervalConfig = IntervalConfig(),
                        progress: Progress | None = None) -> EvalReport:
    """Load a checkpoint (folder or shipped name), pick the rows of ``data`` (``split``: ``all`` or a role of
    the source-grouped split) and run :func:`evaluate`. Refuses a test split that shares sources with training.

    ``data``: manifest rows, or a spec for :func:`read_data` (manifest, folder, or subset names with ``root``
    and ``real``). ``suite``: a built-in name, a suite YAML path or a :class:`~.suites.Suite`; it is checked
    before the model loads. ``split_seed=None`` uses the seed recorded in the checkpoint.
    ``backend``: as :func:`~sentry_image.models.checkpoint.load_model` takes it (``auto``: onnxruntime when the
    checkpoint has a graph); ``model_ref`` may also be an exported ``.onnx`` file. ``intervals`` and ``progress``:
    as :func:`evaluate` takes them.
    """
    chosen = load_suite(suite)
    rows = read_data(data, root=root, real=real)
    loaded = load_model(str(model_ref), backend)
    model, calibration, config = loaded.scorer, loaded.calibration, loaded.config
    recorded = config.get("split", {})
    if split != "all":
        fractions = config.get("training", {}).get("config", {}).get("data", {}).get("fractions", [0.6, 0.2, 0.2])
        seed = recorded.get("seed", 0) if split_seed is None else split_seed
        rows = list(make_splits(rows, fractions, seed)[split].rows)
        trained_on = set(recorded.get("train", {}).get("groups", []))
        overlap = trained_on & {r.folder for r in rows}
        if overlap:
            held = {r.folder for r in rows} - trained_on
            hint = ("use the seed it was trained with" if held else
                    "it trained on every source of this split: evaluate it on other data, --split all")
            raise ValueError(f"the {split} split shares sources with the checkpoint's training split: "
                             f"{sorted(overlap)[:5]} ({hint})")
    log.info("evaluating %s on %d images (%s suite, %s)", model_ref, len(rows), chosen.name, backend)
    out = evaluate(model, calibration, rows, suite=chosen, subset_key=subset_key, intervals=intervals,
                   progress=progress)
    out["throughput"]["forward_images_per_s"] = measure_throughput(model)
    out["throughput"]["backend"] = loaded.backend
    source = str(data) if isinstance(data, str | Path) else f"{len(rows)} rows given"
    return EvalReport(
        model=loaded.id, checkpoint=str(model_ref), architecture=config["architecture"],
        num_parameters=loaded.num_parameters,
        preprocessing=config["preprocessing"], calibration=config["calibration"],
        data={"source": source, "root": str(root), "real": str(real or ""), "split": split, "subset_key": subset_key,
              "n": len(out["predictions"]["label"]), "rows_sha256": out["rows_sha256"], "skipped": out["skipped"]},
        suite=chosen.name if chosen.source == "built-in" else f"{chosen.name} ({chosen.source})",
        conditions=out["conditions"], results=out["results"], predictions=out["predictions"],
        throughput=out["throughput"], condition_params=out["condition_params"], uncertainty=out["uncertainty"],
        created=datetime.now(UTC).isoformat(timespec="seconds"))


__all__ = ["CONDITIONS", "SUITES", "EvalReport", "Progress", "evaluate", "evaluate_checkpoint", "fill_intervals",
           "measure_throughput", "read_data", "subset_masks", "subset_of"]
