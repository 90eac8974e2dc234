"""``sentry-image models`` (shipped checkpoints and the registry), ``sentry-image export onnx`` and
``sentry-image export hub-folder``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._common import err, extra_hint, fail, rounded, table_console

export_app = typer.Typer(help="Export a detector to another runtime.", no_args_is_help=True)
PARITY_TOLERANCE = 1e-4  # on calibrated probabilities: what the README promises for the ONNX backend
SPLITS = ("out_of_fold", "test_split", "calibration_split")  # the metrics a checkpoint records, most telling first


def _checkpoint_row(name: str) -> dict[str, Any]:
    from ..models.checkpoint import model_config, model_id

    cfg = model_config(name)
    metrics = cfg.get("metrics") or {}
    return {"name": name, "model": model_id(cfg), "architecture": cfg["architecture"],
            "parameters": cfg.get("num_parameters"), "threshold": cfg["calibration"].get("threshold"),
            "metrics": {split: metrics[split] for split in SPLITS if isinstance(metrics.get(split), dict)}}


def _registry() -> list[dict[str, str]] | str:
    """The registered architectures, or why they cannot be listed (the families need torch: the train extra)."""
    try:
        from ..models.families import get_entry, list_detectors

        return [{"name": n, "family": get_entry(n).family, "description": get_entry(n).description}
                for n in list_detectors()]
    except ImportError as exc:
        return f"the architectures need the train extra to be built: {extra_hint('train', exc)}"


def _metric_text(metrics: dict[str, Any]) -> str:
    shown = []
    for split, values in metrics.items():
        auc = values.get("auc")
        label = split.removesuffix("_split").replace("_", "-")
        shown.append(f"{label}: AUC {auc:.3f}, n={values.get('n')}" if auc is not None
                     else f"{label}: n={values.get('n')}")
    return "; ".join(shown) or "-"


def models(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the shipped checkpoints (with the metrics they record) and the registered architectures."""
    from ..models.checkpoint import shipped_checkpoints

    shipped = [_checkpoint_row(name) for name in shipped_checkpoints()]
    registry = _registry()
    if as_json:
        typer.echo(json.dumps({"checkpoints": rounded(shipped), "architectures": registry}, indent=2))
        return
    out = table_console()
    table = Table(title="Shipped checkpoints")
    for col in ("name", "model", "architecture", "parameters", "threshold", "recorded metrics"):
        table.add_column(col)
    for s in shipped:
        table.add_row(s["name"], s["model"], s["architecture"], f"{s['parameters']:,}" if s["parameters"] else "-",
                      f"{s['threshold']:.3f}", _metric_text(s["metrics"]))
    out.print(table)
    if isinstance(registry, str):
        out.print(f"Registered architectures: {registry}", markup=False)
        return
    arch = Table(title="Registered architectures")
    for col in ("name", "family", "description"):
        arch.add_column(col)
    for e in registry:
        arch.add_row(e["name"], e["family"], e["description"])
    out.print(arch)


@export_app.command("onnx")
def export_onnx_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Shipped checkpoint name or folder.")] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Write the INT8 dynamically quantised graph: 4x smaller, but "
                                                      "not faster on CPU and far off torch (README).")] = False,
    opset: Annotated[int, typer.Option(min=13, max=21, help="ONNX opset.")] = 17,
) -> None:
    """Export a checkpoint to one self-contained ONNX file (dynamic batch; preprocessing and calibration inside)."""
    from ..models.checkpoint import CheckpointError

    try:
        from ..models.export import export_onnx
        from ..models.onnx import ExportError

        report = export_onnx(model, out, opset=opset, int8=int8)
    except ImportError as exc:
        raise fail(f"ONNX export needs torch and onnx: {extra_hint('train', exc)}") from None
    except (CheckpointError, ExportError, ValueError) as exc:
        raise fail(str(exc)) from None
    check = ("graph copied from the checkpoint" if report.max_prob_diff is None
             else f"max |p_onnx - p_torch| = {report.max_prob_diff:.2e} on a check batch")
    err.print(f"wrote {report.path} ({report.size_bytes / 1e6:.1f} MB, {report.model}); {check}")
    if report.max_prob_diff is not None and report.max_prob_diff > PARITY_TOLERANCE:
        err.print(f"[yellow]warning:[/yellow] probabilities differ from torch by more than {PARITY_TOLERANCE:g}"
                  + (" (INT8 trades accuracy for size)" if int8 else ""), markup=True)


@export_app.command("hub-folder")
def export_hub_folder_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to write (new or empty).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Shipped checkpoint name, checkpoint folder, "
                                                                    ".onnx file or hf-hub:owner/name.")] = None,
    repo: Annotated[str | None, typer.Option("--repo", metavar="OWNER/NAME",
                                             help="The hub repository it will be uploaded to (the model card's usage "
                                                  "lines; OWNER/NAME otherwise).")] = None,
) -> None:
    """Write a checkpoint as a folder ready to upload to the Hugging Face hub: its files and a model card
    (README.md). A folder with torch weights only gets its model.onnx exported (train extra)."""
    from ..models.checkpoint import CheckpointError
    from ..models.hub import parse_hub_ref
    from ..models.onnx import ExportError

    try:
        ref = parse_hub_ref(f"hf-hub:{repo}") if repo is not None else None
        if ref is not None and (ref.path or ref.revision):
            raise ValueError(f"--repo {repo}: expected owner/name")
        from ..models.model_card import export_hub_folder

        written = export_hub_folder(model, out, repo_id=repo)
    except ImportError as exc:
        raise fail(f"exporting a model.onnx needs torch and onnx: {extra_hint('train', exc)}") from None
    except (CheckpointError, ExportError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    exported = f"; exported {', '.join(written.exported)} from the torch weights" if written.exported else ""
    err.print(f"wrote {out} ({written.model}: {', '.join(written.files)}){exported}")
    err.print(f"upload it with: hf upload {repo or 'OWNER/NAME'} {out} .")


__all__ = ["export_app", "export_hub_folder_cmd", "export_onnx_cmd", "models"]
