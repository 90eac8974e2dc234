"""The demo page's picture of a checked upload: the map of where the detector looked when the verdict has regions,
else a small thumbnail, either inlined as a ``data:`` URL (the page stores no upload, so there is nothing to link)."""

from __future__ import annotations

import base64
import io
import logging

from ..explain import overlay_png
from ..imaging import Reduce, decode_image
from ..types import ImageError, Verdict

log = logging.getLogger(__name__)

#: The demo shows the map in a column about 22 rem wide: twice that in pixels stays sharp on a high-density screen
#: and keeps the inlined PNG well under a megabyte.
OVERLAY_SIDE = 768
THUMBNAIL_SIDE = 256
CAPTION = "Where the detector looked: red regions look AI-generated, blue look real; a composite shows both."


def _data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _overlay_alt(verdict: Verdict) -> str:
    regions = verdict.regions or []
    top = max(r.ai_probability for r in regions)
    low = min(r.ai_probability for r in regions)
    count = "one region" if len(regions) == 1 else f"{len(regions)} regions"
    spread = f"{round(100 * top)}%" if len(regions) == 1 else f"from {round(100 * low)}% to {round(100 * top)}%"
    return (f"The checked image in grey with {count} the detector scored, tinted blue (looks real) to red (looks "
            f"AI-generated); AI probability {spread}.")


def result_picture(verdict: Verdict, data: bytes, *, max_pixels: int) -> dict[str, str] | None:
    """``{"kind", "src", "alt", "caption"}`` for the upload ``data`` that got ``verdict``; None when it has no pixels.

    Decodes ``data`` once, with the same pixel cap as the detector, and only when the detector could decode it
    (``verdict.image`` is set): the bytes are a stranger's.
    """
    if verdict.image is None:
        return None
    overlay = bool(verdict.regions)
    side = OVERLAY_SIDE if overlay else THUMBNAIL_SIDE
    try:
        # A JPEG may be decoded at a reduced scale: the picture is at most `side` pixels long anyway.
        decoded = decode_image(data, verdict.path, max_pixels=max_pixels, reduce=Reduce(side))
        if overlay and verdict.regions:
            png = overlay_png(decoded.rgb, verdict.regions, verdict.threshold, max_side=side,
                              size=(decoded.info.width, decoded.info.height))
            return {"kind": "overlay", "src": _data_url(png, "image/png"), "alt": _overlay_alt(verdict),
                    "caption": CAPTION}
        thumb = decoded.rgb.copy()
        thumb.thumbnail((side, side))
        buf = io.BytesIO()
        thumb.save(buf, format="JPEG", quality=85)  # a photo's thumbnail: a fifth of the PNG's size
        return {"kind": "thumbnail", "src": _data_url(buf.getvalue(), "image/jpeg"),
                "alt": f"Thumbnail of the checked image, {verdict.path}", "caption": ""}
    except ImageError as exc:
        log.info("no picture for %s: %s", verdict.path, exc.message)
    except Exception:  # the verdict is the page's point: a drawing failure costs the picture, never the answer
        log.exception("drawing the picture of %s failed", verdict.path)
    return None


__all__ = ["CAPTION", "result_picture"]
