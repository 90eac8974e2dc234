"""Compare detectors in one run: train each from its config, evaluate all on the same test split, time them alike.

    sentry-image compare configs/comparisons/default.yaml [--skip-trained]

Steps, in one process: train every detector of the comparison config through :func:`~sentry_image.train.run.train`
(``--skip-trained`` reuses a checkpoint that already exists), evaluate each and every reference checkpoint with the
robustness suite on the same source-held-out split (the runner refuses reports whose rows differ), then time all of
them one after another: the detect path over the evaluated files, preprocessing + forward on a fixed image, and the
network alone. Writes each report, the leaderboard, ``summary.json`` and a generated ``README.md`` into ``out``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError, build, load_layers, resolve_path
from ..data.sources import read_source
from ..evaluate.protocol import EvalReport, evaluate_checkpoint, measure_throughput
from ..evaluate.report import write_leaderboard, write_report
from ..models.checkpoint import CONFIG, WEIGHTS
from .compare_summary import render_readme, summary_rows
from .config import load_config
from .run import train

log = logging.getLogger(__name__)


@dataclass
class Entry:
    """One compared detector: trained from ``config`` (with ``overrides``), or an existing checkpoint ``model``.

    Attributes:
        name: folder of its report under the comparison's ``out``.
        config: training config (``configs/train/*.yaml``); its ``out`` is the checkpoint folder.
        overrides: ``key=value`` overrides of the training config.
        model: an existing checkpoint folder or shipped name, evaluated without training (a reference).
    """

    name: str
    config: str = ""
    overrides: list[str] = field(default_factory=list)
    model: str = ""


@dataclass
class CompareConfig:
    """A comparison: what to train, the evaluation every detector gets, and where the results go.

    Attributes:
        out: results folder (one sub-folder per detector, the leaderboard, summary.json and README.md).
        data: manifest CSV, labelled folder, or published subset names (``subsets:A,B``, read under ``root``
            and paired with the ``real`` photos) the split is drawn from.
        split: role of the source-grouped split evaluated (``test``); split_seed: its seed.
        suite: degradation suite (``robustness``: the whole grid); subset_key: manifest column of the subsets.
        repeats: timed repetitions of the fixed-input throughput measures.
        torch_threads: threads of the whole run (0: torch's default), recorded beside every rate.
        detectors: entries trained here; references: existing checkpoints evaluated beside them.
    """

    out: str
    data: str
    split: str = "test"
    split_seed: int = 0
    suite: str = "robustness"
    subset_key: str = "family"
    root: str = "."
    real: str = ""
    repeats: int = 20
    torch_threads: int = 0
    detectors: list[Entry] = field(default_factory=list)
    references: list[Entry] = field(default_factory=list)


def load_compare_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> CompareConfig:
    """Read a comparison config (YAML < ``key=value`` overrides); unknown, missing or mistyped keys and entries
    without a config or model are refused."""
    try:
        cfg = build(CompareConfig, load_layers(path, overrides))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for kind, entries in (("detectors", cfg.detectors), ("references", cfg.references)):
        for i, entry in enumerate(entries):
            if bool(entry.config) == bool(entry.model):
                raise ConfigError(f"{path}: {kind}[{i}] ({entry.name}): needs exactly one of config or model")
            entry.config = resolve_path(entry.config, Path(path).parent)  # from the repository root or beside
    for entry in cfg.detectors:
        load_config(entry.config, entry.overrides)  # a typo fails now, not after the first detector has trained
    return cfg


def _trained(entry: Entry, skip_trained: bool) -> tuple[Path, dict[str, Any]]:
    """Train one detector (or reuse its checkpoint); returns the folder and its training record."""
    tcfg = load_config(entry.config, entry.overrides)
    out = Path(tcfg.out)
    if skip_trained and (out / WEIGHTS).is_file() and (out / CONFIG).is_file():
        log.info("%s: reusing %s", entry.name, out)
        wall = None
    else:
        t0 = time.perf_counter()
        train(tcfg)
        wall = round(time.perf_counter() - t0, 1)
        log.info("%s: trained in %.0f s", entry.name, wall)
    history = json.loads((out / CONFIG).read_text()).get("training", {}).get("history", [])
    return out, {"config": entry.config, "overrides": entry.overrides, "optimizer": tcfg.optim.optimizer,
                 "epochs": len(history), "seconds_per_epoch": [h.get("seconds") for h in history],
                 "images_per_epoch": [h.get("images") for h in history], "train_wall_seconds": wall,
                 "final_loss": history[-1].get("loss") if history else None}


def _load_average() -> float | None:
    """The 1-minute load average (other work on a shared machine slows every rate measured here)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def time_detector(checkpoint: str | Path, paths: list[Path], repeats: int) -> dict[str, Any]:
    """The three rates of one detector: detect path over ``paths``, preprocessing + forward, network alone."""
    from ..detect import load_detector

    detector = load_detector(checkpoint)
    list(detector.detect_many(paths[:4]))  # warm-up: first calls allocate and pick kernels
    t0 = time.perf_counter()
    verdicts = list(detector.detect_many(paths))
    seconds = time.perf_counter() - t0
    runner = detector.model.scorer
    return {"detect_images_per_s": round(len(verdicts) / max(seconds, 1e-9), 2),
            "forward_images_per_s": measure_throughput(runner, repeats=repeats),
            "network_images_per_s": measure_throughput(runner, repeats=repeats, network_only=True),
            "backend": detector.backend, "torch_threads": torch.get_num_threads()}


def run_comparison(cfg: CompareConfig, *, skip_trained: bool = False, command: str = "") -> dict[str, Any]:
    """Train, evaluate and time every detector of ``cfg``; write the results folder and return the summary.

    ``command`` is the command line recorded in the summary and the generated README.
    """
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    start, load_before = time.perf_counter(), _load_average()
    out = Path(cfg.out)
    checkpoints: dict[str, str] = {}
    training: dict[str, dict[str, Any]] = {}
    for entry in cfg.detectors:
        folder, training[entry.name] = _trained(entry, skip_trained)
        checkpoints[entry.name] = str(folder)
    for entry in cfg.references:
        checkpoints[entry.name] = entry.model
    reports: dict[str, EvalReport] = {}
    for name, ckpt in checkpoints.items():
        reports[name] = evaluate_checkpoint(ckpt, cfg.data, suite=cfg.suite, split=cfg.split,
                                            split_seed=cfg.split_seed, subset_key=cfg.subset_key, root=cfg.root,
                                            real=cfg.real or None)
        log.info("%s: clean AUC %.3f", name, reports[name].results["clean"]["all"].get("auc", float("nan")))
    hashes = {r.data["rows_sha256"] for r in reports.values()}
    if len(hashes) != 1:
        raise ValueError(f"the detectors were not evaluated on the same rows ({len(hashes)} different row sets)")
    by_rel = {r.rel_path: r.path for r in read_source(cfg.data, root=cfg.root, real=cfg.real or None)}
    paths = [by_rel[p] for p in next(iter(reports.values())).predictions["path"]]
    for name, ckpt in checkpoints.items():  # one after another, after all training, under the same load
        reports[name].throughput.update(time_detector(ckpt, paths, cfg.repeats))
        log.info("%s: %s", name, reports[name].throughput)
    written = []
    for name, report in reports.items():
        write_report(report, out / name)
        written.append(out / name / "report.json")
    write_leaderboard(written, out)
    table = summary_rows(reports, training)
    # a comparison of references only (published detectors beside the default) selects nothing
    best = max((r for r in table if r["name"] in training), key=lambda r: r["selection_score"], default=None)
    summary = {"command": command, "config": asdict(cfg), "detectors": table,
               "best": None if best is None else best["name"],
               "selection": "highest mean of clean AUC and mean AUC over the degraded conditions, among the "
                            "detectors trained in this run (calibration and thresholds come from the calibration "
                            "split; nothing is tuned on the evaluated split)",
               "evaluated_rows_sha256": hashes.pop(), "n_images": len(paths), "torch_threads": torch.get_num_threads(),
               "cpu_count": os.cpu_count(), "load_average_before": load_before, "load_average_after": _load_average(),
               "wall_seconds": round(time.perf_counter() - start, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "README.md").write_text(render_readme(summary))
    return summary


__all__ = ["CompareConfig", "Entry", "load_compare_config", "run_comparison", "time_detector"]
