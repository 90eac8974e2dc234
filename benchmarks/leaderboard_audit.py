"""Shortcut audit of a leaderboard benchmark built from the shared data: as uploaded, after stripping, after
re-encoding.

Draws ``--per-class`` real photos and as many AI images from ``manifest.csv`` with a fixed seed and registers them
through the service code (``serve.benchmarks.register_benchmark`` on a throw-away SQLite database and data folder,
default settings): once as they are (metadata stripped, pixels unchanged) and once with ``normalise=jpeg``. For
each it prints whether registration passes the audit limit and the audit itself: the figure (the strongest
cross-validated AUC of file facts alone, with its 95 % bootstrap interval), the AUC of each feature group, the
formats per class, and how many files carry metadata and generator metadata the provenance reader calls strong AI
evidence.

Usage: python benchmarks/leaderboard_audit.py [--data ../shared/data] [--per-class 40] [--seed 0]
Needs the service extra (SQLAlchemy, Alembic); reads the images in place, copies none.
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from sentry_image.serve.benchmarks import register_benchmark
from sentry_image.serve.db import make_engine, migrate, session_factory
from sentry_image.serve.errors import ApiError
from sentry_image.serve.settings import Settings


def sample(data: Path, per_class: int, seed: int) -> list[dict[str, str]]:
    """``per_class`` rows of each label, drawn without replacement with ``seed`` (manifest order, then the draw)."""
    with (data / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(seed)
    picked = []
    for label in ("real", "ai"):
        pool = [r for r in rows if r["label"] == label]
        picked += [pool[i] for i in rng.choice(len(pool), per_class, replace=False)]
    return picked


def labels_csv(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    buf.write("file,label,subset\n")
    for i, row in enumerate(rows):
        buf.write(f"{i:03d}-{Path(row['path']).name},{row['label']},{row['family']}\n")
    return buf.getvalue().encode()


def show(stage: str, report: dict[str, Any]) -> None:
    lo, hi = report["ci95"]
    features = ", ".join(f"{k} {v:.3f}" for k, v in sorted(report["features"].items(), key=lambda kv: -kv[1]))
    formats = ", ".join(f"{fmt} {n[0]}/{n[1]}" for fmt, n in sorted(report["formats"].items()))
    meta = report["metadata_files"]
    p_value = "" if report.get("p_value") is None else f", permutation p={report['p_value']:.2f}"
    print(f"  {stage:<18} AUC {report['auc']:.3f} [95% CI {lo:.3f}-{hi:.3f}{p_value}] strongest: "
          f"{report['strongest']}")
    print(f"  {'':<18} per feature: {features}")
    print(f"  {'':<18} formats real/ai: {formats}; files with metadata real {meta['real']}, ai {meta['ai']}; "
          f"generator metadata (strong AI evidence) {report['generator_metadata_files']}")


def register(settings: Settings, rows: list[dict[str, str]], data: Path, slug: str, normalise: str) -> dict[str, Any]:
    """Register once without ``force`` (to show the decision), and with it if refused (to get the figures)."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = session_factory(engine)
    images = [(f"{i:03d}-{Path(r['path']).name}", (data / r["path"]).read_bytes()) for i, r in enumerate(rows)]
    try:
        for force in (False, True):
            with sessions() as session:
                t0 = time.perf_counter()
                try:
                    bench = register_benchmark(session, settings, slug=f"{slug}-{int(force)}", title=slug,
                                               description="", labels_csv=labels_csv(rows), images=images,
                                               normalise=normalise, force=force)
                except ApiError as exc:
                    print(f"  registration refused ({exc.code}, {time.perf_counter() - t0:.1f} s): {exc.message}")
                    continue
                print(f"  registration {'forced' if force else 'accepted'} in {time.perf_counter() - t0:.1f} s")
                return dict(bench.audit or {})
    finally:
        engine.dispose()
    raise RuntimeError("registration failed even with force")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = sample(args.data, args.per_class, args.seed)
    with tempfile.TemporaryDirectory(prefix="leaderboard-audit-") as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/audit.db", data_dir=Path(tmp) / "data")
        print(f"{len(rows)} images ({args.per_class} real, {args.per_class} AI, seed {args.seed}); "
              f"limit {settings.audit_max_auc}; normalise=jpeg: {settings.normalise_side} px square, "
              f"quality {settings.normalise_quality}")
        print("normalise=none (metadata stripped, pixels unchanged):")
        stripped = register(settings, rows, args.data, "stripped", "none")
        show("as uploaded", stripped["uploaded"])
        show("after stripping", stripped["served"])
        print("normalise=jpeg (every image re-encoded alike):")
        show("after re-encoding", register(settings, rows, args.data, "jpeg", "jpeg")["served"])


if __name__ == "__main__":
    main()
