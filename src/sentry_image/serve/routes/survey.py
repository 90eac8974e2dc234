"""Questionnaire API under ``/api/v1/survey``: sessions, images, answers, results; export and totals (admin).

No response before ``/results`` carries a label, category, generator or detector score: an image's truth is
computed from the database only after its answer is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from .. import questionnaire as q
from .. import survey_results
from ..deps import AdminDep, DetectorDep, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1/survey", tags=["survey"])
Position = Annotated[int, Path(ge=0, le=10_000)]


class AnswerIn(BaseModel):
    position: int = Field(ge=0, le=10_000)
    answer: Literal["real", "ai"]
    confidence: int = Field(ge=1, le=5, description="1 = guessing ... 5 = certain")
    response_ms: int | None = Field(None, ge=0, le=24 * 3600 * 1000)


@router.post("/sessions", status_code=201)
def start(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Start a questionnaire: a balanced random sequence of real and AI images. Keep ``session_id`` secret."""
    participant = q.start_session(session, settings.survey_length)
    return q.state(session, participant)


@router.get("/sessions/{session_id}")
def progress(session_id: str, session: SessionDep) -> dict[str, Any]:
    """How far the session is (no labels)."""
    return q.state(session, q.get_session(session, session_id))


@router.get("/sessions/{session_id}/items/{position}/image", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def item_image(session_id: str, position: Position, session: SessionDep, settings: SettingsDep) -> Response:
    """The image at ``position`` as a metadata-free PNG square of one size for every image (its name, format,
    size, aspect ratio and metadata would give it away)."""
    item = q.session_item(session, q.get_session(session, session_id), position)
    png = q.display_png(item.path, settings.survey_side)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/sessions/{session_id}/answers", status_code=201)
def answer(session_id: str, body: AnswerIn, session: SessionDep) -> dict[str, Any]:
    """Store one answer. ``409 already_answered`` for a second answer to the same position."""
    participant = q.get_session(session, session_id)
    return q.record_answer(session, participant, body.position, 1 if body.answer == "ai" else 0, body.confidence,
                           body.response_ms)


@router.get("/sessions/{session_id}/results")
def results(session_id: str, session: SessionDep, detector: DetectorDep) -> dict[str, Any]:
    """Once every image is answered: your score, the truth per image, the crowd, and the detector on those of them
    it did not train on (``detector.compared`` says how many; ``detector.trained_on`` how many were left out)."""
    return survey_results.results(session, q.get_session(session, session_id), detector.threshold)


@router.get("/export.csv", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def export(request: Request, _admin: AdminDep) -> StreamingResponse:
    """Every answer with its image's truth, for researchers (admin token)."""

    def lines() -> Iterator[str]:  # its own session: the request's one is closed before the body streams
        with request.app.state.sessions() as session:
            yield from survey_results.export_rows(session)

    return StreamingResponse(lines(), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="hpbench-answers.csv"'})


@router.get("/totals")
def totals(session: SessionDep, _admin: AdminDep) -> dict[str, Any]:
    """Counts of sessions, answers and accuracy (admin token)."""
    return survey_results.totals(session)
