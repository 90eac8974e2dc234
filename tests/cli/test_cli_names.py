"""File names that are not UTF-8 come out of ``detect`` as valid UTF-8, quoted losslessly."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sentry_image.cli.names import printable_row, quote_name, unquote_name
from tests.helpers.builders import write_image

pytestmark = pytest.mark.core
NAMES = [b"caf\xe9-latin1.png", b"\xff\xfe-raw.png", b'"quoted".png', b"back\\slash\xe9.png", b"plain-\xc3\xa9.png"]


def run_detect(folder: Path, fmt: str) -> bytes:
    cmd = [sys.executable, "-c", "from sentry_image.cli import main; main()", "detect", str(folder), "--format", fmt]
    res = subprocess.run(cmd, capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode("utf-8", "replace")
    return res.stdout


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("odd")
    for i, raw in enumerate(NAMES):
        write_image(Path(os.fsdecode(os.path.join(os.fsencode(root), raw))), seed=i)
    return root


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_machine_output_is_utf8_and_gives_back_every_names_exact_bytes(odd_folder: Path, fmt: str) -> None:
    text = run_detect(odd_folder, fmt).decode("utf-8")  # strict: raises on any byte that is not UTF-8
    if fmt == "csv":
        paths = [row["path"] for row in csv.DictReader(io.StringIO(text))]
    else:
        rows = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
        paths = [row["path"] for row in rows]
    assert not any(0xD800 <= ord(c) <= 0xDFFF for p in paths for c in p)  # no lone surrogate reached the output
    names = sorted(unquote_name(p).rsplit(b"/", 1)[-1] for p in paths)
    assert names == sorted(NAMES)


def test_ordinary_names_are_written_as_they_are() -> None:
    for name in ["a.png", "dossier/été 2024 100%.jpg", "x\\y.png"]:
        assert quote_name(name) == name and unquote_name(name) == name.encode()
    odd = os.fsdecode(b"\xe9t\xe9.png")
    assert quote_name(odd) == '"\\xe9t\\xe9.png"' and unquote_name(quote_name(odd)) == b"\xe9t\xe9.png"


def test_error_messages_repeating_a_bad_name_are_made_printable() -> None:
    bad = os.fsdecode(b"\xff.png")
    row = printable_row({"path": bad, "error": {"code": "not_an_image", "message": f"{bad}: not an image"}})
    json.dumps(row, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate
    assert row["path"] == '"\\xff.png"' and row["error"]["message"] == "\\xff.png: not an image"
