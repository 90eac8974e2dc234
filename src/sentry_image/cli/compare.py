"""``sentry-image compare``: train, evaluate and time several detectors in one run (the ``train`` extra).

A comparison writes its results into the config's ``out`` (``results/...`` for the shipped ones, which are
committed): a folder that already holds files is refused unless ``--overwrite`` (regenerate them) or
``--skip-trained`` (reuse what is there) says what to do with them.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from ._common import console_log, err, extra_hint, fail


def _check_out(out: str, overwrite: bool, skip_trained: bool) -> None:
    folder = Path(out)
    content = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if content and not (overwrite or skip_trained):
        shown = ", ".join(content[:4]) + (", ..." if len(content) > 4 else "")
        raise fail(f"out={out} already holds results ({shown}): pass --overwrite to regenerate them, "
                   f"--skip-trained to reuse what is there, or out=DIR to write elsewhere")


def compare(
    config: Annotated[Path, typer.Argument(help="Comparison config (configs/comparisons/*.yaml).")],
    overrides: Annotated[list[str] | None, typer.Argument(
        help="key=value overrides of the comparison config, e.g. out=reports/cv bootstrap=100", show_default=False)]
    = None,
    skip_trained: Annotated[bool, typer.Option(
        "--skip-trained", help="Reuse checkpoints that already exist (a crossval: its saved scores, to redo the "
                               "report).")]
    = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Regenerate the results in an `out` folder that already holds some (without it, or "
                            "--skip-trained, such a folder is refused).")]
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
    extra = [*(overrides or [])]
    # recorded in the results as the command that regenerates them, so with the flag that lets it do so
    command = " ".join(["sentry-image compare", *(shlex.quote(a) for a in [str(config), *extra])]
                       + (["--skip-trained"] if skip_trained else []) + (["--overwrite"] if overwrite else []))
    try:
        if config.is_file() and read_mapping(config).get("kind") == "crossval":
            from ..train.crossval import load_crossval_config, run_crossval

            crossval, fusion = load_crossval_config(config, extra)
            _check_out(crossval.out, overwrite, skip_trained)
            with console_log():
                run_crossval(crossval, fusion, command=command, reuse_scores=skip_trained)
            err.print(f"wrote {crossval.out}")
            return
        cfg = load_compare_config(config, extra)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    _check_out(cfg.out, overwrite, skip_trained)
    with console_log():
        summary = run_comparison(cfg, skip_trained=skip_trained, command=command)
    err.print(f"best: {summary['best']}; wrote {summary['config']['out']}")


__all__ = ["compare"]
