"""Leaderboard services: register a benchmark (admin), score a team's submission, import a report, rank rows.

Hidden labels stay in ``benchmark_images`` and in this module's scoring call; what leaves is ``scoring.score``'s
rounded aggregates. Image ids are handed out in a random order, so an id says nothing about the label either, and
the files themselves are served without their metadata (``served_images``), after a shortcut audit
(``shortcut_audit``) has measured what the remaining file facts give away.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import secrets
import shutil
import threading
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .errors import ApiError
from .scoring import SubmissionError, parse_predictions, score
from .served_images import MEDIA, NORMALISE, ensure_zip, prepare
from .settings import Settings
from .shortcut_audit import FileFacts, refusal_message, registration_audit
from .tables import Benchmark, BenchmarkImage, Submission, Team, iso_utc

log = logging.getLogger(__name__)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
LABEL_COLUMNS = ("file", "label", "subset")
_LABELS = {"real": 0, "0": 0, "ai": 1, "fake": 1, "1": 1}
_QUOTA_LOCK = threading.Lock()


def upload_name(upload: Any) -> str:
    """The client's file name without folders (``UploadFile``-like)."""
    return Path(str(upload.filename or "").replace("\\", "/")).name


def _read_labels(data: bytes) -> dict[str, tuple[int, str, str | None]]:
    """``file -> (label, subset, slice)`` from the admin's labels CSV (``file,label,subset[,slice]``)."""
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    except UnicodeDecodeError:
        raise ApiError(422, "labels_invalid", "the labels file is not UTF-8 CSV") from None
    out: dict[str, tuple[int, str, str | None]] = {}
    for line, rec in enumerate(rows, start=2):
        if any(rec.get(c) is None for c in LABEL_COLUMNS):
            raise ApiError(422, "labels_invalid", f"the labels CSV needs columns {','.join(LABEL_COLUMNS)}[,slice]")
        label = _LABELS.get(rec["label"].strip().lower())
        name = rec["file"].strip()
        if label is None or not name or name in out or not rec["subset"].strip():
            raise ApiError(422, "labels_invalid", f"labels line {line}: needs a new file name, label real|ai, a subset")
        out[name] = (label, rec["subset"].strip(), (rec.get("slice") or "").strip() or None)
    return out


def register_benchmark(session: Session, settings: Settings, *, slug: str, title: str, description: str,
                       labels_csv: bytes, images: list[tuple[str, bytes]], normalise: str = "none",
                       force: bool = False) -> Benchmark:
    """Store the images, stripped of metadata (or re-encoded: ``normalise="jpeg"``), under opaque ids, with their
    labels; every image must have exactly one label row. Refused with ``audit_failed`` when file facts alone
    predict the labels above ``settings.audit_max_auc``, unless ``force``."""
    if not SLUG.match(slug):
        raise ApiError(422, "invalid_slug", "slug: 2-63 characters of a-z, 0-9 and '-'")
    if normalise not in NORMALISE:
        raise ApiError(422, "invalid_normalise", f"normalise: one of {', '.join(NORMALISE)}")
    if session.scalar(select(Benchmark).where(Benchmark.slug == slug)) is not None:
        raise ApiError(409, "benchmark_exists", f"a benchmark named {slug} exists")
    if len(images) < settings.min_slice_size:  # the overall score of a tiny set would give its labels away
        raise ApiError(422, "too_few_images", f"a benchmark needs at least {settings.min_slice_size} images")
    labels = _read_labels(labels_csv)
    names = [name for name, _ in images]
    if len(set(names)) != len(names) or set(names) != set(labels):
        raise ApiError(422, "labels_mismatch", f"{len(set(names) ^ set(labels))} files are in only one of the "
                                               "images and the labels; each image needs exactly one labels row")
    if len({lab for lab, _, _ in labels.values()}) < 2:
        raise ApiError(422, "labels_invalid", "a benchmark needs both real and AI images")
    order = list(range(len(images)))
    secrets.SystemRandom().shuffle(order)
    folder = settings.data_dir / "benchmarks" / slug
    if folder.exists():
        shutil.rmtree(folder)  # left over from a registration that failed before its commit
    folder.mkdir(parents=True)
    bench = Benchmark(slug=slug, title=title[:200], description=description[:5000], image_count=len(images))
    session.add(bench)
    facts: dict[int, tuple[FileFacts, FileFacts, int]] = {}  # by upload position: the audit must not be random
    file_names: list[str] = []
    try:
        session.flush()
        for number, index in enumerate(order, start=1):
            name, data = images[index]
            # Written one by one, so only one served copy is in memory beside the uploads.
            served = prepare(name, data, normalise=normalise, side=settings.normalise_side,
                             quality=settings.normalise_quality, max_pixels=settings.max_pixels)
            media, ext = MEDIA[served.format]
            public_id = f"img-{number:05d}"
            (folder / f"{public_id}{ext}").write_bytes(served.data)
            label, subset, slice_ = labels[name]
            facts[index] = (served.uploaded, served.served, label)
            file_names.append(f"{public_id}{ext}")
            session.add(BenchmarkImage(benchmark_id=bench.id, public_id=public_id, file_name=f"{public_id}{ext}",
                                       media_type=media, label=label, subset=subset, slice=slice_))
        uploaded, served_facts, truth = zip(*(facts[i] for i in sorted(facts)), strict=True)
        bench.audit = registration_audit(list(uploaded), list(served_facts), list(truth),
                                         limit=settings.audit_max_auc, normalise=normalise, force=force)
        if not bench.audit["passed"] and not force:
            raise ApiError(422, "audit_failed", refusal_message(bench.audit))
        ensure_zip(folder, file_names)  # once, now: a download only streams the file
        session.commit()
    except BaseException:
        session.rollback()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    log.info("benchmark %s registered with %d images (audit AUC %s)", slug, len(images), bench.audit["served"]["auc"])
    return bench


def images_zip(session: Session, settings: Settings, bench: Benchmark) -> Path:
    """The benchmark's ZIP of every image (built on first use for benchmarks registered before it was kept)."""
    names = session.scalars(select(BenchmarkImage.file_name).where(BenchmarkImage.benchmark_id == bench.id)).all()
    return ensure_zip(settings.data_dir / "benchmarks" / bench.slug, list(names))


def get_benchmark(session: Session, slug: str) -> Benchmark:
    bench = session.scalar(select(Benchmark).where(Benchmark.slug == slug))
    if bench is None:
        raise ApiError(404, "benchmark_not_found", f"no benchmark named {slug[:64]}")
    return bench


def list_benchmarks(session: Session) -> list[Benchmark]:
    """Every benchmark, newest first."""
    return list(session.scalars(select(Benchmark).order_by(Benchmark.id.desc())))


def team_submissions(session: Session, team: Team) -> list[Submission]:
    return list(session.scalars(select(Submission).where(Submission.team_id == team.id).order_by(Submission.id)))


def team_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Team)) or 0)


def submission_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Submission)) or 0)


def image_ids(session: Session, bench: Benchmark) -> list[str]:
    return list(session.scalars(select(BenchmarkImage.public_id).where(BenchmarkImage.benchmark_id == bench.id)
                                .order_by(BenchmarkImage.public_id)))


def image_file(session: Session, settings: Settings, bench: Benchmark, public_id: str) -> tuple[Path, str]:
    img = session.scalar(select(BenchmarkImage).where(BenchmarkImage.benchmark_id == bench.id,
                                                      BenchmarkImage.public_id == public_id))
    if img is None:
        raise ApiError(404, "image_not_found", "no such image in this benchmark")
    return settings.data_dir / "benchmarks" / bench.slug / img.file_name, img.media_type


def create_team(session: Session, name: str) -> tuple[Team, str]:
    """A new team and its token (returned once; only its digest is stored)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ApiError(422, "invalid_team_name", "a team name has 1 to 100 characters")
    if session.scalar(select(Team).where(Team.name == name)) is not None:
        raise ApiError(409, "team_exists", "a team with this name exists")
    token = secrets.token_urlsafe(24)
    team = Team(name=name, token_sha256=hashlib.sha256(token.encode()).hexdigest())
    session.add(team)
    session.commit()
    return team, token


def submissions_today(session: Session, team: Team) -> int:
    start = datetime.combine(datetime.now(UTC).date(), time.min, tzinfo=UTC)
    return int(session.scalar(select(func.count()).select_from(Submission)
                              .where(Submission.team_id == team.id, Submission.created_at >= start)) or 0)


def submit(session: Session, settings: Settings, bench: Benchmark, team: Team, data: bytes, *, threshold: float,
           method: str) -> Submission:
    """Score a predictions CSV. A refused file changes nothing and does not count against the daily limit."""
    if not 0.0 <= threshold <= 1.0:
        raise ApiError(422, "invalid_threshold", "threshold must lie in [0, 1]")
    _check_quota(session, settings, team)  # early and cheap: no parsing for a team already at its limit
    images = session.execute(select(BenchmarkImage.public_id, BenchmarkImage.label, BenchmarkImage.subset,
                                    BenchmarkImage.slice).where(BenchmarkImage.benchmark_id == bench.id)).all()
    try:
        predictions = parse_predictions(data, {row.public_id for row in images})
    except SubmissionError as exc:
        session.rollback()
        raise ApiError(exc.status, exc.code, exc.message) from None
    metrics = score([r.label for r in images], [predictions[r.public_id] for r in images],
                    [r.subset for r in images], [r.slice for r in images], threshold=threshold,
                    min_slice=settings.min_slice_size, digits=settings.metric_digits)
    row = Submission(benchmark_id=bench.id, team_id=team.id, name=team.name, method=method.strip()[:200],
                     source="team", threshold=threshold, auc=metrics["overall"]["auc"], metrics=metrics,
                     file_sha256=hashlib.sha256(data).hexdigest())
    # Count and insert as one step, so parallel uploads cannot all pass the limit: the row lock covers several
    # server processes on PostgreSQL, the thread lock one process on SQLite (which ignores FOR UPDATE).
    with _QUOTA_LOCK:
        session.rollback()  # a fresh transaction: the count must see the other uploads' commits
        session.execute(select(Team.id).where(Team.id == team.id).with_for_update())
        _check_quota(session, settings, team)
        session.add(row)
        session.commit()
    log.info("submission %d scored for team %d on %s", row.id, team.id, bench.slug)
    return row


def _check_quota(session: Session, settings: Settings, team: Team) -> None:
    if submissions_today(session, team) >= settings.submissions_per_day:
        session.rollback()
        raise ApiError(429, "daily_limit", f"at most {settings.submissions_per_day} submissions per team per UTC day")


def add_report(session: Session, bench: Benchmark, report: dict[str, Any]) -> Submission:
    """Store a validated evaluation report (``scoring.import_report``) as a leaderboard row."""
    metrics = report["metrics"]
    row = Submission(benchmark_id=bench.id, team_id=None, name=report["model"], method=report["method"],
                     source="report", threshold=metrics["threshold"], auc=metrics["overall"].get("auc"),
                     metrics=metrics)
    session.add(row)
    session.commit()
    return row


def public_row(sub: Submission) -> dict[str, Any]:
    """A leaderboard row: name, method, date and the rounded aggregates (no file, no predictions)."""
    return {"name": sub.name, "method": sub.method, "source": sub.source, "submitted_at": iso_utc(sub.created_at),
            "threshold": sub.threshold, "metrics": sub.metrics}


def ranked_rows(session: Session, bench: Benchmark) -> list[dict[str, Any]]:
    """Each team's best submission (by AUC, earliest first on ties) and every imported report, best AUC first."""
    subs = session.scalars(select(Submission).where(Submission.benchmark_id == bench.id)
                           .order_by(Submission.created_at, Submission.id)).all()
    best: dict[int, Submission] = {}
    reports = []
    for sub in subs:
        if sub.team_id is None:
            reports.append(sub)
        elif sub.team_id not in best or (sub.auc or -1.0) > (best[sub.team_id].auc or -1.0):
            best[sub.team_id] = sub
    chosen = sorted([*best.values(), *reports], key=lambda s: (-(s.auc if s.auc is not None else -1.0), s.id))
    return [{"rank": i, **public_row(s)} for i, s in enumerate(chosen, start=1)]
