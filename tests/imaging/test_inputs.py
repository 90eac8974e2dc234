"""Expanding user paths: lazy, sorted per directory, every problem yielded as an ImageError, never raised."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from sentry_image.imaging import ImageError
from sentry_image.imaging.inputs import is_image_name, iter_inputs
from tests.helpers.imagegen import run_unprivileged

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def listing(paths: list[str | Path], root: Path, recursive: bool = False) -> list[str]:
    """Results as short strings: relative paths for files, ``code:relative`` for errors."""
    out = []
    for item in iter_inputs(paths, recursive):
        if isinstance(item, ImageError):
            out.append(f"{item.code}:{os.path.relpath(item.path, root)}")
        else:
            out.append(os.path.relpath(item, root))
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    touch(tmp_path, "b.PNG", "a.jpg", "c.txt", "d.JFIF", "e.heic", "sub/z.webp", "sub/deeper/y.avif", "sub/notes.md")
    return tmp_path


def test_is_image_name():
    assert is_image_name("x.JPeG") and is_image_name(Path("a/b.tiff")) and not is_image_name("x.txt")


def test_directory_direct_files_only(tree):
    assert listing([tree], tree) == ["a.jpg", "b.PNG", "d.JFIF", "e.heic"]


def test_directory_recursive_sorted(tree):
    assert listing([tree], tree, recursive=True) == [
        "a.jpg", "b.PNG", "d.JFIF", "e.heic", "sub/deeper/y.avif", "sub/z.webp"]


def test_named_files_kept_whatever_their_extension(tree):
    assert listing([tree / "c.txt", tree / "sub" / "notes.md", str(tree / "a.jpg")], tree) == [
        "c.txt", "sub/notes.md", "a.jpg"]


def test_nothing_deduplicated(tree):
    (tree / "sub" / "again").symlink_to(tree / "sub" / "deeper")
    assert listing([tree / "a.jpg", tree / "a.jpg", tree / "sub"], tree, recursive=True) == [
        "a.jpg", "a.jpg", "sub/again/y.avif", "sub/deeper/y.avif", "sub/z.webp"]


def test_missing_path_and_broken_links(tree):
    (tree / "gone.png").symlink_to(tree / "nowhere.png")
    (tree / "gone-dir").symlink_to(tree / "nowhere")
    result = listing([tree / "missing.png", tree / "gone.png"], tree)
    assert result == ["not_found:missing.png", "not_found:gone.png"]
    assert listing([tree], tree) == ["a.jpg", "b.PNG", "d.JFIF", "e.heic", "not_found:gone.png"]
    errors = [item for item in iter_inputs([tree / "gone.png"]) if isinstance(item, ImageError)]
    assert "broken symbolic link" in errors[0].message


def test_symlink_loops(tree):
    (tree / "sub" / "up").symlink_to(tree)  # a directory loop
    (tree / "self.jpg").symlink_to(tree / "self.jpg")  # a link to itself
    result = listing([tree], tree, recursive=True)
    assert "unreadable:sub/up" in result and "unreadable:self.jpg" in result
    assert result.count("a.jpg") == 1 and "sub/z.webp" in result  # the walk finished and went on
    assert listing([tree / "self.jpg"], tree) == ["unreadable:self.jpg"]


def test_directory_without_permission(shared_tmp):
    touch(shared_tmp, "a/1.png", "locked/2.png", "z/3.png")
    (shared_tmp / "locked").chmod(0)
    result = run_unprivileged(lambda: listing([shared_tmp], shared_tmp, recursive=True))
    assert result == ["a/1.png", "permission_denied:locked", "z/3.png"]


def test_unlistable_directory_named_explicitly(tmp_path, monkeypatch):
    real_scandir = os.scandir

    def scandir(path):  # an OS error other than permissions: reported, never raised
        if Path(path).name == "bad":
            raise OSError(5, "Input/output error")
        return real_scandir(path)

    touch(tmp_path, "bad/1.png", "good/2.png")
    monkeypatch.setattr(os, "scandir", scandir)
    assert listing([tmp_path / "bad", tmp_path / "good"], tmp_path) == ["unreadable:bad", "good/2.png"]


def test_lazy_over_inputs_and_directories(tmp_path, monkeypatch):
    touch(tmp_path, *(f"d{i}/x.png" for i in range(5)))
    scanned: list[str] = []
    real_scandir = os.scandir

    def scandir(path):
        scanned.append(Path(path).name)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    endless = itertools.chain([tmp_path], itertools.repeat(tmp_path / "d0" / "x.png"))
    items = list(itertools.islice(iter_inputs(endless, recursive=True), 7))
    assert len(items) == 7 and scanned == [tmp_path.name, "d0", "d1", "d2", "d3", "d4"]
    first = iter_inputs([tmp_path], recursive=True)
    scanned.clear()
    next(first)
    assert scanned == [tmp_path.name, "d0"]  # later directories are not listed before they are needed


def test_never_raises_on_odd_input(tmp_path):
    (tmp_path / "file.png").write_bytes(b"x")
    result = list(iter_inputs(["bad\0path", tmp_path / "file.png" / "child"]))
    assert [item.code for item in result if isinstance(item, ImageError)] == ["not_found", "not_found"]
