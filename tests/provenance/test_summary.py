"""read_provenance runs every reader in isolation; summarize follows the documented precedence."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

import sentry_image.provenance as provenance
from sentry_image.imaging import DecodedImage, decode_image
from sentry_image.provenance import read_provenance, summarize
from sentry_image.types import Hint, Signal, Strength

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def sig(hint: Hint, strength: Strength, name: str = "x") -> Signal:
    return Signal(name, hint, "evidence", strength)


@pytest.mark.parametrize(("signals", "expected"), [
    ([], Hint.NONE),
    ([sig(Hint.NONE, Strength.INFO)], Hint.NONE),
    ([sig(Hint.AI, Strength.INFO)], Hint.NONE),  # info never decides, whatever it hints
    ([sig(Hint.REAL, Strength.WEAK)], Hint.REAL),
    ([sig(Hint.REAL, Strength.WEAK), sig(Hint.AI, Strength.WEAK)], Hint.AI),
    ([sig(Hint.AI, Strength.WEAK), sig(Hint.REAL, Strength.STRONG)], Hint.REAL),
    ([sig(Hint.REAL, Strength.STRONG), sig(Hint.AI, Strength.STRONG)], Hint.AI),
    ([sig(Hint.REAL, Strength.WEAK), sig(Hint.NONE, Strength.INFO), sig(Hint.AI, Strength.STRONG)], Hint.AI),
])
def test_precedence(signals: list[Signal], expected: Hint) -> None:
    assert summarize(signals) == expected


def png_bytes(image: Image.Image, **save: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **save)
    return buf.getvalue()


def test_plain_image_has_no_evidence() -> None:
    decoded = decode_image(png_bytes(Image.new("RGB", (300, 300), (40, 90, 160))))
    assert read_provenance(decoded) == []


def _novelai_png(monkeypatch: pytest.MonkeyPatch, reader: Callable[..., list[Signal]],
                 size: tuple[int, int]) -> DecodedImage:
    """A PNG whose text names NovelAI, with the C2PA and watermark readers replaced by ``reader``."""
    from PIL.PngImagePlugin import PngInfo

    monkeypatch.setattr(provenance, "read_watermark", reader)
    monkeypatch.setattr(provenance, "read_c2pa", reader)
    info = PngInfo()
    info.add_text("Software", "NovelAI")
    return decode_image(png_bytes(Image.new("RGB", size), pnginfo=info))


def test_a_failing_reader_costs_one_info_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> list[Signal]:
        raise RuntimeError("native crash")

    signals = read_provenance(_novelai_png(monkeypatch, boom, (64, 64)))
    failed = [s for s in signals if "reader failed" in s.evidence]
    assert {s.name for s in failed} == {"c2pa", "watermark"}
    assert all(s.strength == Strength.INFO and "native crash" in s.evidence for s in failed)
    assert summarize(signals) == Hint.AI  # the metadata reader still ran


def test_reader_selection_runs_only_the_named_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> list[Signal]:
        raise AssertionError("an unselected reader ran")

    decoded = _novelai_png(monkeypatch, boom, (300, 300))
    assert [s.name for s in read_provenance(decoded, readers=["metadata"])] == ["metadata"]
    assert read_provenance(decoded, readers=()) == []
    with pytest.raises(ValueError, match="exif"):
        read_provenance(decoded, readers=["metadata", "exif"])
