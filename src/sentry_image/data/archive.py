"""Stream-extract ``<name>.tar.gz`` split into numbered parts, without ever writing the joined archive.

The published parts are about 3.22 GB each and a subset reaches hundreds of GB, so ``cat parts > joined`` is not
an option. :class:`~.parts.PartsReader` presents the parts, in numeric order, as one read-only stream; a single tar
reader in stream mode (``r|gz``) decompresses and unpacks it with a fixed-size buffer, so memory stays flat whatever
the archive size.

Safety and resumption:

- Every member goes through the standard library's ``tarfile.data_filter`` (absolute paths, ``..``, links
  pointing out of the target, device files are refused) and its destination is re-checked after resolving links
  already on disk. A refused member stops the extraction before anything is written for it.
- Files are written to a temporary name and renamed into place, then recorded (name, size, sha256) in a journal
  under ``<out>/.sentry-extract/``. A rerun skips journalled files still present with their size; the gzip stream
  itself cannot be resumed mid-way, so it is decompressed again but nothing is rewritten.
- An existing file that is not journalled is compared with the member: identical content is adopted, different
  content is never overwritten silently (:class:`ArchiveError`, unless ``overwrite=True``).
- A missing, truncated or corrupt part is named in the error.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from .parts import (
    CHUNK,
    PART_RE,
    ArchiveError,
    Part,
    PartChecksumError,
    PartsReader,
    fetched_checksums,
    file_sha256,
    find_parts,
)

log = logging.getLogger(__name__)

JOURNAL_DIR = ".sentry-extract"
_PARTIAL_SUFFIX = ".sentry-partial"


@dataclass
class ExtractResult:
    """What one extraction did. ``skipped`` counts files already extracted and verified by a previous run."""

    out: Path
    written: int = 0
    skipped: int = 0
    adopted: int = 0
    ignored: list[str] = field(default_factory=list)
    bytes_written: int = 0
    written_from: dict[str, int] = field(default_factory=dict, repr=False)  # name -> part index when written

    @property
    def files(self) -> int:
        return self.written + self.skipped + self.adopted


ProgressFn = Callable[[int, int, int], None]  # (compressed bytes read, total compressed bytes, files done)


def _journal_path(out: Path, parts: list[Part]) -> Path:
    stem = PART_RE.match(parts[0].path.name)
    return out / JOURNAL_DIR / f"{stem['stem'] if stem else parts[0].path.name}.jsonl"


def _read_journal(path: Path) -> dict[str, tuple[int, str]]:
    done: dict[str, tuple[int, str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
                done[row["name"]] = (int(row["size"]), str(row["sha256"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by an interruption: that file is simply redone
    return done


def _inside(out_real: str, path: Path) -> bool:
    real = os.path.realpath(path)
    return real == out_real or real.startswith(out_real + os.sep)


def _copy_member(src: IO[bytes], dest: Path) -> tuple[int, str]:
    """Stream one member to ``dest`` through a temporary name: a crash never leaves a half file under its name."""
    tmp = dest.with_name(dest.name + _PARTIAL_SUFFIX)
    h, n = hashlib.sha256(), 0
    with open(tmp, "wb") as f:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            f.write(chunk)
            n += len(chunk)
    os.replace(tmp, dest)
    return n, h.hexdigest()


def _member_digest(src: IO[bytes]) -> str:
    h = hashlib.sha256()
    while chunk := src.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()


def iter_members(tar: tarfile.TarFile, reader: PartsReader) -> Iterator[tarfile.TarInfo]:
    """Members of a stream-mode tar, turning decompression and format errors into errors naming the part."""
    it = iter(tar)
    while True:
        try:
            member = next(it)
        except StopIteration:
            return
        except (tarfile.ReadError, zlib.error, EOFError, OSError) as exc:
            raise _part_error(reader, exc) from None
        yield member


def _part_error(reader: PartsReader, exc: BaseException) -> ArchiveError:
    part = reader.current
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ArchiveError):
        return exc
    at_end = reader.bytes_read >= reader.total
    if "CRC check failed" in text or "Incorrect length" in text:
        return ArchiveError(f"{part.path.parent}: the archive's gzip checksum does not match ({text}): one of its "
                            f"{len(reader.parts)} parts is corrupt; fetch with `data fetch` to check each part")
    if at_end and ("end of" in text or "truncated" in text or isinstance(exc, EOFError)):
        return ArchiveError(f"{part.path}: the archive ends early in its last part ({text}): the part is truncated "
                            "or a later part is missing")
    return ArchiveError(f"{part.path}: corrupt data in this part ({text})")


def extract_parts(parts: list[Part], out: str | Path, *, overwrite: bool = False,
                  progress: ProgressFn | None = None, checksums: Mapping[Path, str] | None = None) -> ExtractResult:
    """Extract the archive made of ``parts`` into ``out``; resumable and safe (see the module docstring).

    ``checksums`` (part path -> sha256, by default those recorded by ``data fetch``) are checked as each part is
    streamed, which names a corrupt part exactly; without them, damage inside stored (incompressible) gzip blocks
    shows only as the archive's CRC failing at its end.

    Raises:
        ArchiveError: a refused member (path traversal, link out), a corrupt/truncated part (named), or a file
            that would be overwritten with different content.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    out_real = os.path.realpath(out)
    journal_path = _journal_path(out, parts)
    journal_path.parent.mkdir(exist_ok=True)
    done = _read_journal(journal_path)
    result = ExtractResult(out=out)
    sums = fetched_checksums(parts) if checksums is None else checksums
    with PartsReader(parts, sums) as raw, open(journal_path, "a") as journal:
        buffered = io.BufferedReader(raw, CHUNK)
        try:
            # gzip.GzipFile, not tarfile's own r|gz: it checks the CRC and length that end each gzip member
            gz = buffered.peek(2)[:2] == b"\x1f\x8b"
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb") if gz else buffered)
            tar = tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK)  # noqa: SIM115 - entered below
            with tar:
                for member in iter_members(tar, raw):
                    _extract_member(tar, member, raw, out, out_real, done, journal, result, overwrite)
                    if progress is not None:
                        progress(raw.bytes_read, raw.total, result.files)
                _drain(stream, raw)
        except PartChecksumError as exc:
            _forget_suspects(result, exc.index, journal_path)
            raise
        except ArchiveError:
            raise
        except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
            raise _part_error(raw, exc) from None
    return result


def _drain(stream: IO[bytes], raw: PartsReader) -> None:
    """Read past the tar's end-of-archive blocks so the gzip CRC and every part's checksum are checked."""
    while stream.read(CHUNK):
        pass
    while raw.read(CHUNK):  # bytes after the gzip stream (padding) still belong to the last part's checksum
        pass


def _forget_suspects(result: ExtractResult, index: int, journal_path: Path) -> None:
    """Files written this run from a part found corrupt (or later) are removed and dropped from the journal."""
    suspects = {name for name, part in result.written_from.items() if part >= index}
    for name in suspects:
        (result.out / name).unlink(missing_ok=True)
    if suspects and journal_path.exists():
        keep = [ln for ln in journal_path.read_text().splitlines()
                if ln.strip() and json.loads(ln).get("name") not in suspects]
        journal_path.write_text("".join(ln + "\n" for ln in keep))
    result.written -= len(suspects)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, raw: PartsReader, out: Path, out_real: str,
                    done: dict[str, tuple[int, str]], journal: IO[str], result: ExtractResult,
                    overwrite: bool) -> None:
    where = f"{raw.current.path}: member {member.name!r}"
    if member.name.startswith(("/", "\\")) or os.path.isabs(member.name) or re.match(r"^[A-Za-z]:", member.name):
        # data_filter would strip the slash and extract inside; an absolute name is a sign of a hostile archive
        raise ArchiveError(f"{where}: refused, absolute path; nothing of it was written")
    try:
        member = tarfile.data_filter(member, out_real)
    except tarfile.FilterError as exc:
        raise ArchiveError(f"{where}: refused, {exc}; nothing of it was written") from None
    dest = out / member.name
    if member.isdir():
        if not _inside(out_real, dest):
            raise ArchiveError(f"{where}: refused, resolves outside {out}")
        dest.mkdir(parents=True, exist_ok=True)
        return
    if not _inside(out_real, dest.parent) and dest.parent.exists():
        raise ArchiveError(f"{where}: refused, its folder resolves outside {out}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not _inside(out_real, dest.parent):  # a link created by an earlier member redirects the folder
        raise ArchiveError(f"{where}: refused, its folder resolves outside {out}")
    if member.issym() or member.islnk():
        _extract_link(member, dest, out, out_real, where)
        return
    if not member.isfile():
        result.ignored.append(member.name)
        log.warning("%s: skipped, not a regular file", where)
        return
    try:
        src = tar.extractfile(member)
        assert src is not None  # a regular file always has data
        prev = done.get(member.name)
        if dest.is_symlink():
            raise ArchiveError(f"{where}: refused, {dest} is a symbolic link")
        if prev is not None and dest.is_file() and dest.stat().st_size == prev[0] == member.size:
            result.skipped += 1
            return
        if dest.exists() and not overwrite:
            if _member_digest(src) != file_sha256(dest):
                raise ArchiveError(f"{where}: {dest} exists with different content; not overwritten "
                                   "(move it away, or extract with overwrite)")
            size, digest = member.size, file_sha256(dest)
            result.adopted += 1
        else:
            size, digest = _copy_member(src, dest)
            result.written_from[member.name] = raw.index
            result.written += 1
            result.bytes_written += size
    except (tarfile.ReadError, zlib.error, EOFError) as exc:
        raise _part_error(raw, exc) from None
    except OSError as exc:
        if isinstance(exc, tarfile.TarError | zlib.error):
            raise _part_error(raw, exc) from None
        raise ArchiveError(f"{dest}: cannot write ({exc.strerror or exc})") from None
    journal.write(json.dumps({"name": member.name, "size": size, "sha256": digest}) + "\n")
    journal.flush()


def _extract_link(member: tarfile.TarInfo, dest: Path, out: Path, out_real: str, where: str) -> None:
    """Links are recreated only when they stay inside ``out`` (data_filter checked the name; re-check on disk)."""
    if member.issym():
        target = dest.parent / member.linkname
        if not _inside(out_real, target):
            raise ArchiveError(f"{where}: refused, link points outside {out}")
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        os.symlink(member.linkname, dest)
        return
    source = out / member.linkname
    if not _inside(out_real, source) or not source.is_file():
        raise ArchiveError(f"{where}: refused, hard link to {member.linkname!r} outside {out} or not extracted")
    if dest.exists():
        dest.unlink()
    shutil.copyfile(source, dest)  # a copy, not a link: later edits of one file must not change the other


def extract(location: str | Path, out: str | Path, *, name: str | None = None, overwrite: bool = False,
            progress: ProgressFn | None = None) -> ExtractResult:
    """Find the parts at ``location`` (folder or any part) and extract them into ``out``."""
    return extract_parts(find_parts(location, name), out, overwrite=overwrite, progress=progress)


__all__ = ["JOURNAL_DIR", "ArchiveError", "ExtractResult", "extract", "extract_parts", "find_parts", "iter_members"]
