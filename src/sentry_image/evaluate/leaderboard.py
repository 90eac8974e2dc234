"""The results table: one row per evaluation report, rendered to ``leaderboard.json`` and ``leaderboard.md``.

Every row names the report it came from and when that report was written, so rows of a new run can be told apart
from older ones, and carries the bootstrap intervals of its AUC, AP and accuracy (reports written before intervals
existed get them from their stored predictions, with the same seed and settings as a new report). Writing refuses
nothing itself: whether an existing table may be replaced is the caller's decision (:func:`existing_leaderboard`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .protocol import EvalReport, fill_intervals
from .tables import fmt, markdown_table, note, preprocessing_summary, reference
from .uncertainty import interval_text

FILES = ("leaderboard.json", "leaderboard.md")
COLUMNS = ["model", "architecture", "parameters", "preprocessing", "auc", "ap", "accuracy", "auc_format_matched",
           "auc_mean_degraded", "auc_worst_degraded", "forward_images_per_s", "n", "data", "split", "suite",
           "checkpoint", "report", "report_written", "note"]


def existing_leaderboard(out: str | Path) -> list[Path]:
    """The leaderboard files already in ``out`` (writing there would replace them)."""
    return [Path(out) / name for name in FILES if (Path(out) / name).exists()]


def report_written(report: EvalReport, source: str | Path | None) -> tuple[str | None, str]:
    """When the report was written, and where that comes from: its own ``created`` record (``report``), else its
    file's modification time (``file``: reports written before the record existed), else ``(None, "unknown")``."""
    if report.created:
        return report.created, "report"
    if source is not None and Path(source).is_file():
        stamp = datetime.fromtimestamp(Path(source).stat().st_mtime, UTC).isoformat(timespec="seconds")
        return stamp, "file"
    return None, "unknown"


def leaderboard_rows(reports: Sequence[EvalReport], sources: Sequence[str | Path] | None = None
                     ) -> list[dict[str, Any]]:
    """One row per report, best clean AUC first; the mean and worst AUC are over the degraded conditions.

    ``sources``: the report files, one per report, named in each row with the time they were written.
    """
    if sources is not None and len(sources) != len(reports):
        raise ValueError(f"{len(sources)} report files named for {len(reports)} reports")
    rows = []
    for i, r in enumerate(reports):
        fill_intervals(r)
        ref = reference(r)
        clean = r.results[ref]["all"]
        ci = clean.get("ci", {})
        degraded = [float(r.results[c]["all"]["auc"]) for c in r.conditions
                    if c != ref and r.results[c]["all"].get("auc") is not None]
        source = None if sources is None else sources[i]
        written, written_from = report_written(r, source)
        rows.append({"model": r.model, "architecture": r.architecture, "parameters": r.num_parameters,
                     "preprocessing": preprocessing_summary(r.preprocessing), "data": r.data["source"],
                     "split": r.data["split"], "suite": r.suite, "n": clean["n"], "n_real": clean["n_real"],
                     "n_ai": clean["n_ai"], "auc": clean.get("auc"), "auc_ci": ci.get("auc"), "ap": clean.get("ap"),
                     "ap_ci": ci.get("ap"), "accuracy": clean["accuracy"]["overall"], "accuracy_ci": ci.get("accuracy"),
                     "ci_level": r.uncertainty.get("level"), "ci_replicates": r.uncertainty.get("replicates"),
                     "small": bool(note(r, clean)), "note": note(r, clean),
                     "auc_format_matched": r.results.get("format_matched", {}).get("all", {}).get("auc"),
                     "auc_mean_degraded": float(np.mean(degraded)) if degraded else None,
                     "auc_worst_degraded": float(np.min(degraded)) if degraded else None,
                     "checkpoint": r.checkpoint, "images_per_s": r.throughput.get("images_per_s"),
                     "forward_images_per_s": r.throughput.get("forward_images_per_s"),
                     "torch_threads": r.throughput.get("torch_threads"),
                     "report": None if source is None else str(source), "report_written": written,
                     "report_written_from": written_from})
    return sorted(rows, key=lambda row: -(row["auc"] or 0.0))


def _cell(key: str, row: dict[str, Any]) -> str:
    value = row.get(key)
    if key in ("auc", "ap", "accuracy"):
        return interval_text(value, row.get(f"{key}_ci"))
    if key == "parameters":
        return f"{value:,}"
    if key == "forward_images_per_s" and value is not None:
        return f"{value:.1f}"
    if key == "report_written":
        when = "unknown" if value is None else value.replace("T", " ").replace("+00:00", " UTC")
        return when + (" (file time)" if row.get("report_written_from") == "file" else "")
    return fmt(value) if isinstance(value, float) or value is None else str(value)


def _intervals_note(rows: list[dict[str, Any]]) -> str:
    levels = sorted({row["ci_level"] for row in rows if row.get("ci_replicates")})
    replicates = sorted({row["ci_replicates"] for row in rows if row.get("ci_replicates")})
    if not replicates:
        return "no intervals"
    return (f"{' or '.join(f'{v:.0%}' for v in levels)} percentile bootstrap intervals "
            f"({' or '.join(map(str, replicates))} replicates, real and AI images resampled separately, fixed seed)")


def write_leaderboard(paths: Sequence[str | Path], out: str | Path) -> list[Path]:
    """Regenerate ``leaderboard.json`` and ``leaderboard.md`` in ``out`` from report JSON files (replacing any
    there: check :func:`existing_leaderboard` first when that is not wanted)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = leaderboard_rows([EvalReport.read(p) for p in paths], list(paths))
    js = out / FILES[0]
    js.write_text(json.dumps({"sources": [str(p) for p in paths], "rows": rows}, indent=1) + "\n")
    table = [COLUMNS] + [[_cell(c, row) for c in COLUMNS] for row in rows]
    md = out / FILES[1]
    md.write_text("# Results (generated by `sentry-image leaderboard`; do not edit)\n\n" + markdown_table(table)
                  + "\n\nAUC columns: all subsets pooled; degraded = the suite's conditions other than clean (compare"
                  " rows of the same data, split and suite only); n/a: undefined (one class only);"
                  f" brackets: {_intervals_note(rows)}; note: n too small = fewer images of a class than the report's"
                  " minimum, read its figures as anecdotes;"
                  " forward images/s: preprocessing + forward of one fixed 640x480 image, batch 1, on the evaluating"
                  " CPU; report_written: when each report was written (file time: the report predates that record,"
                  " its file's modification time).\n")
    return [js, md]


__all__ = ["COLUMNS", "FILES", "existing_leaderboard", "leaderboard_rows", "report_written", "write_leaderboard"]
