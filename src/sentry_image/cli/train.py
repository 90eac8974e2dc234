"""``sentry-image train``: train a detector from a config (the ``train`` extra: torch, timm).

Exit codes follow the CLI contract: 0 success, 2 usage error (bad config key or type, missing data, missing extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID

from ._common import err, extra_hint, fail, log_to_console, progress


def train_cmd(
    config: Annotated[Path | None, typer.Argument(help="YAML config (configs/train/*.yaml); omit for defaults.")]
    = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides, e.g. optim.epochs=3",
                                                          show_default=False)] = None,
) -> None:
    """Train a detector from a config (defaults < YAML < key=value); writes a checkpoint folder.

    A config with ``kind: fusion`` (configs/train/default.yaml: the shipped default) trains two branches over
    source-grouped folds and fits their stacker and calibration on out-of-fold scores.

    Under torchrun (``torchrun --nproc-per-node N -m sentry_image.cli train CONFIG``) the processes share the
    global ``optim.batch_size``.
    """
    from ..config import ConfigError
    from ..data.manifest import ManifestError
    from ..data.sources import SourceError
    from ..train.config import load_config
    from ..train.fusion_config import is_fusion, load_fusion_config

    try:
        from ..train.fusion import train_fusion
        from ..train.run import train
    except ImportError as exc:
        raise fail(f"training needs torch: {extra_hint('train', exc)}") from None

    if config is not None and "=" in str(config) and not config.exists():
        overrides, config = [str(config), *(overrides or [])], None  # only overrides were given
    try:
        if is_fusion(config):
            fusion = load_fusion_config(config, overrides or [])
        else:
            cfg = load_config(config, overrides or [])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    log_to_console()
    if is_fusion(config):
        with progress(err.is_terminal, "training", failures=False) as bar:
            tasks: dict[str, TaskID] = {}

            def stage(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total)
                bar.update(tasks[name], completed=done, total=total)

            try:
                out = train_fusion(fusion, progress=stage)
            except (SourceError, ManifestError, ValueError) as exc:
                raise fail(str(exc)) from None
        err.print(f"checkpoint: {out}")
        return
    with progress(err.is_terminal, "training", failures=False) as bar:
        task = bar.add_task("training", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            out = train(cfg, on_step=step)
        except (ConfigError, SourceError, ManifestError) as exc:  # raised before any work starts
            raise fail(str(exc)) from None
    err.print(f"checkpoint: {out}")


__all__ = ["train_cmd"]
