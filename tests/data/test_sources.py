"""read_source: manifests, labelled folders, subset names over an extracted tree, cached scans, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sentry_image.data import sources
from sentry_image.data.manifest import read_manifest
from sentry_image.data.sources import SourceError, read_source, subset_names
from sentry_image.types import Label


def _image(path: Path, seed: int, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format=fmt)


def _extracted(root: Path) -> Path:
    """ROOT/extracted/val/ with two IF-CC95K generator folders and a flat cogview2-22K folder."""
    split = root / "extracted" / "val"
    _image(split / "IF-CC95K" / "IF-ddim-25-15K" / "a.png", 1)
    _image(split / "IF-CC95K" / "IF-ddim-25-15K" / "b.jpg", 2, "JPEG")
    _image(split / "IF-CC95K" / "IF-ddpm-50-15K" / "c.png", 3)
    _image(split / "cogview2-22K" / "d.png", 4)
    return root


def _real(folder: Path) -> Path:
    _image(folder / "coco" / "r1.jpg", 10, "JPEG")
    _image(folder / "ffhq" / "r2.png", 11)
    _image(folder / "top.png", 12)
    return folder


def test_subset_names_with_a_real_folder(tmp_path: Path) -> None:
    root = _extracted(tmp_path / "root")
    rows = read_source("subsets:IF-CC95K,cogview2-22K", root=root, real=_real(tmp_path / "photos"))
    fake = [r for r in rows if r.label == Label.FAKE]
    real = [r for r in rows if r.label == Label.REAL]
    assert len(fake) == 4 and len(real) == 3
    by_name = {r.path.name: r for r in rows}
    a = by_name["a.png"]
    assert (a.generator, a.family, a.source, a.fields["subset"]) == ("deepfloyd-if-1.0", "diffusion",
                                                                    "IF-ddim-25-15K", "IF-CC95K")
    assert a.folder == "IF-ddim-25-15K" and by_name["c.png"].folder == "IF-ddpm-50-15K"  # the split's group key
    assert by_name["d.png"].folder == "cogview2-22K" and by_name["d.png"].generator == "cogview2"
    assert by_name["b.jpg"].fields["format"] == "JPEG" and len(by_name["b.jpg"].fields["sha256"]) == 64
    assert {r.folder for r in real} == {"coco", "ffhq", "photos"} and all(r.path.is_file() for r in rows)
    # bare names resolve the same way when no such path exists
    assert sorted(r.rel_path for r in read_source("IF-CC95K,cogview2-22K", root=root)) == sorted(
        r.rel_path for r in fake)


def test_second_read_uses_the_cached_scan_until_the_folder_changes(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = _extracted(tmp_path)
    first = read_source("subsets:IF-CC95K", root=root)
    cache = root / "manifests" / "val" / "IF-CC95K.csv"
    assert len(read_manifest(cache)) == 3  # a standalone manifest: paths resolve from its own folder
    assert all(r.path.is_file() for r in read_manifest(cache))

    def no_scan(*_a: object, **_k: object) -> None:
        raise AssertionError("rescanned")

    monkeypatch.setattr(sources, "scan_folder", no_scan)
    again = read_source("subsets:IF-CC95K", root=root)
    assert [(r.path, r.rel_path, r.label, r.source, r.generator) for r in again] == [
        (r.path, r.rel_path, r.label, r.source, r.generator) for r in first]
    _image(root / "extracted" / "val" / "IF-CC95K" / "IF-ddim-25-15K" / "new.png", 9)
    with pytest.raises(AssertionError, match="rescanned"):  # a new file changes the stamp: scanned again
        read_source("subsets:IF-CC95K", root=root)
    monkeypatch.undo()
    assert len(read_source("subsets:IF-CC95K", root=root)) == 4


def test_missing_extracted_folder_names_it_and_the_command(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        read_source("subsets:SDv21-CC15K", root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "extracted" / "val" / "SDv21-CC15K") in message
    assert f"sentry-image data extract --subset SDv21-CC15K --root {tmp_path}" in message
    assert "data fetch" in message  # nothing fetched either


def test_unknown_subset_lists_close_matches(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"IF-CC9K.*did you mean IF-CC95K"):
        read_source("subsets:IF-CC9K", root=tmp_path)
    with pytest.raises(SourceError, match=r"no such manifest file or folder.*did you mean IF-CC95K"):
        read_source("IF-CC95k,IF-CC9K", root=tmp_path)
    with pytest.raises(SourceError, match=r"missing\.csv: no such manifest"):
        read_source(tmp_path / "missing.csv")


def test_manifest_and_labelled_folder(tmp_path: Path) -> None:
    _image(tmp_path / "data" / "real" / "cam1" / "x.png", 1)
    _image(tmp_path / "data" / "ai" / "gen1" / "y.png", 2)
    (tmp_path / "data" / "ai" / "gen1" / "broken.png").write_bytes(b"not an image")
    rows = read_source(tmp_path / "data")
    assert sorted((r.rel_path, int(r.label), r.folder) for r in rows) == [
        ("ai/gen1/y.png", 1, "gen1"), ("real/cam1/x.png", 0, "cam1")]
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as f:
        csv.writer(f).writerows([["path", "label"], ["data/real/cam1/x.png", "real"]])
    assert [r.path for r in read_source(manifest)] == [tmp_path / "data" / "real" / "cam1" / "x.png"]
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match="real/ and ai/"):
        read_source(tmp_path / "plain")
    with pytest.raises(SourceError, match="unknown label"):
        manifest.write_text("path,label\nx.png,maybe\n")
        read_source(manifest)


def test_subset_spec_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert subset_names("subsets: IF-CC95K , cogview2-22K") == ["IF-CC95K", "cogview2-22K"]
    assert subset_names(str(tmp_path)) is None
    with pytest.raises(SourceError, match="no subset name"):
        subset_names("subsets:")
    monkeypatch.chdir(tmp_path)  # a file that happens to be called like a subset is a path, not a subset
    _image(tmp_path / "IF-CC95K", 1)
    assert subset_names("IF-CC95K") is None
