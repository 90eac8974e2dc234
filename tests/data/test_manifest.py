"""Manifest reading: explicit label map, path resolution, precise errors on bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry_image.data.manifest import ManifestError, read_manifest, rows_hash
from sentry_image.types import Label

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)

HEADER = "path,label,generator,family,source,sha256\n"


def _write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(header + body)
    return path


def test_labels_map_explicitly_and_paths_resolve(tmp_path: Path) -> None:
    path = _write(tmp_path, "real/a/x.jpg,real,camera,camera,s1,aa\nai/b/y.png,AI ,sd-1.5,diffusion,s2,bb\n")
    rows = read_manifest(path)
    assert [r.label for r in rows] == [Label.REAL, Label.FAKE]
    assert rows[0].path == tmp_path / "real/a/x.jpg" and rows[0].folder == "a"
    assert rows[1].generator == "sd-1.5" and rows[1].fields["sha256"] == "bb" and rows[1].line == 3


def test_custom_label_map(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.jpg,fake,g,f,s,\n")
    assert read_manifest(path, label_map={"fake": Label.FAKE})[0].label is Label.FAKE


@pytest.mark.parametrize(("body", "message"), [
    ("x.jpg,real,c,c,s,\ny.jpg,maybe,c,c,s,\n", r"m\.csv:3: unknown label 'maybe'"),
    (",real,c,c,s,\n", r"m\.csv:2: empty 'path'"),
    ("x.jpg,real,c,c,s,,extra\n", r"m\.csv:2: more cells"),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        read_manifest(_write(tmp_path, body))


def test_missing_columns_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="missing required column"):
        read_manifest(_write(tmp_path, "x.jpg\n", header="path\n"))
    with pytest.raises(ManifestError, match="cannot read"):
        read_manifest(tmp_path / "nope.csv")


def test_rows_hash_ignores_order_but_not_content(tmp_path: Path) -> None:
    rows = read_manifest(_write(tmp_path, "a.jpg,real,c,c,s,1\nb.png,ai,g,d,t,2\n"))
    assert rows_hash(rows) == rows_hash(list(reversed(rows)))
    assert rows_hash(rows) != rows_hash(rows[:1])
