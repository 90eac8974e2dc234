"""``read_provenance``'s wiring: what each reader is handed (the file's bytes, a sidecar store up to its size cap),
what a failing reader costs (one exact info signal and a warning with its traceback) and how unknown reader names are
refused. The readers are replaced by recorders, so each case reads the wiring itself."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest
from PIL import Image

import sentry_image.provenance as provenance
from sentry_image.imaging import DecodedImage, decode_image, load_image
from sentry_image.provenance import read_provenance
from sentry_image.types import Hint, Signal, Strength

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 120, 30)).save(buf, format="PNG")
    return buf.getvalue()


class Recorder:
    """Stands in for a reader: records its arguments, returns no signal."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def __call__(self, *args: object, **kwargs: object) -> list[Signal]:
        self.calls.append((args, kwargs))
        return []


@pytest.mark.parametrize(("size", "read"), [(10, True), (11, False)])
def test_a_sidecar_store_is_read_up_to_its_size_cap(size: int, read: bool, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(provenance, "read_c2pa", recorder)
    monkeypatch.setattr(provenance, "SIDECAR_MAX_BYTES", 10)
    (tmp_path / "photo.png").write_bytes(png())
    (tmp_path / "photo.c2pa").write_bytes(b"s" * size)
    decoded = load_image(tmp_path / "photo.png")
    assert read_provenance(decoded, readers=["c2pa"]) == []
    assert recorder.calls == [((decoded.data, "PNG"), {"sidecar": b"s" * size if read else None})]


def test_the_metadata_reader_gets_the_image_as_opened_and_the_files_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(provenance, "read_metadata", recorder)
    decoded = decode_image(png())
    assert read_provenance(decoded, readers=["metadata"]) == []
    [(args, kwargs)] = recorder.calls
    assert args[0] is decoded.original and args[1] == decoded.data and kwargs == {}


def failing(decoded: DecodedImage) -> list[Signal]:
    raise RuntimeError("native crash")


def test_a_failing_reader_gives_one_exact_info_signal_and_a_warning_with_its_traceback(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(provenance.READERS, "c2pa", failing)
    caplog.set_level(logging.WARNING, logger=provenance.__name__)
    signals = read_provenance(decode_image(png()), readers=["c2pa"])
    assert signals == [Signal("c2pa", Hint.NONE, "c2pa reader failed: RuntimeError: native crash", Strength.INFO)]
    [record] = caplog.records
    assert (record.levelno, record.getMessage()) == (logging.WARNING, "provenance reader c2pa failed: native crash")
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_every_unknown_reader_is_named_in_order() -> None:
    message = "unknown provenance readers: exif, xmp"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_provenance(decode_image(png()), readers=["xmp", "c2pa", "exif"])
