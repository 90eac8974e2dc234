"""``sentry-image import``: turn a published detector's released checkpoint into our checkpoint folder.

The folder then goes wherever a model is named (``detect``, ``eval``, ``compare``, ``calibrate``), and keeps the
authors' preprocessing and operating point (threshold 0.5, no uncertain band) until it is recalibrated. Without a
folder of its own, ``--model import:FAMILY:FILE`` imports into the import cache on first use. Exit codes: 0
imported; 2 usage error (unknown family or protocol, missing file, a file of another family, torch missing), one
line on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import err, extra_hint, fail


def import_cmd(
    family: Annotated[str, typer.Argument(help="Detector family the file comes from, e.g. cnndetection or npr.")],
    file: Annotated[Path, typer.Argument(help="The checkpoint file its authors released (.pth, .pt or "
                                              ".safetensors).")],
    out: Annotated[Path, typer.Option("--out", help="New checkpoint folder to write (must not exist, or be "
                                                    "empty).")],
    backbone: Annotated[Path | None, typer.Option("--backbone", help="Separate backbone weights, for the "
                                                                     "families that need them.")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="The authors' test protocol to reproduce, "
                                                                    "where they used several (default: the "
                                                                    "first the family lists).")] = None,
) -> None:
    """Import a published detector's released checkpoint, to run it as its authors did."""
    try:
        from ..models.checkpoint import GRAPH, read_config
        from ..models.importers import ImportFailure, get_importer, import_checkpoint
    except ImportError as exc:
        raise fail(f"importing a published checkpoint needs torch: {extra_hint('train', exc)}") from None
    try:
        folder = import_checkpoint(family, file, out, backbone=backbone, protocol=protocol)
    except ImportFailure as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{out}: cannot write the checkpoint: {exc.strerror or exc}") from None
    record = read_config(folder)["imported"]
    runs_on = "onnx and torch" if (folder / GRAPH).is_file() else f"torch only ({record.get('onnx', '')})"
    err.print(f"imported {file.name} as {family} into {folder} (runs on {runs_on}); "
              f"licence: {get_importer(family).licence}")


__all__ = ["import_cmd"]
