"""Fetch chosen subsets of the dataset repository from the Hugging Face hub (or a mirror), resumably.

Only the archive parts and the MetaData CSV of the chosen subsets are downloaded, at one commit: the revision
(branch, tag or sha) is resolved once, so a branch moving during a long fetch cannot mix two versions.

Resumption: ``hf_hub_download`` restarts an interrupted file from zero, which for 3.22 GB parts is too costly, so
this module drives the client's own building blocks (``HfApi`` for the listing, ``get_hf_file_metadata`` for
etag and size, ``http_get`` for the ranged GET) and keeps the partial bytes in ``<file>.incomplete``: a rerun asks
for the remaining range only. A finished file is checked against its size and, for LFS files, the sha256 the hub
lists, before it takes its final name; ``<to>/.sentry-fetch.json`` records the commit and the files fetched.

The endpoint is ``endpoint`` or ``$HF_ENDPOINT`` read at call time (the client reads it once at import), which is
how the tests point the real client at a loopback server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .parts import PART_RE, file_sha256
from .subsets import REPO_ID, REPO_TYPE, Subset

log = logging.getLogger(__name__)

STATE_FILE = ".sentry-fetch.json"
DEFAULT_REVISION = "main"


class FetchError(Exception):
    """A download that cannot proceed; the message is one line a user can act on."""


@dataclass(frozen=True)
class RemoteFile:
    """A file of the repository at the pinned commit. ``sha256`` is set for LFS files."""

    path: str
    size: int
    sha256: str | None = None


@dataclass
class FetchResult:
    """What :func:`fetch` did: the pinned commit and the files downloaded or already present."""

    commit: str
    to: Path
    downloaded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0  # transferred by this run (a resumed file counts its remainder only)


ProgressFn = Callable[[str, int, int], None]  # (file, bytes done in this file, file size)


def _endpoint(endpoint: str | None) -> str:
    return (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _explain(exc: BaseException, what: str, endpoint: str) -> FetchError:
    """One actionable line for the client's errors (401, 404, no network, ...)."""
    from huggingface_hub import errors

    try:  # huggingface_hub 2.x speaks httpx2; 1.x spoke httpx
        import httpx2 as httpx
    except ImportError:  # pragma: no cover - depends on the installed client
        import httpx  # type: ignore[no-redef]

    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, errors.RevisionNotFoundError):
        return FetchError(f"{what}: revision not found on {endpoint}")
    if isinstance(exc, errors.GatedRepoError):
        return FetchError(f"{what}: the repository is gated; accept its terms on the hub and log in (hf auth login)")
    if isinstance(exc, errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            return FetchError(f"{what}: 401 unauthorized from {endpoint}: the repository is private or your "
                              "token is invalid (set HF_TOKEN or run hf auth login)")
        if status == 403:
            return FetchError(f"{what}: 403 forbidden from {endpoint}: your token lacks access")
        if status == 404:
            return FetchError(f"{what}: 404 not found on {endpoint} (wrong repository, revision or path)")
        return FetchError(f"{what}: the hub answered {status}: {str(exc).splitlines()[0]}")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return FetchError(f"{what}: offline mode is on (HF_HUB_OFFLINE=1); unset it to download")
    if isinstance(exc, httpx.ConnectError | httpx.TimeoutException | httpx.NetworkError):
        return FetchError(f"{what}: cannot reach {endpoint} ({type(exc).__name__}): no network, or a wrong "
                          "HF_ENDPOINT")
    if isinstance(exc, OSError):
        return FetchError(f"{what}: {exc.strerror or exc}")
    return FetchError(f"{what}: {type(exc).__name__}: {exc}")


def resolve_commit(revision: str, *, repo_id: str = REPO_ID, endpoint: str | None = None,
                   token: str | bool | None = None) -> str:
    """The commit sha ``revision`` points at (a sha is returned as the hub confirms it)."""
    from huggingface_hub import HfApi

    ep = _endpoint(endpoint)
    try:
        info = HfApi(endpoint=ep, token=token).dataset_info(repo_id, revision=revision)
    except Exception as exc:
        raise _explain(exc, f"{repo_id}@{revision}", ep) from None
    if not info.sha:
        raise FetchError(f"{repo_id}@{revision}: the hub did not report a commit")
    return str(info.sha)


def list_subset_files(subsets: Iterable[Subset], commit: str, *, repo_id: str = REPO_ID,
                      endpoint: str | None = None, token: str | bool | None = None) -> list[RemoteFile]:
    """Archive parts and CSV of each subset at ``commit``, from the hub listing (one folder listed per subset)."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    ep = _endpoint(endpoint)
    api = HfApi(endpoint=ep, token=token)
    files: list[RemoteFile] = []
    metadata: dict[str, dict[str, RemoteFile]] = {}
    for subset in subsets:
        try:
            tree = list(api.list_repo_tree(repo_id, subset.archive_dir, recursive=True, revision=commit,
                                           repo_type=REPO_TYPE))
            if subset.split not in metadata:
                listing = api.list_repo_tree(repo_id, f"MetaData/{subset.split}", revision=commit,
                                             repo_type=REPO_TYPE)
                metadata[subset.split] = {e.path: _remote(e) for e in listing if isinstance(e, RepoFile)}
        except Exception as exc:
            raise _explain(exc, f"{repo_id}: listing {subset.name}", ep) from None
        parts = [_remote(e) for e in tree if isinstance(e, RepoFile) and _is_part_of(e.path, subset)]
        if not parts:
            raise FetchError(f"{repo_id}@{commit[:12]}: no archive parts under {subset.archive_dir}")
        csv = metadata[subset.split].get(subset.csv_path)
        if csv is None:
            raise FetchError(f"{repo_id}@{commit[:12]}: {subset.csv_path} is not on the hub")
        files.extend(sorted(parts, key=lambda f: _part_key(f.path)))
        files.append(csv)
    return files


def _remote(entry: Any) -> RemoteFile:
    return RemoteFile(entry.path, int(entry.size), entry.lfs.sha256 if entry.lfs is not None else None)


def _is_part_of(path: str, subset: Subset) -> bool:
    m = PART_RE.match(path.rsplit("/", 1)[-1])
    return m is not None and m["stem"] == subset.archive_name and path.startswith(subset.archive_dir + "/")


def _part_key(path: str) -> tuple[str, int]:
    m = PART_RE.match(path.rsplit("/", 1)[-1])
    return (path, -1) if m is None or m["num"] is None else (m["stem"], int(m["num"]))


class _CountingFile:
    """The partial file seen by ``http_get``: reports progress on each write."""

    def __init__(self, f: Any, name: str, done: int, total: int, progress: ProgressFn | None) -> None:
        self._f, self._name, self.done, self._total, self._progress = f, name, done, total, progress

    def write(self, data: bytes) -> int:
        n: int = self._f.write(data)
        self.done += n
        if self._progress is not None:
            self._progress(self._name, self.done, self._total)
        return n

    def __getattr__(self, attr: str) -> Any:  # seek/tell/truncate used when the server ignores Range
        return getattr(self._f, attr)


def _silent_tqdm() -> type[Any]:
    from huggingface_hub.utils import tqdm

    class Silent(tqdm):  # progress is ours (Rich, on stderr), not the client's
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def download_file(remote: RemoteFile, commit: str, to: Path, *, repo_id: str = REPO_ID, endpoint: str | None = None,
                  token: str | bool | None = None, progress: ProgressFn | None = None) -> int | None:
    """Download one file to ``to/<path>``, resuming a partial download.

    Returns the bytes transferred by this call (less than the size when it resumed), None if already complete.
    """
    from filelock import FileLock, Timeout

    dest = to / remote.path
    if dest.is_file() and dest.stat().st_size == remote.size:
        return None
    # Two fetches appending to one partial file would interleave bytes: the second one stops instead.
    lock_dir = to / ".sentry-fetch-locks"
    lock_dir.mkdir(exist_ok=True)
    lock = FileLock(lock_dir / (hashlib.sha1(remote.path.encode()).hexdigest() + ".lock"))
    try:
        with lock.acquire(timeout=0):
            return _download(remote, commit, to, dest, repo_id=repo_id, endpoint=endpoint, token=token,
                             progress=progress)
    except Timeout:
        raise FetchError(f"{dest}: another fetch is downloading this file; wait for it or stop it") from None


def _download(remote: RemoteFile, commit: str, to: Path, dest: Path, *, repo_id: str, endpoint: str | None,
              token: str | bool | None, progress: ProgressFn | None) -> int | None:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    ep = _endpoint(endpoint)
    if dest.is_file() and dest.stat().st_size == remote.size:  # finished by another fetch while we waited
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".incomplete")
    have = partial.stat().st_size if partial.exists() else 0
    if have > remote.size:  # not a prefix of this file (another commit?): start again
        partial.unlink()
        have = 0
    free = shutil.disk_usage(dest.parent).free
    if remote.size - have > free:
        raise FetchError(f"{dest}: not enough disk space: {remote.size - have} bytes needed, {free} free")
    url = hf_hub_url(repo_id, remote.path, repo_type=REPO_TYPE, revision=commit, endpoint=ep)
    headers = build_hf_headers(token=token)
    try:
        meta = get_hf_file_metadata(url, token=token, endpoint=ep)
        if meta.size is not None and meta.size != remote.size:
            raise FetchError(f"{remote.path}: the hub lists {remote.size} bytes but serves {meta.size}")
        with open(partial, "ab") as f:
            sink = _CountingFile(f, remote.path, have, remote.size, progress)
            http_get(meta.location, sink, resume_size=have, headers=headers,  # type: ignore[arg-type]
                     expected_size=remote.size, tqdm_class=_silent_tqdm())
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC: the partial file is kept for a rerun
            raise FetchError(f"{dest}: the disk is full; free space and rerun to resume") from None
        raise _explain(exc, remote.path, ep) from None
    size = partial.stat().st_size
    if size != remote.size:
        raise FetchError(f"{remote.path}: received {size} of {remote.size} bytes; rerun to resume")
    if remote.sha256 is not None and file_sha256(partial) != remote.sha256:
        partial.unlink()  # corrupt beyond repair by resuming
        raise FetchError(f"{remote.path}: sha256 differs from the hub's; the partial file was removed, rerun")
    os.replace(partial, dest)
    return size - have



def fetch(subsets: Iterable[Subset], to: str | Path, *, revision: str = DEFAULT_REVISION, repo_id: str = REPO_ID,
          endpoint: str | None = None, token: str | bool | None = None, progress: ProgressFn | None = None,
          plan: Callable[[list[RemoteFile]], None] | None = None) -> FetchResult:
    """Download the archive parts and CSVs of ``subsets`` into ``to`` (the repository layout), resumably.

    ``plan`` is called once with the files to fetch (for a progress total). Raises :class:`FetchError`.
    """
    chosen = list(subsets)
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    commit = resolve_commit(revision, repo_id=repo_id, endpoint=endpoint, token=token)
    files = list_subset_files(chosen, commit, repo_id=repo_id, endpoint=endpoint, token=token)
    if plan is not None:
        plan(files)
    result = FetchResult(commit=commit, to=to)
    for remote in files:
        sent = download_file(remote, commit, to, repo_id=repo_id, endpoint=endpoint, token=token, progress=progress)
        if sent is not None:
            result.downloaded.append(remote.path)
            result.bytes_downloaded += sent
        else:
            result.present.append(remote.path)
            if progress is not None:
                progress(remote.path, remote.size, remote.size)
    _write_state(to, repo_id, revision, commit, chosen, files)
    return result


def _write_state(to: Path, repo_id: str, revision: str, commit: str, subsets: list[Subset],
                 files: list[RemoteFile]) -> None:
    path = to / STATE_FILE
    state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    state.update({"repo_id": repo_id, "revision": revision, "commit": commit})
    fetched = state.setdefault("files", {})
    for f in files:
        fetched[f.path] = {"size": f.size, "sha256": f.sha256, "commit": commit}
    state["subsets"] = sorted(set(state.get("subsets", [])) | {s.name for s in subsets})
    path.write_text(json.dumps(state, indent=2) + "\n")
