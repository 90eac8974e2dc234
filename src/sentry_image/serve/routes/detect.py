"""``POST /api/v1/detect``: one or many images in a multipart form -> the CLI's verdict JSON for each.

``POST /api/v1/detect/url``: the same for http(s) URLs the service fetches, only when the operator enabled it
(``SENTRY_ALLOW_URL_FETCH``) and only from public addresses (:mod:`sentry_image.serve.urlguard`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from ...detect import Detector
from ...imaging.fetch import RemoteImage
from ...types import Verdict
from ..deps import DetectorDep, SettingsDep
from ..errors import ApiError
from ..urlguard import service_fetch_options

router = APIRouter(prefix="/api/v1", tags=["detect"])
log = logging.getLogger(__name__)
_FETCH_WORKERS = 4  # downloads of one request in parallel: they wait on the network, not on the CPU


class UrlBatch(BaseModel):
    """The body of ``POST /api/v1/detect/url``."""

    urls: list[Annotated[str, StringConstraints(min_length=1, max_length=2048)]] = Field(
        min_length=1, description="http(s) URLs of images, at most SENTRY_MAX_FILES; each verdict's path is its URL.")


def upload_name(upload: UploadFile, index: int) -> str:
    """The client's file name without any folder part (it is only echoed back, never used as a path)."""
    name = PurePath((upload.filename or "").replace("\\", "/")).name
    return name[:200] or f"upload-{index}"


async def judge_uploads(request: Request, uploads: list[UploadFile], detector: Detector, max_bytes: int,
                        max_files: int) -> list[Verdict]:
    """Score uploads, at most ``detect_concurrency`` requests at a time; oversized files never reach a decoder."""
    return [verdict for verdict, _ in await judge_and_draw(request, uploads, detector, max_bytes, max_files)]


async def judge_and_draw(request: Request, uploads: list[UploadFile], detector: Detector, max_bytes: int,
                         max_files: int, draw: Callable[[Verdict, bytes], Any] | None = None
                         ) -> list[tuple[Verdict, Any]]:
    """:func:`judge_uploads`, and ``draw(verdict, data)`` for each upload that was read (None for the others).

    ``draw`` runs on the worker thread inside the request's detection slot, while the bytes are held anyway: the
    slot then bounds the memory of the pictures as well as of the detection."""
    if not uploads:
        raise ApiError(422, "no_file", "send at least one image in the multipart field 'file'")
    if len(uploads) > max_files:
        raise ApiError(413, "too_many_files", f"at most {max_files} images per request, got {len(uploads)}")
    async with request.app.state.detect_slots:  # bounds memory: only this many requests hold image bytes
        names = [upload_name(u, i) for i, u in enumerate(uploads)]
        verdicts: dict[int, Verdict] = {}
        datas: list[bytes] = []
        kept: list[int] = []
        for i, upload in enumerate(uploads):
            size = upload.size if upload.size is not None else max_bytes + 1
            if size > max_bytes:  # the multipart parser already counted the bytes: no need to read them
                verdicts[i] = Verdict.failed(names[i], "too_large",
                                             f"{size:,} bytes is over the limit of {max_bytes:,}", model=detector.name)
                continue
            datas.append(await upload.read())
            kept.append(i)

        drawings: dict[int, Any] = {}

        def run() -> list[Verdict]:
            found = list(detector.detect_many(datas, names=[names[i] for i in kept], batch_size=max(1, len(datas)),
                                              workers=1))
            if draw is not None:
                drawings.update({i: draw(v, data) for i, v, data in zip(kept, found, datas, strict=True)})
            return found

        if datas:
            for i, verdict in zip(kept, await run_in_threadpool(run), strict=True):
                verdicts[i] = verdict
    return [(verdicts[i], drawings.get(i)) for i in range(len(uploads))]


@router.post("/detect")
async def detect(
    request: Request,
    detector: DetectorDep,
    settings: SettingsDep,
    file: Annotated[list[UploadFile], File(description="One or more images (repeat the field for many).")],
) -> dict[str, Any]:
    """Judge each uploaded image. A file that cannot be judged gets a verdict whose ``error`` has a code
    (``not_an_image``, ``too_large``, ``truncated``, ...), exactly as the CLI reports it; the others are scored."""
    verdicts = await judge_uploads(request, file, detector, settings.max_upload_bytes, settings.max_files)
    failed = sum(v.error is not None for v in verdicts)
    if failed:
        log.info("detect: %d of %d uploads failed", failed, len(verdicts))
    return {"model": detector.name, "verdicts": [v.to_dict() for v in verdicts]}


def require_url_fetch(settings: SettingsDep) -> None:
    """Refuse before the body is even validated when the operator has not enabled fetching."""
    if not settings.allow_url_fetch:
        raise ApiError(403, "url_fetch_disabled",
                       "this service does not fetch URLs (SENTRY_ALLOW_URL_FETCH is off): upload the image instead")


@router.post("/detect/url", dependencies=[Depends(require_url_fetch)])
async def detect_urls(request: Request, detector: DetectorDep, settings: SettingsDep, body: UrlBatch) -> dict[str, Any]:
    """Fetch and judge each URL. A URL that cannot be judged gets a verdict whose ``error`` has a code: those of
    uploads, ``fetch_failed`` (DNS, connection, timeout, HTTP status, redirects), ``fetch_refused`` (the host
    resolves to a loopback, private, link-local or other non-public address) or ``too_large``."""
    if len(body.urls) > settings.max_files:
        raise ApiError(413, "too_many_files", f"at most {settings.max_files} URLs per request, got {len(body.urls)}")
    options = service_fetch_options(request.app.state)
    sources = [RemoteImage(url, options) for url in body.urls]

    def run() -> list[Verdict]:  # on a worker thread: fetching and scoring block, the event loop must not
        return list(detector.detect_many(sources, batch_size=len(sources), workers=min(len(sources), _FETCH_WORKERS)))

    async with request.app.state.detect_slots:  # a fetched image holds memory like an uploaded one
        verdicts = await run_in_threadpool(run)
    failed = [v.error.code for v in verdicts if v.error is not None]
    if failed:
        log.info("detect/url: %d of %d URLs failed (%s)", len(failed), len(verdicts), ", ".join(sorted(set(failed))))
    return {"model": detector.name, "verdicts": [v.to_dict() for v in verdicts]}
