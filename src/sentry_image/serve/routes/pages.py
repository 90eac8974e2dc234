"""Server-rendered pages: demo ``/``, ``/leaderboard``, ``/survey`` and ``/admin``. They work without JavaScript
(plain forms); the little JS in ``static/`` only adds drag-and-drop and response timing."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from ...detect import Detector
from .. import benchmarks as lb
from .. import questionnaire as q
from .. import survey_results
from ..deps import DetectorDep, SessionDep, SettingsDep, check_admin, find_team
from ..errors import ApiError
from ..explain import explain
from ..pictures import result_picture
from ..settings import Settings
from .detect import judge_and_draw

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=FsPath(__file__).resolve().parents[1] / "templates")


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def _demo(request: Request, detector: Detector, settings: Settings, **context: Any) -> HTMLResponse:
    low, high = detector.band
    return _page(request, "demo.html", model=detector.name, max_mb=settings.max_upload_bytes // 2**20,
                 band=(round(100 * low), round(100 * high)) if low < high else None, **context)


@router.get("/", response_class=HTMLResponse)
def demo(request: Request, detector: DetectorDep, settings: SettingsDep) -> HTMLResponse:
    return _demo(request, detector, settings)


@router.post("/", response_class=HTMLResponse)
async def demo_result(request: Request, detector: DetectorDep, settings: SettingsDep,
                      file: Annotated[UploadFile, File()]) -> HTMLResponse:
    draw = partial(result_picture, max_pixels=detector.max_pixels)
    verdict, picture = (await judge_and_draw(request, [file], detector, settings.max_upload_bytes, 1, draw))[0]
    row = verdict.to_dict()
    plain = explain(row, band=detector.band, metrics=detector.config.get("metrics"), provenance=detector.provenance)
    return _demo(request, detector, settings, verdict=row, plain=plain, picture=picture)


def _leaderboard(request: Request, session: Any, slug: str | None, status: int = 200, **extra: Any) -> HTMLResponse:
    benches = lb.list_benchmarks(session)
    bench = next((b for b in benches if b.slug == slug), benches[0] if benches else None)
    rows = lb.ranked_rows(session, bench) if bench is not None else []
    return _page(request, "leaderboard.html", status, benches=benches, bench=bench, rows=rows, **extra)


@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard(request: Request, session: SessionDep, benchmark: str | None = None) -> HTMLResponse:
    return _leaderboard(request, session, benchmark)


# A plain def (worker thread): the token lookup and the scoring are blocking database work.
@router.post("/leaderboard/submit", response_class=HTMLResponse)
def leaderboard_submit(
    request: Request, session: SessionDep, settings: SettingsDep,
    benchmark: Annotated[str, Form()], team_token: Annotated[str, Form()], file: Annotated[UploadFile, File()],
    threshold: Annotated[float, Form(ge=0.0, le=1.0)] = 0.5, method: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    try:
        team = find_team(session, team_token.strip())
        data = file.file.read(settings.max_submission_bytes + 1)
        if len(data) > settings.max_submission_bytes:
            raise ApiError(413, "csv_too_large", f"the CSV is over {settings.max_submission_bytes:,} bytes")
        sub = lb.submit(session, settings, lb.get_benchmark(session, benchmark), team, data, threshold=threshold,
                        method=method)
    except ApiError as exc:
        return _leaderboard(request, session, benchmark, exc.status, error=exc)
    return _leaderboard(request, session, benchmark, 201, scored=lb.public_row(sub))


@router.get("/survey", response_class=HTMLResponse)
def survey(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _page(request, "survey_start.html", length=settings.survey_length)


@router.post("/survey/start")
def survey_start(session: SessionDep, settings: SettingsDep) -> RedirectResponse:
    participant = q.start_session(session, settings.survey_length)
    return RedirectResponse(f"/survey/s/{participant.token}", status_code=303)


@router.get("/survey/s/{token}", response_class=HTMLResponse)
def survey_step(request: Request, token: str, session: SessionDep, detector: DetectorDep,
                settings: SettingsDep) -> HTMLResponse:
    participant = q.get_session(session, token)
    state = q.state(session, participant)  # also finishes a session left with every answer but no completion
    if state["finished"]:
        res = survey_results.results(session, participant, detector.threshold)
        return _page(request, "survey_results.html", res=res, model=detector.name)
    return _page(request, "survey_item.html", state=state, sid=token, side=settings.survey_side)


_CHOICES = {"real": 0, "ai": 1}
_CONFIDENCES = {str(c): c for c in range(1, 6)}


# Both choices arrive as plain strings: nothing is pre-selected, so a missing one is an ordinary mistake that gets
# the same page back with a message (and what was chosen kept), not a 422 JSON error.
@router.post("/survey/s/{token}", response_class=HTMLResponse)
def survey_answer(request: Request, token: str, session: SessionDep, settings: SettingsDep,
                  position: Annotated[int, Form(ge=0)], answer: Annotated[str, Form(max_length=10)] = "",
                  confidence: Annotated[str, Form(max_length=10)] = "",
                  response_ms: Annotated[int | None, Form(ge=0)] = None) -> Response:
    participant = q.get_session(session, token)
    choice, sure = _CHOICES.get(answer), _CONFIDENCES.get(confidence)
    if choice is None or sure is None:
        state = q.state(session, participant)
        if state["finished"]:
            return RedirectResponse(f"/survey/s/{token}", status_code=303)
        missing = [text for text, absent in (("whether the image is a real photo or AI-generated", choice is None),
                                             ("how sure you are", sure is None)) if absent]
        return _page(request, "survey_item.html", 422, state=state, sid=token, side=settings.survey_side,
                     error=f"Please choose {' and '.join(missing)}, then press Next.",
                     picked={"answer": answer, "confidence": confidence})
    try:
        q.record_answer(session, participant, position, choice, sure, response_ms)
    except ApiError as exc:
        if exc.code != "already_answered":  # a double click or a resent form: simply move on
            raise
    return RedirectResponse(f"/survey/s/{token}", status_code=303)


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request) -> HTMLResponse:
    return _page(request, "admin.html")


@router.post("/admin", response_class=HTMLResponse)
def admin_totals(request: Request, session: SessionDep, settings: SettingsDep, token: Annotated[str, Form()],
                 team_name: Annotated[str, Form(max_length=100)] = "") -> HTMLResponse:
    try:
        check_admin(settings, token)
    except ApiError as exc:
        return _page(request, "admin.html", exc.status, error=exc)
    created = None
    if team_name.strip():
        try:
            team, team_token = lb.create_team(session, team_name)
            created = {"name": team.name, "token": team_token}
        except ApiError as exc:
            return _page(request, "admin.html", exc.status, error=exc)
    benches = lb.list_benchmarks(session)  # with each one's shortcut audit: admin eyes only
    board = {"benchmarks": len(benches), "teams": lb.team_count(session), "submissions": lb.submission_count(session)}
    return _page(request, "admin.html", totals=survey_results.totals(session), board=board, created=created,
                 benches=benches)


@router.post("/admin/export.csv")
def admin_export(request: Request, settings: SettingsDep, token: Annotated[str, Form()]) -> Response:
    check_admin(settings, token)

    def lines() -> Iterator[str]:
        with request.app.state.sessions() as session:
            yield from survey_results.export_rows(session)

    return StreamingResponse(lines(), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="hpbench-answers.csv"'})
