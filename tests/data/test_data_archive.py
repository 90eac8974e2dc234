"""Streaming extraction of split archives: numeric part order, safety, resumption, and errors naming the part."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from sentry_image.data.archive import ArchiveError, extract, extract_parts, find_parts
from tests.helpers.data_helpers import make_tar_gz, noise_bytes, split_parts

MEMBERS = {f"sub/dir{i % 2}/{i:03d}.png": noise_bytes(i) for i in range(6)}


def _split(tmp_path: Path, n: int, width: int, members: dict[str, bytes] = MEMBERS) -> Path:
    split_parts(make_tar_gz(members), tmp_path / "parts", "x.tar.gz", n, width)
    return tmp_path / "parts"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".sentry-extract" not in p.parts}


@pytest.mark.parametrize(("n", "width"), [(12, 1), (12, 2), (3, 3)])
def test_parts_are_ordered_numerically_and_extract_to_the_members(tmp_path: Path, n: int, width: int) -> None:
    parts = find_parts(_split(tmp_path, n, width))
    assert [p.index for p in parts] == list(range(n))  # .10 and .11 after .9 even without padding
    result = extract(tmp_path / "parts", tmp_path / "out")
    assert _tree(tmp_path / "out") == MEMBERS
    assert result.written == len(MEMBERS)
    # nothing but the parts in their folder: the joined archive was never written
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == sorted(p.path.name for p in parts)


def test_any_part_or_the_unsplit_archive_locates_the_archive(tmp_path: Path) -> None:
    folder = _split(tmp_path, 4, 2)
    assert len(find_parts(folder / "x.tar.gz.02")) == 4
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "y.tar.gz").write_bytes(make_tar_gz(MEMBERS))
    extract(tmp_path / "one" / "y.tar.gz", tmp_path / "out")
    assert _tree(tmp_path / "out") == MEMBERS


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    folder = _split(tmp_path, 12, 2)
    (folder / "x.tar.gz.07").unlink()
    with pytest.raises(ArchiveError, match=r"x\.tar\.gz\.07 is missing \(the parts jump from 6 to 8\)"):
        find_parts(folder)
    (folder / "x.tar.gz.07.incomplete").write_bytes(b"half")
    with pytest.raises(ArchiveError, match=r"x\.tar\.gz\.07 is still incomplete .* rerun data fetch"):
        find_parts(folder)


def test_a_short_middle_part_is_named_before_anything_is_written(tmp_path: Path) -> None:
    folder = _split(tmp_path, 5, 1)
    data = (folder / "x.tar.gz.2").read_bytes()
    (folder / "x.tar.gz.2").write_bytes(data[:-100])
    with pytest.raises(ArchiveError, match=r"x\.tar\.gz\.2: .* truncated or incomplete"):
        extract(folder, tmp_path / "out")
    assert _tree(tmp_path / "out") == {} if (tmp_path / "out").exists() else True


def test_a_truncated_last_part_is_named(tmp_path: Path) -> None:
    folder = _split(tmp_path, 5, 1)
    data = (folder / "x.tar.gz.4").read_bytes()
    (folder / "x.tar.gz.4").write_bytes(data[: len(data) // 3])
    with pytest.raises(ArchiveError, match=r"x\.tar\.gz\.4: the archive ends early"):
        extract(folder, tmp_path / "out")


def _corrupt(folder: Path, name: str) -> None:
    data = bytearray((folder / name).read_bytes())
    data[100:400] = bytes(300)  # inside stored deflate blocks (noise does not compress): only checksums see it
    (folder / name).write_bytes(bytes(data))


def test_a_corrupt_part_is_named_by_its_checksum_and_its_files_are_not_kept(tmp_path: Path) -> None:
    folder = _split(tmp_path, 6, 1)
    sums = {p.path: hashlib.sha256(p.path.read_bytes()).hexdigest() for p in find_parts(folder)}
    _corrupt(folder, "x.tar.gz.3")
    out = tmp_path / "out"
    with pytest.raises(ArchiveError, match=r"x\.tar\.gz\.3: sha256 differs"):
        extract_parts(find_parts(folder), out, checksums=sums)
    kept = _tree(out)
    assert all(MEMBERS[k] == v for k, v in kept.items())  # whatever stays is intact
    assert len(kept) < len(MEMBERS)


def test_without_checksums_corruption_fails_the_gzip_crc(tmp_path: Path) -> None:
    folder = _split(tmp_path, 6, 1)
    _corrupt(folder, "x.tar.gz.3")
    with pytest.raises(ArchiveError, match=r"gzip checksum does not match.*parts is corrupt"):
        extract(folder, tmp_path / "out")


def _evil_tar(tmp_path: Path, build: str) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        def add(name: str, data: bytes = b"x", **kw: object) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for k, v in kw.items():
                setattr(info, k, v)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
        add("ok.txt")
        if build == "dotdot":
            add("../escaped.txt")
        elif build == "absolute":
            add(str(tmp_path / "escaped.txt"))
        elif build == "symlink":
            add("link", type=tarfile.SYMTYPE, linkname="../..", size=0)
            add("link/escaped.txt")
        elif build == "hardlink":
            add("hard", type=tarfile.LNKTYPE, linkname="../escaped.txt", size=0)
    path = tmp_path / "in" / "evil.tar.gz"
    path.parent.mkdir()
    path.write_bytes(raw.getvalue())
    return path


@pytest.mark.parametrize("build", ["dotdot", "absolute", "symlink", "hardlink"])
def test_members_escaping_the_target_are_refused_and_nothing_lands_outside(tmp_path: Path, build: str) -> None:
    archive = _evil_tar(tmp_path, build)
    out = tmp_path / "deep" / "out"
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(ArchiveError, match=r"evil\.tar\.gz: member .*refused"):
        extract(archive, out)
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(p == out.parent or out in p.parents or p == out for p in created), created
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()


def test_an_interrupted_extraction_resumes_without_rewriting_finished_files(tmp_path: Path) -> None:
    folder = _split(tmp_path, 4, 1)
    out = tmp_path / "out"

    def stop_after_three(read: int, total: int, files: int) -> None:
        if files == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(folder, out, progress=stop_after_three)
    first = {p: os.stat(p).st_mtime_ns for p in out.rglob("*.png")}
    assert len(first) == 3
    result = extract(folder, out)
    assert (result.skipped, result.written) == (3, 3)
    assert _tree(out) == MEMBERS
    assert all(os.stat(p).st_mtime_ns == t for p, t in first.items())


def test_existing_different_files_are_never_overwritten_silently(tmp_path: Path) -> None:
    folder = _split(tmp_path, 3, 1)
    out = tmp_path / "out"
    (out / "sub" / "dir0").mkdir(parents=True)
    (out / "sub" / "dir0" / "000.png").write_bytes(b"my own file")
    (out / "sub" / "dir1").mkdir(parents=True)
    (out / "sub" / "dir1" / "001.png").write_bytes(MEMBERS["sub/dir1/001.png"])  # identical: adopted
    with pytest.raises(ArchiveError, match=r"000\.png exists with different content"):
        extract(folder, out)
    assert (out / "sub" / "dir0" / "000.png").read_bytes() == b"my own file"
    result = extract(folder, out, overwrite=True)
    assert _tree(out) == MEMBERS and result.written >= 1
