"""Expand the paths a user names into image files: lazily, deterministically, and without ever raising.

Rules:

* A path named explicitly that is not a directory is yielded whatever its extension: the user asked for it, so
  a text file called ``notes.txt`` or ``photo.jpg`` gets its ``not_an_image`` row from decoding rather than
  being skipped in silence.
* A directory contributes its entries with an image-like extension (:data:`IMAGE_EXTENSIONS`, any case), sorted
  by name per directory so runs are reproducible. Only direct entries unless ``recursive``.
* Directories are streamed with ``os.scandir``: at any time only the entries of the directories on the current
  path are held, never a listing of the whole tree, so 10,000+ files cost no more memory than their largest
  directory.
* Problems are yielded as :class:`~sentry_image.imaging.ImageError` in the place they occur, never raised: a
  missing path or broken symbolic link (``not_found``), a directory that cannot be listed
  (``permission_denied``), a symbolic link loop (``unreadable``). Loops are found by the (device, inode) of the
  directories on the current path; two links to one directory are both walked: nothing is deduplicated
  silently.
* :func:`iter_sources` (what ``detect`` reads) also takes http(s) URLs: each becomes a
  :class:`~sentry_image.imaging.fetch.RemoteImage` in its place, fetched later on the decoding threads. Another
  ``scheme://`` that names no existing path gets a ``fetch_failed`` row rather than a puzzling ``not_found``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from .decode import ImageError, os_error
from .fetch import FetchOptions, RemoteImage, is_url

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".heic", ".heif", ".avif"}
)

_OTHER_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # ftp://, file://, s3://, ...
_Key = tuple[int, int]  # (st_dev, st_ino): a directory's identity whatever path or link reaches it
_Entry = tuple[Path, _Key | None]  # a file (key None) or a directory to descend into


def is_image_name(name: str | Path) -> bool:
    """True if the name has an image-like extension (case-insensitive)."""
    return os.path.splitext(str(name))[1].lower() in IMAGE_EXTENSIONS


def iter_inputs(paths: Iterable[str | Path], recursive: bool = False) -> Iterator[Path | ImageError]:
    """Yield each image file under ``paths`` in a deterministic order, or an ImageError where one cannot be had.

    Args:
        paths: files and directories as the user named them; consumed lazily (may be a generator).
        recursive: descend into sub-directories (following symbolic links, with loop detection).
    """
    for raw in paths:
        try:
            path = Path(raw)
            info = os.stat(path)
        except OSError as exc:
            yield os_error(exc, str(raw))
            continue
        except (TypeError, ValueError) as exc:  # an embedded NUL byte, a non-path object
            yield ImageError("not_found", f"invalid path: {exc}", str(raw))
            continue
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(path, (info.st_dev, info.st_ino), recursive)
        else:
            yield path  # decoding reports not_a_file for FIFOs and devices


def iter_sources(args: Iterable[str | Path], recursive: bool = False,
                 fetch: FetchOptions | None = None) -> Iterator[Path | RemoteImage | ImageError]:
    """:func:`iter_inputs` where a string argument may also be an http(s) URL, kept in its place in the order.

    Only ``str`` arguments can be URLs: a :class:`~pathlib.Path` is always a path (``Path`` would also have folded
    the ``//`` of a URL). ``fetch`` says how the URLs will be fetched (timeouts, redirects, an address guard).
    """
    options = fetch or FetchOptions()
    for raw in args:
        if isinstance(raw, str) and is_url(raw):
            yield RemoteImage(raw, options)
        elif isinstance(raw, str) and _OTHER_SCHEME.match(raw) and not os.path.lexists(raw):
            yield ImageError("fetch_failed", "not an http or https URL: only those are fetched", raw)
        else:
            yield from iter_inputs([raw], recursive)


def _walk(root: Path, root_key: _Key, recursive: bool) -> Iterator[Path | ImageError]:
    """Depth-first walk in name order; an explicit stack, so deep trees cannot hit the recursion limit."""
    chain: list[tuple[_Key, Path]] = [(root_key, root)]  # directories on the current path, root first
    levels: list[Iterator[_Entry | ImageError]] = [_scan(root, recursive)]
    while levels:
        item = next(levels[-1], None)
        if item is None:  # this directory is done
            levels.pop()
            chain.pop()
            continue
        if isinstance(item, ImageError):
            yield item
            continue
        path, key = item
        if key is None:
            yield path
            continue
        ancestor = next((seen for seen_key, seen in chain if seen_key == key), None)
        if ancestor is not None:
            yield ImageError("unreadable", f"symbolic link loop: leads back to {ancestor}", str(path))
            continue
        chain.append((key, path))
        levels.append(_scan(path, recursive))


def _scan(directory: Path, recursive: bool) -> Iterator[_Entry | ImageError]:
    """The image files (and, if recursive, sub-directories) of one directory, sorted by name."""
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        error = os_error(exc, str(directory))
        if error.code == "permission_denied":
            error.message = "permission denied: cannot list directory"
        yield error
        return
    for entry in entries:
        item = _classify(entry, recursive)
        if item is not None:
            yield item


def _classify(entry: os.DirEntry[str], recursive: bool) -> _Entry | ImageError | None:
    """What one directory entry contributes: a file, a directory to walk, an error, or nothing."""
    path = Path(entry.path)
    try:
        if entry.is_dir():  # follows symbolic links: a link to a directory is walked like one
            if not recursive:
                return None
            info = entry.stat()
            return path, (info.st_dev, info.st_ino)
        if not is_image_name(entry.name):
            return None
        if entry.is_symlink() and not entry.is_file():
            problem = _link_problem(path)
            if problem is not None:
                return problem
    except OSError as exc:  # a self-referential link raises ELOOP from is_dir(); races raise the rest
        if exc.errno == errno.ELOOP:
            return ImageError("unreadable", "symbolic link loop", str(path))
        return os_error(exc, str(path))
    return path, None


def _link_problem(path: Path) -> ImageError | None:
    """Why a link that is neither a file nor a directory fails; None if it reaches a FIFO or device.

    A FIFO or device behind the link is yielded as a path, so decoding reports it (``not_a_file``) by name.
    """
    try:
        os.stat(path)
    except OSError as exc:
        return os_error(exc, str(path))
    return None
