"""The HPBench questionnaire: the image pool, balanced sessions, answers stored before any label is revealed.

The pool comes from a manifest CSV with columns ``path,label,generator`` and optionally ``category``; paths are
relative to the manifest's folder; ``label`` is ``real``/``ai`` (``fake``, ``0``/``1`` also accepted). Rows
without a category count as ``uncategorized``; real photos all count as the generator ``camera``.
``../shared/data/manifest.csv`` works as it is (it has no category column).

Every image is shown as one square of the same side, re-encoded as PNG without metadata: neither its size, its
aspect ratio, its file format nor a generator's text chunk may give the answer away. Each pool item keeps the
SHA-256 of its file, so that the images the detector was fitted on (its checkpoint's training record) are marked
and left out of the person-versus-detector comparison.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import Integer, cast, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..data.parts import file_sha256
from ..detect import Detector
from ..imaging import icc_to_srgb, load_image
from .errors import ApiError
from .tables import SurveyAnswer, SurveyItem, SurveySession, SurveySessionItem

log = logging.getLogger(__name__)

CATEGORIES = ("animal", "flower", "humans", "landscape", "woman", "man", "record", "object")
UNCATEGORIZED = "uncategorized"
_LABELS = {"real": 0, "0": 0, "ai": 1, "fake": 1, "1": 1}
_rng = secrets.SystemRandom()  # a participant must not be able to predict the sequence


@dataclass(frozen=True)
class PoolRow:
    key: str
    path: Path
    label: int
    category: str
    generator: str


def read_pool(source: Path) -> list[PoolRow]:
    """Rows of a pool manifest (or of ``manifest.csv`` inside a folder); raises ``ValueError`` on a bad file."""
    manifest = source / "manifest.csv" if source.is_dir() else source
    with manifest.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
        rows = []
        for line, rec in enumerate(reader, start=2):
            label = _LABELS.get((rec.get("label") or "").strip().lower())
            if label is None:
                raise ValueError(f"{manifest}:{line}: label must be real or ai, got {rec.get('label')!r}")
            category = (rec.get("category") or "").strip().lower() or UNCATEGORIZED
            # Photos group as one "camera" generator (manifests may say camera:<make model>); the image key in the
            # export still leads back to the manifest row.
            generator = "camera" if label == 0 else (rec.get("generator") or "").strip() or "unknown"
            key = rec["path"].strip()
            rows.append(PoolRow(key, (manifest.parent / key).resolve(), label, category, generator))
    return rows


def sync_pool(session: Session, source: Path, detector: Detector) -> list[int]:
    """Make the pool table match the manifest (items keep their ids across restarts, so answers stay attached) and
    mark the items ``detector`` was fitted on. Returns the ids of the active items still to be scored by this
    detector (new, changed or scored by another model): :func:`score_items` does that, at start-up or behind it."""
    rows = read_pool(source)
    odd = sorted({r.category for r in rows} - {*CATEGORIES, UNCATEGORIZED})
    if odd:
        log.warning("pool categories outside HPBench's: %s", ", ".join(odd))
    existing = {item.key: item for item in session.scalars(select(SurveyItem))}
    session.execute(update(SurveyItem).values(active=False))
    for row in rows:
        item = existing.get(row.key)
        if item is None:
            item = SurveyItem(key=row.key)
            session.add(item)
        item.path, item.label, item.category, item.generator = str(row.path), row.label, row.category, row.generator
        item.active = row.path.is_file()
        if not item.active:
            log.warning("pool image missing: %s", row.key)
            continue
        digest = file_sha256(row.path)
        if digest != item.sha256:  # a replaced file: its old score belongs to other pixels
            item.sha256, item.detector_probability = digest, None
    session.flush()
    # Every item, inactive ones too (old sessions still show them), is marked for the detector loaded now. None:
    # its checkpoint does not record its training images (or the file was never read), so nobody can tell.
    trained_on = detector.trained_on
    for item in session.scalars(select(SurveyItem)):
        item.detector_trained = None if trained_on is None or item.sha256 is None else item.sha256 in trained_on
        if item.detector_model != detector.name:  # another model's score must never stand for this one's
            item.detector_probability = None
    session.commit()
    todo = [i.id for i in session.scalars(select(SurveyItem).where(SurveyItem.active,
                                                                  SurveyItem.detector_probability.is_(None)))]
    active = session.scalar(select(func.count()).select_from(SurveyItem).where(SurveyItem.active)) or 0
    seen = session.scalar(select(func.count()).select_from(SurveyItem)
                          .where(SurveyItem.active, SurveyItem.detector_trained.is_(True))) or 0
    log.info("questionnaire pool: %d active images, %d to score with %s (%s)", active, len(todo), detector.name,
             "the detector does not record its training images" if trained_on is None
             else f"{seen} of them in the detector's training data, left out of its comparison")
    return todo


def score_items(factory: sessionmaker[Session], detector: Detector, ids: list[int], *,
                stop: threading.Event | None = None, batch: int = 16) -> int:
    """Score the pool items ``ids`` with ``detector``, committing each batch (a restart keeps what was done) and
    logging progress. Stops between batches when ``stop`` is set. Returns how many were scored."""
    done = 0
    for start in range(0, len(ids), batch):
        if stop is not None and stop.is_set():
            break
        with factory() as session:
            items = list(session.scalars(select(SurveyItem).where(SurveyItem.id.in_(ids[start:start + batch]))))
            verdicts = detector.detect_many([Path(i.path) for i in items], batch_size=batch, workers=1)
            for item, verdict in zip(items, verdicts, strict=True):
                item.detector_model, item.detector_probability = detector.name, verdict.ai_probability
            session.commit()
        before, done = done, done + len(items)
        every = max(batch, len(ids) // 10)  # about ten progress lines per run, and the last
        if done == len(ids) or before // every != done // every:
            log.info("questionnaire pool: scored %d of %d images with %s", done, len(ids), detector.name)
    return done


def start_session(session: Session, length: int) -> SurveySession:
    """A new participant: ``length // 2`` real and as many AI images, drawn at random and shuffled."""
    reals = list(session.scalars(select(SurveyItem.id).where(SurveyItem.active, SurveyItem.label == 0)))
    fakes = list(session.scalars(select(SurveyItem.id).where(SurveyItem.active, SurveyItem.label == 1)))
    half = min(length // 2, len(reals), len(fakes))
    if half == 0:
        raise ApiError(503, "pool_empty", "the questionnaire has no image pool (set SENTRY_SURVEY_POOL)")
    chosen = _rng.sample(reals, half) + _rng.sample(fakes, half)
    _rng.shuffle(chosen)
    participant = SurveySession(token=secrets.token_urlsafe(24), item_count=len(chosen))
    session.add(participant)
    session.flush()
    session.add_all(SurveySessionItem(session_id=participant.id, position=i, item_id=item_id)
                    for i, item_id in enumerate(chosen))
    session.commit()
    return participant


def get_session(session: Session, token: str) -> SurveySession:
    found = session.scalar(select(SurveySession).where(SurveySession.token == token))
    if found is None:
        raise ApiError(404, "session_not_found", "no questionnaire session with this id")
    return found


def answered_positions(session: Session, participant: SurveySession) -> set[int]:
    return set(session.scalars(select(SurveyAnswer.position).where(SurveyAnswer.session_id == participant.id)))


def _complete(session: Session, participant: SurveySession) -> bool:
    """Mark the session finished with its score once every position has an answer, in the caller's transaction
    (nothing is committed here). True if it did."""
    if participant.finished_at is not None:
        return False
    answered, correct, last = session.execute(
        select(func.count(), func.sum(cast(SurveyAnswer.correct, Integer)), func.max(SurveyAnswer.answered_at))
        .where(SurveyAnswer.session_id == participant.id)).one()
    if answered < participant.item_count:
        return False
    participant.finished_at, participant.correct = last or datetime.now(UTC), int(correct or 0)
    return True


def settle(session: Session, participant: SurveySession) -> None:
    """Finish a session whose answers are all stored but that was never marked finished (a crash between the
    answer and the completion when they were two commits): every read repairs it, so neither the results nor the
    next step refuse it forever. Idempotent: two readers repairing at once write the same values."""
    if _complete(session, participant):
        session.commit()
        log.warning("questionnaire session %d had every answer but was not finished: repaired", participant.id)


def state(session: Session, participant: SurveySession) -> dict[str, Any]:
    """Progress only: how many answered and which position is next. No label, category or generator."""
    done = answered_positions(session, participant)
    if participant.finished_at is None and len(done) >= participant.item_count:
        settle(session, participant)
    following = next((p for p in range(participant.item_count) if p not in done), None)
    return {"session_id": participant.token, "item_count": participant.item_count, "answered": len(done),
            "next_position": following, "finished": participant.finished_at is not None}


def session_item(session: Session, participant: SurveySession, position: int) -> SurveyItem:
    item = session.scalar(select(SurveyItem).join(SurveySessionItem, SurveySessionItem.item_id == SurveyItem.id)
                          .where(SurveySessionItem.session_id == participant.id,
                                 SurveySessionItem.position == position))
    if item is None:
        raise ApiError(404, "item_not_found", f"this session has no position {position}")
    return item


@lru_cache(maxsize=64)
def display_png(path: str, side: int) -> bytes:
    """The image as shown to people: decoded safely, its largest centred square resized to ``side`` x ``side``,
    re-encoded as PNG without any metadata. Photos and AI images come in different sizes, aspect ratios (AI images
    are mostly square) and formats; one square size and one format for all leaves none of that to read."""
    rgb = _as_srgb(load_image(path).rgb)
    short = min(rgb.size)
    left, top = (rgb.width - short) // 2, (rgb.height - short) // 2
    # reducing_gap: a huge photo is first reduced by an integer factor (fast), then resampled with Lanczos
    rgb = rgb.resize((side, side), Image.Resampling.LANCZOS, box=(left, top, left + short, top + short),
                     reducing_gap=3.0)
    rgb.info = {}  # PIL writes a colour profile it finds here as an iCCP chunk: cameras embed them, generators not
    buf = io.BytesIO()
    rgb.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _as_srgb(rgb: Image.Image) -> Image.Image:
    """Pixels converted from the file's colour profile to sRGB (the shown PNG carries no profile, and browsers
    read such a PNG as sRGB); the pixels as they are when there is no profile or it cannot be read."""
    converted = icc_to_srgb(rgb) if rgb.info.get("icc_profile") else None
    return rgb if converted is None else converted


def record_answer(session: Session, participant: SurveySession, position: int, answer: int, confidence: int,
                  response_ms: int | None) -> dict[str, Any]:
    """Store one answer and, if it is the last one, the session's completion, in one transaction (committed before
    anything is returned): a crash leaves either both or neither. A second answer to a position is refused."""
    item = session_item(session, participant, position)
    # Answers to one session are stored one after the other (a row lock on PostgreSQL; SQLite has one writer at a
    # time anyway), so the one that completes the session counts every other: two last answers racing each
    # other would otherwise each miss the other's uncommitted row and neither would finish the session.
    session.execute(select(SurveySession).where(SurveySession.id == participant.id)
                    .with_for_update().execution_options(populate_existing=True))
    session.add(SurveyAnswer(session_id=participant.id, position=position, item_id=item.id, answer=answer,
                             confidence=confidence, correct=answer == item.label, response_ms=response_ms))
    try:
        session.flush()
    except IntegrityError:  # the unique (session, position) constraint: also catches two racing requests
        session.rollback()
        settle(session, participant)
        raise ApiError(409, "already_answered", f"position {position} is already answered") from None
    _complete(session, participant)
    session.commit()
    return {"stored": True, **state(session, participant)}
