"""The parts of a split archive (``<name>.tar.gz.000``, ``.001``, ...) and one stream over them.

The published parts are about 3.22 GB each; :class:`PartsReader` presents them, in numeric order, as one
read-only stream with one file open at a time, checks each part's sha256 as it passes when the fetch recorded one,
and knows which part every byte came from, so an error names the part. :mod:`.archive` extracts that stream.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PART_RE = re.compile(r"^(?P<stem>.+\.(?:tar\.gz|tgz|tar))(?:\.(?P<num>\d+))?$")
CHUNK = 1 << 20
FETCH_STATE = ".sentry-fetch.json"  # written by data.hub.fetch


class ArchiveError(Exception):
    """A problem with the archive or its parts; the message names the part (and member) concerned."""


class PartChecksumError(ArchiveError):
    """A part whose bytes differ from its published checksum; ``index`` is its position in the parts."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Part:
    """One file of a split archive. ``index`` is None for an unsplit archive."""

    path: Path
    index: int | None
    size: int


def find_parts(location: str | Path, name: str | None = None) -> list[Part]:
    """The parts of one archive, ordered numerically (``.2`` before ``.10``; widths 1, 2 or 3 digits).

    ``location`` is a folder holding the parts, or any one part (or the unsplit archive). ``name`` chooses the
    archive (``IF-CC95K.tar.gz``) when a folder holds several.

    Raises:
        ArchiveError: no parts, several archives without ``name``, a gap in the numbering (naming the missing
            part), or a non-last part whose size differs from the others (an incomplete download).
    """
    loc = Path(location)
    if loc.is_file():
        m = PART_RE.match(loc.name)
        if not m:
            raise ArchiveError(f"{loc}: not an archive part (expected NAME.tar.gz or NAME.tar.gz.N)")
        folder, name = loc.parent, name or m["stem"]
    elif loc.is_dir():
        folder = loc
    else:
        raise ArchiveError(f"{loc}: no such file or folder")
    groups: dict[str, list[tuple[int | None, Path]]] = {}
    for p in folder.iterdir():
        m = PART_RE.match(p.name)
        if m and p.is_file():
            groups.setdefault(m["stem"], []).append((None if m["num"] is None else int(m["num"]), p))
    if name is None:
        if len(groups) != 1:
            found = ", ".join(sorted(groups)) or "none"
            raise ArchiveError(f"{folder}: expected one archive, found {found}; name the one to extract")
        name = next(iter(groups))
    entries = groups.get(name)
    if not entries:
        raise ArchiveError(f"{folder}: no parts of {name}")
    unsplit = [p for i, p in entries if i is None]
    numbered = sorted((i, p) for i, p in entries if i is not None)
    if unsplit and numbered:
        raise ArchiveError(f"{folder}: both {unsplit[0].name} and numbered parts of it exist; keep one form")
    if unsplit:
        return [Part(unsplit[0], None, unsplit[0].stat().st_size)]
    width = len(numbered[0][1].name) - len(name) - 1
    for expected, (index, _) in enumerate(numbered):
        if index != expected:
            missing = f"{name}.{expected:0{width}d}"
            if (folder / f"{missing}.incomplete").exists():
                raise ArchiveError(f"{folder}: part {missing} is still incomplete (an interrupted download): "
                                   "rerun data fetch to finish it")
            raise ArchiveError(f"{folder}: part {missing} is missing (the parts jump from {expected - 1} to {index})"
                               if expected else f"{folder}: part {missing} is missing (the first part)")
    parts = [Part(p, i, p.stat().st_size) for i, p in numbered]
    if len(parts) > 2:
        # Parts are cut at a fixed size: a shorter one before the last is an interrupted or damaged download.
        sizes = [p.size for p in parts[:-1]]
        common = max(set(sizes), key=sizes.count)
        for part in parts[:-1]:
            if part.size != common:
                raise ArchiveError(f"{part.path}: {part.size} bytes where the other parts have {common}: "
                                   "truncated or incomplete download")
    if parts[-1].size == 0:
        raise ArchiveError(f"{parts[-1].path}: empty part")
    return parts


class PartsReader(io.RawIOBase):
    """The parts as one read-only stream, one file open at a time; knows which part each byte came from."""

    def __init__(self, parts: list[Part], checksums: Mapping[Path, str] | None = None) -> None:
        super().__init__()
        self.parts = parts
        self.checksums = dict(checksums or {})
        self._i = 0
        self._file: io.BufferedReader | None = None
        self._hash = hashlib.sha256()
        self.bytes_read = 0
        self.total = sum(p.size for p in parts)

    @property
    def index(self) -> int:
        """Position of the part being read (len(parts) once all are read)."""
        return self._i

    @property
    def current(self) -> Part:
        """The part the last bytes came from."""
        return self.parts[min(self._i, len(self.parts) - 1)]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while self._i < len(self.parts):
            if self._file is None:
                part = self.parts[self._i]
                try:
                    self._file = open(part.path, "rb")  # noqa: SIM115 - closed when the part is exhausted
                except OSError as exc:
                    raise ArchiveError(f"{part.path}: cannot read part ({exc.strerror or exc})") from None
            n = self._file.readinto(view)
            if n:
                self.bytes_read += n
                if self.checksums:
                    self._hash.update(view[:n])
                return n
            self._file.close()
            self._file = None
            self._check_part()
            self._i += 1
        return 0

    def _check_part(self) -> None:
        """Compare the part just read with its published sha256 (hashed while streaming: no second read)."""
        part = self.parts[self._i]
        want = self.checksums.get(part.path)
        got, self._hash = self._hash.hexdigest(), hashlib.sha256()
        if want is not None and got != want:
            raise PartChecksumError(f"{part.path}: sha256 differs from the hub's listing: the part is corrupt; "
                                    "delete it and fetch again", self._i)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks (archives, downloaded parts and shards can be gigabytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fetched_checksums(parts: list[Part]) -> dict[Path, str]:
    """sha256 of each part as recorded by ``data fetch`` (``.sentry-fetch.json`` in a folder above the parts)."""
    for folder in parts[0].path.resolve().parents:
        state = folder / FETCH_STATE
        if state.is_file():
            try:
                files = json.loads(state.read_text()).get("files", {})
            except ValueError:
                return {}
            out = {}
            for p in parts:
                entry = files.get(p.path.resolve().relative_to(folder).as_posix())
                if entry and entry.get("sha256"):
                    out[p.path] = str(entry["sha256"])
            return out
    return {}


__all__ = ["CHUNK", "FETCH_STATE", "PART_RE", "ArchiveError", "Part", "PartChecksumError", "PartsReader",
           "fetched_checksums", "file_sha256", "find_parts"]
