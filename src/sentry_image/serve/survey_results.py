"""What a participant sees at the end, the researchers' CSV export and the admin totals.

The detector is compared with the participant only on the images it was not fitted on (its checkpoint's training
record, marked per pool item by the sync): on the others its score says how well it remembers them. Images whose
status is unknown (a checkpoint without a record) are compared, and the result says the record is missing.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from .errors import ApiError
from .questionnaire import settle
from .tables import SurveyAnswer, SurveyItem, SurveySession, iso_utc

BINS = 10
EXPORT_COLUMNS = ("session", "position", "image", "label", "category", "generator", "answer", "confidence",
                  "correct", "response_ms", "answered_at", "detector_model", "detector_probability",
                  "detector_trained")


def _share(hits: int, total: int) -> float | None:
    return None if total == 0 else round(hits / total, 4)


def _crowd_accuracy(session: Session, column: Any) -> dict[str, float | None]:
    """Accuracy of every stored answer, grouped by an item column (category or generator)."""
    rows = session.execute(select(column, func.count(), func.sum(cast(SurveyAnswer.correct, Integer)))
                           .join(SurveyItem, SurveyItem.id == SurveyAnswer.item_id).group_by(column))
    return {str(key): _share(int(hits or 0), int(total)) for key, total, hits in rows}


def results(session: Session, participant: SurveySession, threshold: float) -> dict[str, Any]:
    """Score, per-item truth, comparison with the crowd and with the detector (only once every answer is in)."""
    settle(session, participant)
    if participant.finished_at is None:
        raise ApiError(409, "not_finished", "answer every image first; results come at the end")
    answers = session.execute(select(SurveyAnswer, SurveyItem).join(SurveyItem, SurveyItem.id == SurveyAnswer.item_id)
                              .where(SurveyAnswer.session_id == participant.id).order_by(SurveyAnswer.position)).all()
    items: list[dict[str, Any]] = []
    groups: dict[str, defaultdict[str, list[dict[str, Any]]]] = {"category": defaultdict(list),
                                                                 "generator": defaultdict(list)}
    for ans, item in answers:
        det = item.detector_probability
        # None for an image the detector trained on: it counts in no detector figure
        det_correct = None if det is None or item.detector_trained else (det >= threshold) == (item.label == 1)
        row = {"position": ans.position, "truth": "ai" if item.label else "real",
               "answer": "ai" if ans.answer else "real", "confidence": ans.confidence, "correct": ans.correct,
               "category": item.category, "generator": item.generator,
               "detector_probability": None if det is None else round(det, 4), "detector_correct": det_correct,
               "detector_trained": item.detector_trained}
        items.append(row)
        groups["category"][item.category].append(row)
        groups["generator"][item.generator].append(row)
    crowd = {"category": _crowd_accuracy(session, SurveyItem.category),
             "generator": _crowd_accuracy(session, SurveyItem.generator)}
    breakdown: dict[str, dict[str, Any]] = {}
    for key, by in groups.items():
        breakdown[key] = {}
        for name, rows in sorted(by.items()):
            scored = [r for r in rows if r["detector_correct"] is not None]
            breakdown[key][name] = {"n": len(rows), "you": _share(sum(r["correct"] for r in rows), len(rows)),
                                    "crowd": crowd[key].get(name),
                                    "detector": _share(sum(bool(r["detector_correct"]) for r in scored), len(scored)),
                                    "detector_n": len(scored)}
    scores = [(c or 0) / n for c, n in session.execute(select(SurveySession.correct, SurveySession.item_count)
                                                 .where(SurveySession.finished_at.is_not(None)))]
    mine = (participant.correct or 0) / participant.item_count
    hist = [0] * BINS
    for s in scores:
        hist[min(int(s * BINS), BINS - 1)] += 1
    scored = [r for r in items if r["detector_correct"] is not None]
    return {
        "session_id": participant.token, "item_count": participant.item_count, "correct": participant.correct,
        "accuracy": round(mine, 4),
        "crowd": {"sessions": len(scores), "mean_accuracy": round(sum(scores) / len(scores), 4),
                  "histogram": hist, "bins": BINS,
                  "share_below_you": round(sum(s < mine for s in scores) / len(scores), 4)},
        "detector": _detector_summary(items, threshold),
        "by_category": breakdown["category"], "by_generator": breakdown["generator"], "items": items,
    }


def _detector_summary(items: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """The detector against the participant on the same images: those it did not train on and has a score for."""
    scored = [r for r in items if r["detector_correct"] is not None]
    return {"accuracy": _share(sum(bool(r["detector_correct"]) for r in scored), len(scored)),
            "you": _share(sum(bool(r["correct"]) for r in scored), len(scored)),
            "compared": len(scored), "trained_on": sum(r["detector_trained"] is True for r in items),
            "record_missing": any(r["detector_trained"] is None for r in items), "threshold": threshold}


def export_rows(session: Session) -> Iterator[str]:
    """Every stored answer as CSV lines (header first), streamed: sessions are pseudonymous numbers."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(EXPORT_COLUMNS)
    query = (select(SurveyAnswer, SurveyItem).join(SurveyItem, SurveyItem.id == SurveyAnswer.item_id)
             .order_by(SurveyAnswer.session_id, SurveyAnswer.position))
    for ans, item in session.execute(query).yield_per(500):
        writer.writerow([ans.session_id, ans.position, item.key, "ai" if item.label else "real", item.category,
                         item.generator, "ai" if ans.answer else "real", ans.confidence, int(ans.correct),
                         ans.response_ms, iso_utc(ans.answered_at), item.detector_model,
                         item.detector_probability,
                         "" if item.detector_trained is None else int(item.detector_trained)])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def totals(session: Session) -> dict[str, Any]:
    """Counts for the admin page."""
    def count(stmt: Any) -> int:
        return int(session.scalar(stmt) or 0)

    answers = count(select(func.count()).select_from(SurveyAnswer))
    correct = count(select(func.count()).select_from(SurveyAnswer).where(SurveyAnswer.correct))
    return {
        "sessions": count(select(func.count()).select_from(SurveySession)),
        "finished_sessions": count(select(func.count()).select_from(SurveySession)
                                   .where(SurveySession.finished_at.is_not(None))),
        "answers": answers, "human_accuracy": _share(correct, answers),
        "pool_images": count(select(func.count()).select_from(SurveyItem).where(SurveyItem.active)),
        "accuracy_by_category": _crowd_accuracy(session, SurveyItem.category),
    }
