"""``sentry-image compare``: train, evaluate and time several detectors in one run (the ``train`` extra)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from ._common import err, extra_hint, fail, log_to_console


def compare(
    config: Annotated[Path, typer.Argument(help="Comparison config (configs/comparisons/*.yaml).")],
    skip_trained: Annotated[bool, typer.Option(
        "--skip-trained", help="Reuse checkpoints that already exist (a crossval: its saved scores, to redo the "
                               "report).")]
    = False,
) -> None:
    """Train every detector of a comparison, evaluate all on the same split and suite, time them one after another;
    writes reports, the leaderboard, summary.json and a generated README into the config's ``out``.

    A config with ``kind: crossval`` (configs/comparisons/crossval.yaml) instead cross-validates the default's
    branches and fusion over source-, generator- and family-held-out folds on matched copies of every image.
    """
    from ..config import ConfigError, read_mapping

    try:
        from ..train.compare import load_compare_config, run_comparison
    except ImportError as exc:
        raise fail(f"comparisons train detectors: {extra_hint('train', exc)}") from None
    try:
        if config.is_file() and read_mapping(config).get("kind") == "crossval":
            from ..train.crossval import load_crossval_config, run_crossval

            crossval, fusion = load_crossval_config(config)
            log_to_console()
            run_crossval(crossval, fusion, command=f"sentry-image compare {shlex.quote(str(config))}",
                         reuse_scores=skip_trained)
            err.print(f"wrote {crossval.out}")
            return
        cfg = load_compare_config(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    log_to_console()
    command = f"sentry-image compare {shlex.quote(str(config))}" + (" --skip-trained" if skip_trained else "")
    summary = run_comparison(cfg, skip_trained=skip_trained, command=command)
    err.print(f"best: {summary['best']}; wrote {summary['config']['out']}")


__all__ = ["compare"]
