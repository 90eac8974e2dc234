"""Leaderboard API under ``/api/v1/leaderboard``: public benchmarks and rows; team submissions; admin actions."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, File, Form, UploadFile
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel, Field

from .. import benchmarks as svc
from ..deps import AdminDep, SessionDep, SettingsDep, TeamDep
from ..errors import ApiError
from ..scoring import SubmissionError, import_report
from ..tables import iso_utc

# Every route here is a plain ``def``: FastAPI runs it on a worker thread, so its blocking database work (pool
# checkout, row locks) can never stall the event loop and with it every other client. Uploads are read from their
# spooled files (``upload.file``) for the same reason.
router = APIRouter(prefix="/api/v1/leaderboard", tags=["leaderboard"])


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


def _bench_info(bench: Any) -> dict[str, Any]:
    return {"slug": bench.slug, "title": bench.title, "description": bench.description,
            "image_count": bench.image_count, "created_at": iso_utc(bench.created_at)}


@router.get("/benchmarks")
def list_benchmarks(session: SessionDep) -> list[dict[str, Any]]:
    """Every benchmark, newest first."""
    return [_bench_info(b) for b in svc.list_benchmarks(session)]


@router.get("/benchmarks/{slug}")
def benchmark(slug: str, session: SessionDep) -> dict[str, Any]:
    """A benchmark and its image ids (never their labels or subsets)."""
    bench = svc.get_benchmark(session, slug)
    return {**_bench_info(bench), "image_ids": svc.image_ids(session, bench)}


@router.get("/benchmarks/{slug}/rows")
def rows(slug: str, session: SessionDep) -> list[dict[str, Any]]:
    """The ranked leaderboard: each team's best submission and the imported reports."""
    return svc.ranked_rows(session, svc.get_benchmark(session, slug))


@router.get("/benchmarks/{slug}/images/{image_id}")
def image(slug: str, image_id: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """One benchmark image under its opaque id, as served since registration: metadata stripped, pixels unchanged."""
    path, media = svc.image_file(session, settings, svc.get_benchmark(session, slug), image_id)
    return FileResponse(path, media_type=media, filename=path.name)


@router.get("/benchmarks/{slug}/images.zip")
def images_zip(slug: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """All images of a benchmark in one ZIP (stored, not recompressed), written once at registration."""
    bench = svc.get_benchmark(session, slug)
    return FileResponse(svc.images_zip(session, settings, bench), media_type="application/zip",
                        filename=f"{bench.slug}-images.zip")


@router.get("/benchmarks/{slug}/template.csv", response_class=PlainTextResponse)
def template(slug: str, session: SessionDep) -> PlainTextResponse:
    """A predictions CSV to fill in: the header and every image id, with an empty ``ai_probability``."""
    ids = svc.image_ids(session, svc.get_benchmark(session, slug))
    return PlainTextResponse("image_id,ai_probability\n" + "".join(f"{i},\n" for i in ids), media_type="text/csv")


@router.post("/benchmarks/{slug}/submissions", status_code=201)
def submit(
    slug: str, session: SessionDep, settings: SettingsDep, team: TeamDep,
    file: Annotated[UploadFile, File(description="CSV with columns image_id,ai_probability; one row per image.")],
    threshold: Annotated[float, Form(ge=0.0, le=1.0, description="Your own operating threshold.")] = 0.5,
    method: Annotated[str, Form(max_length=200, description="A short name of your method.")] = "",
) -> dict[str, Any]:
    """Score your predictions on the hidden labels. Returns rounded aggregate metrics only."""
    bench = svc.get_benchmark(session, slug)
    data = file.file.read(settings.max_submission_bytes + 1)
    if len(data) > settings.max_submission_bytes:
        raise ApiError(413, "csv_too_large", f"the CSV is over {settings.max_submission_bytes:,} bytes")
    sub = svc.submit(session, settings, bench, team, data, threshold=threshold, method=method)
    return {"id": sub.id, **svc.public_row(sub),
            "remaining_today": settings.submissions_per_day - svc.submissions_today(session, team)}


@router.get("/submissions")
def my_submissions(session: SessionDep, team: TeamDep) -> list[dict[str, Any]]:
    """Your team's own submissions (never another team's)."""
    return [{"id": s.id, **svc.public_row(s)} for s in svc.team_submissions(session, team)]


# -- admin ------------------------------------------------------------------------------------------------------
@router.post("/teams", status_code=201)
def create_team(body: TeamIn, session: SessionDep, _admin: AdminDep) -> dict[str, str]:
    """Register a team; its token is shown this once."""
    team, token = svc.create_team(session, body.name)
    return {"name": team.name, "token": token}


@router.post("/benchmarks", status_code=201)
def register(
    session: SessionDep, settings: SettingsDep, _admin: AdminDep,
    slug: Annotated[str, Form()], title: Annotated[str, Form()],
    labels: Annotated[UploadFile, File(description="CSV file,label,subset[,slice]; label real|ai. Kept hidden.")],
    images: Annotated[list[UploadFile], File(description="The images; file names as in the labels CSV.")],
    description: Annotated[str, Form()] = "",
    normalise: Annotated[Literal["none", "jpeg"], Form(
        description="none: serve each image as uploaded minus its metadata (pixels unchanged); jpeg: re-encode "
                    "every image to one square size and JPEG quality (SENTRY_NORMALISE_SIDE/_QUALITY).")] = "none",
    force: Annotated[bool, Form(description="Register even when the shortcut audit is over its limit.")] = False,
) -> dict[str, Any]:
    """Register a benchmark: its images, stripped of metadata, become downloadable by id; its labels and subsets
    stay hidden. The response carries the shortcut audit (how well file facts alone predict the labels)."""
    files = [(svc.upload_name(u), u.file.read()) for u in images]
    bench = svc.register_benchmark(session, settings, slug=slug, title=title, description=description,
                                   labels_csv=labels.file.read(), images=files, normalise=normalise, force=force)
    return {**_bench_info(bench), "audit": bench.audit}


@router.post("/benchmarks/{slug}/reports", status_code=201)
def add_report(slug: str, session: SessionDep, settings: SettingsDep, _admin: AdminDep,
               report: Annotated[dict[str, Any], Body(description="Evaluation report (see scoring.py).")]
               ) -> dict[str, Any]:
    """Import an evaluation report of one of the project's detectors as a row (marked ``source: report``)."""
    bench = svc.get_benchmark(session, slug)
    try:
        parsed = import_report(json.loads(json.dumps(report)), settings.metric_digits)
    except SubmissionError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return svc.public_row(svc.add_report(session, bench, parsed))
