"""Contact sheets (PNG) and a static HTML gallery per group of a manifest: for looking at a dataset.

Groups are the values of one manifest column (by default a row's ``subset``, ``generator`` or ``source``). From each
group a fixed number of images is picked by a hash of its path (the same picks every run, spread over the whole
group rather than its first files) and shown with its label, generator and size. Images are decoded by the safe
decoder; one that fails gets a tile saying why instead of stopping the gallery. Everything written to the HTML is
escaped: paths and generator names come from files.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .manifest import ManifestRow

TILE = 160
CAPTION = 30
PAD = 6
_LABEL_COLOUR = {0: (30, 130, 60), 1: (190, 40, 40)}


@dataclass
class GalleryResult:
    """The files written: one contact sheet per group and the HTML page."""

    out: Path
    sheets: dict[str, Path] = field(default_factory=dict)
    html: Path | None = None
    failed: int = 0


def group_rows(rows: Sequence[ManifestRow], by: str | None = None) -> dict[str, list[ManifestRow]]:
    """Rows grouped by column ``by`` (or ``folder``), sorted by key.

    The default is a row's ``subset``, else its ``generator``, else its ``source``: a published subset, a
    generator, or a folder of the user's photos (a manifest's ``source`` may be one URL per file, so it comes last).
    """
    groups: dict[str, list[ManifestRow]] = defaultdict(list)
    for r in rows:
        if by is None:
            value = r.fields.get("subset") or r.generator or r.source
        else:
            value = r.fields.get(by) or str(getattr(r, by, "") or "")
        groups[value or "(none)"].append(r)
    return dict(sorted(groups.items()))


def pick(rows: Sequence[ManifestRow], n: int, seed: int = 0) -> list[ManifestRow]:
    """``n`` rows chosen by hash of their path (stable across runs and row order)."""
    ranked = sorted(rows, key=lambda r: hashlib.sha256(f"{seed}:{r.rel_path}".encode()).digest())[:n]
    return sorted(ranked, key=lambda r: (int(r.label), r.rel_path))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "group"


def _thumb(row: ManifestRow) -> tuple[Image.Image, str]:
    from ..imaging import ImageError, load_image

    try:
        decoded = load_image(row.path)
    except ImageError as exc:
        tile = Image.new("RGB", (TILE, TILE), (60, 60, 60))
        ImageDraw.Draw(tile).text((6, TILE // 2 - 6), f"error: {exc.code}", fill=(255, 200, 200))
        return tile, f"error: {exc.code}"
    image = decoded.rgb.copy()
    image.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
    return image, f"{decoded.info.width}x{decoded.info.height} {decoded.info.format}"


def _caption(row: ManifestRow, size: str) -> tuple[str, str]:
    label = "real" if int(row.label) == 0 else "ai"
    return f"{label} {row.generator or row.source}"[:26], size[:26]


def contact_sheet(rows: Sequence[ManifestRow], title: str, columns: int = 6) -> tuple[Image.Image, list[str]]:
    """One PNG-ready sheet: a title line, then a grid of thumbnails with label, generator and size under each."""
    font = ImageFont.load_default()
    cols = max(1, min(columns, len(rows)))
    nrows = max(1, -(-len(rows) // cols))
    cell_w, cell_h = TILE + PAD, TILE + CAPTION + PAD
    sheet = Image.new("RGB", (PAD + cols * cell_w, 24 + nrows * cell_h), (245, 245, 245))
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, 6), title, fill=(0, 0, 0), font=font)
    sizes: list[str] = []
    for i, row in enumerate(rows):
        thumb, size = _thumb(row)
        sizes.append(size)
        x, y = PAD + (i % cols) * cell_w, 24 + (i // cols) * cell_h
        sheet.paste(thumb, (x + (TILE - thumb.width) // 2, y + (TILE - thumb.height) // 2))
        line1, line2 = _caption(row, size)
        draw.text((x, y + TILE + 2), line1, fill=_LABEL_COLOUR.get(int(row.label), (0, 0, 0)), font=font)
        draw.text((x, y + TILE + 15), line2, fill=(60, 60, 60), font=font)
    return sheet, sizes


def build_gallery(rows: Sequence[ManifestRow], out: str | Path, *, per_group: int = 24, by: str | None = None,
                  columns: int = 6, seed: int = 0, progress: Callable[[str], None] | None = None) -> GalleryResult:
    """Write ``out/<group>.png`` contact sheets, ``out/thumbs/...`` and ``out/index.html``."""
    out = Path(out)
    (out / "thumbs").mkdir(parents=True, exist_ok=True)
    result = GalleryResult(out=out)
    sections: list[str] = []
    for name, members in group_rows(rows, by).items():
        chosen = pick(members, per_group, seed)
        n_real = sum(1 for r in members if int(r.label) == 0)
        title = f"{name}: {len(members)} images ({n_real} real, {len(members) - n_real} ai); showing {len(chosen)}"
        sheet, sizes = contact_sheet(chosen, title, columns)
        safe = _safe_name(name)
        result.sheets[name] = out / f"{safe}.png"
        sheet.save(result.sheets[name])
        figures = []
        for i, (row, size) in enumerate(zip(chosen, sizes, strict=True)):
            thumb, _ = _thumb(row)
            rel = f"thumbs/{safe}/{i:03d}.jpg"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            thumb.save(out / rel, quality=85)
            result.failed += size.startswith("error")
            label = "real" if int(row.label) == 0 else "ai"
            figures.append(f'<figure class="{label}"><img src="{html.escape(rel)}" alt="" loading="lazy">'
                           f"<figcaption><b>{label}</b> {html.escape(row.generator or row.source)}<br>"
                           f"{html.escape(size)}<br><small>{html.escape(row.rel_path)}</small></figcaption></figure>")
        sections.append(f'<section><h2>{html.escape(title)}</h2><p><a href="{html.escape(safe)}.png">contact sheet'
                        f"</a></p>{''.join(figures)}</section>")
        if progress is not None:
            progress(name)
    result.html = out / "index.html"
    result.html.write_text(_PAGE.format(body="\n".join(sections)), encoding="utf-8")
    return result


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dataset gallery</title>
<style>body{{font-family:sans-serif;margin:1em}}figure{{display:inline-block;width:170px;margin:4px;vertical-align:top}}
figure img{{max-width:160px;max-height:160px}}figcaption{{font-size:12px;word-break:break-all}}
.real b{{color:#1e823c}}.ai b{{color:#be2828}}</style></head>
<body><h1>Dataset gallery</h1>
{body}
</body></html>
"""
