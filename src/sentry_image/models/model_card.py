"""``sentry-image export hub-folder``: a checkpoint as a folder ready to upload to the hub, with its model card.

The folder is the checkpoint itself (``config.json``, ``model.onnx``, ``model.safetensors`` and
``training_images.sha256`` when present; a fusion's branch folders the same way) plus ``README.md``, the model card
the hub shows: YAML front matter (licence, ``library_name``, tags) and what the config records (architecture,
preprocessing, threshold and uncertain band, calibration, metrics per split with their sizes, training data hash).
Whatever the card says is read from the config, so it cannot drift from the model. A folder with torch weights only
gets its ``model.onnx`` exported (the inference core runs graphs; that needs the ``train`` extra), so what is
uploaded loads with the core install. Uploaded, it loads as ``hf-hub:owner/name`` (:mod:`.hub`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data.preprocess import describe
from .checkpoint import CONFIG, GRAPH, WEIGHTS, model_config, read_config, resolve_model, write_config
from .fusion import ARCHITECTURE as FUSION
from .fusion import branch_specs
from .runtime import CheckpointError, model_id
from .training_record import RECORD, read_training_record

CARD = "README.md"
PLACEHOLDER = "OWNER/NAME"
SPLITS = ("out_of_fold", "test_split", "calibration_split")  # most telling first; others follow in config order


@dataclass
class HubFolder:
    """What :func:`export_hub_folder` wrote: the folder, the model's id, its files, and which graphs it exported."""

    folder: Path
    model: str
    files: list[str] = field(default_factory=list)
    exported: list[str] = field(default_factory=list)


def _copy_checkpoint(src: Path, dst: Path, rel: str, written: HubFolder) -> dict[str, Any]:
    """Copy one checkpoint folder (a fusion's branches recursively); returns its config."""
    config = read_config(src)
    dst.mkdir(parents=True, exist_ok=True)
    names = [CONFIG, RECORD]
    if config.get("architecture") != FUSION:
        if not (src / GRAPH).is_file() and not (src / WEIGHTS).is_file():
            raise CheckpointError(f"{src}: neither {GRAPH} nor {WEIGHTS}: not a checkpoint")
        names += [GRAPH, WEIGHTS]
    for name in names:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)  # follows the hub cache's symlinks: the folder holds real files
            written.files.append(f"{rel}{name}")
    if config.get("architecture") == FUSION:
        for spec in branch_specs(config, str(src)):
            _copy_checkpoint(src / str(spec["folder"]), dst / str(spec["folder"]), f"{rel}{spec['folder']}/", written)
    elif not (dst / GRAPH).is_file():
        from .export import export_onnx  # torch and onnx: the train extra

        export_onnx(src, dst / GRAPH)
        written.files.append(f"{rel}{GRAPH}")
        written.exported.append(f"{rel}{GRAPH}")
    return config


def export_hub_folder(model: str | Path | None, out: str | Path, *, repo_id: str | None = None) -> HubFolder:
    """Write ``model`` (anything :func:`~.checkpoint.load_model` takes) into the new folder ``out`` with a model card.

    ``repo_id`` (``owner/name``) fills the card's usage lines. The folder is built under a temporary name and
    renamed, so ``out`` never holds half a checkpoint. Raises ``ValueError`` when ``out`` exists and is not empty.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not empty: choose a new folder")
    source = resolve_model(model)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)  # a previous run's leftover under this run's own temporary name
    tmp.mkdir(parents=True)
    try:
        written = HubFolder(out, "")
        if source.is_file():  # a lone export: its config lives in its metadata; the folder gets both
            config = model_config(source)
            shutil.copyfile(source, tmp / GRAPH)
            write_config(tmp, config)
            written.files += [CONFIG, GRAPH]
        else:
            config = _copy_checkpoint(source, tmp, "", written)
        written.model = model_id(config)
        (tmp / CARD).write_text(model_card(config, tmp, repo_id=repo_id), encoding="utf-8")
        written.files.append(CARD)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _front_matter(config: dict[str, Any], folder: Path) -> str:
    licence = config.get("license") or config.get("licence")
    tags = ["ai-image-detection", "image-classification", "sentry-image", "onnx"]
    if any(folder.rglob(WEIGHTS)):
        tags.append("safetensors")
    if config.get("architecture") == FUSION:
        tags.append("fusion")
    meta = {"license": licence if isinstance(licence, str) and licence else "other",
            "library_name": "sentry-image", "pipeline_tag": "image-classification", "tags": tags}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _preprocessing(pre: dict[str, Any]) -> str:
    return f"{describe(pre)}; mean {pre.get('mean')}, std {pre.get('std')}"


def _model_section(config: dict[str, Any], folder: Path) -> list[str]:
    lines = ["## Model", "", f"- architecture: `{config['architecture']}`"
             + (f" with arguments `{config['args']}`" if config.get("args") else "")]
    if config.get("num_parameters"):
        lines.append(f"- parameters: {config['num_parameters']:,}")
    if config.get("architecture") != FUSION:
        return [*lines, f"- preprocessing: {_preprocessing(config['preprocessing'])}", ""]
    stacker = config.get("stacker") or {}
    lines += [f"- a fusion: the calibrated probability of `{_num(stacker.get('bias', 0.0), 4)} + sum(weight x branch "
              "logit)`; each branch is a checkpoint folder of its own", "",
              "| branch | folder | weight | architecture | preprocessing |", "|---|---|---|---|---|"]
    for spec in branch_specs(config, str(folder)):
        branch = read_config(folder / str(spec["folder"]))
        lines.append(f"| {spec['name']} | `{spec['folder']}/` | {_num(spec['weight'], 4)} | "
                     f"`{branch['architecture']}` | {_preprocessing(branch['preprocessing'])} |")
    return [*lines, ""]


def _decision_section(config: dict[str, Any]) -> list[str]:
    cal = config["calibration"]
    low, high = (cal.get("uncertain_band") or (None, None))[:2]
    bias = cal.get("bias", 0.0)
    bias_text = f"- {_num(-bias, 4)}" if isinstance(bias, int | float) and bias < 0 else f"+ {_num(bias, 4)}"
    how = ("isotonic map of the logit" if cal.get("isotonic") else
           f"sigmoid(logit / {_num(cal.get('temperature', 1.0), 4)} {bias_text})")
    return ["## Decision", "",
            f"- threshold: P(AI) >= {_num(cal.get('threshold'), 4)} says `ai-generated`",
            f"- uncertain band: {_num(low, 4)} to {_num(high, 4)} says `uncertain`",
            f"- calibration: {how}; {cal.get('method', 'not recorded')}",
            f"- calibrated on: {cal.get('fitted_on') or 'not recorded'}", ""]


def _metrics_section(config: dict[str, Any]) -> list[str]:
    metrics = config.get("metrics") or {}
    splits = [s for s in SPLITS if isinstance(metrics.get(s), dict)]
    splits += [s for s, v in metrics.items() if s not in splits and isinstance(v, dict) and "n" in v]
    if not splits:
        return ["## Recorded metrics", "", "None recorded in config.json.", ""]
    lines = ["## Recorded metrics", "", "As recorded in config.json when the model was fitted (accuracies at the "
             "stored threshold).", "", "| split | n (real / AI) | AUC | AP | EER | TPR at FPR 5% | TPR at FPR 1% | "
             "balanced accuracy | ECE |", "|---|---|---|---|---|---|---|---|---|"]
    for split in splits:
        m = metrics[split]
        accuracy = m.get("accuracy") if isinstance(m.get("accuracy"), dict) else {}
        lines.append(f"| {split} | {m.get('n', '-')} ({m.get('n_real', '-')} / {m.get('n_ai', '-')}) | "
                     f"{_num(m.get('auc'))} | {_num(m.get('ap'))} | {_num(m.get('eer'))} | "
                     f"{_num(m.get('tpr_at_fpr_0_05'))} | {_num(m.get('tpr_at_fpr_0_01'))} | "
                     f"{_num(accuracy.get('balanced'))} | {_num(m.get('ece'))} |")
    return [*lines, ""]


def _data_section(config: dict[str, Any], folder: Path) -> list[str]:
    record = read_training_record(folder)
    lines = ["## Training data", "",
             f"- SHA-256 of the training data: `{config.get('training_data_sha256') or 'not recorded'}`"]
    if record is None:
        lines.append(f"- images fitted on: not recorded (no {RECORD})")
    else:
        lines.append(f"- images fitted on: {len(record):,} SHA-256 digests of image files in `{RECORD}`; a score on "
                     "one of these images measures memory, not detection")
    notes = config.get("licence_notes") or config.get("license_notes")
    return [*lines, "", "## Licence", "", str(notes) if notes else "No licence notes recorded in config.json.", ""]


def model_card(config: dict[str, Any], folder: Path, *, repo_id: str | None = None) -> str:
    """The ``README.md`` of a hub folder: front matter and what ``config`` (and ``folder``'s files) record."""
    repo = repo_id or PLACEHOLDER
    name = model_id(config)
    usage = ["## Usage", "", "```bash", "pip install 'sentry-image[data]'   # huggingface_hub fetches the model",
             f"sentry-image detect --model hf-hub:{repo} image.jpg", "```", "", "```python",
             "from sentry_image import load_detector", "",
             f'detector = load_detector("hf-hub:{repo}")', 'verdict = detector.detect("image.jpg")',
             "print(verdict.verdict, verdict.ai_probability)", "```", "",
             f"A revision pins a version: `hf-hub:{repo}@<branch, tag or commit>`. Once downloaded the model loads "
             "from the hub cache, offline too.", ""]
    body = [f"# {name}", "",
            f"A detector of AI-generated images for sentry-image: `{config.get('name', config['architecture'])}` "
            f"version {config.get('version', '0')}. It gives each image a calibrated probability of being "
            "AI-generated and a verdict: `ai-generated`, `real` or `uncertain`.", "",
            *usage, *_model_section(config, folder), *_decision_section(config), *_metrics_section(config),
            *_data_section(config, folder)]
    return _front_matter(config, folder) + "\n" + "\n".join(body)


__all__ = ["HubFolder", "export_hub_folder", "model_card"]
