"""Checkpoints on the Hugging Face hub: ``hf-hub:owner/name[/folder][@revision]`` as a model reference.

The reference follows timm's ``hf-hub:`` convention. It names a model repository, optionally a folder inside it
(a checkpoint folder, or an ``.onnx`` file written by ``sentry-image export onnx``) and a revision (branch, tag or
commit; the default branch otherwise). It resolves to a local path in the standard hub cache (``HF_HOME``,
``HF_HUB_CACHE``), downloaded with ``huggingface_hub.snapshot_download``, so what :func:`~.checkpoint.load_model`
then reads is an ordinary checkpoint folder or file.

Only the files a checkpoint needs are downloaded: its ``config.json`` first, which says what else is needed (the
graph and/or the weights and the training record; for a fusion, each branch folder the same way), so a repository
with other files (notebooks, extra graphs) costs nothing more. A folder without ``config.json`` holding exactly
one ``.onnx`` file resolves to that file. The first download pins the commit, so a branch moving meanwhile cannot
mix two versions of one checkpoint.

Offline (``HF_HUB_OFFLINE=1``, or the hub unreachable) a cached checkpoint loads from the cache; anything else is
one :class:`~.runtime.CheckpointError` line saying what to do. The endpoint, cache and offline switch are read
from the environment at call time (the client reads them once, at import). ``huggingface_hub`` is imported only
here, inside the functions: it belongs to an optional extra.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .fusion import ARCHITECTURE as FUSION
from .fusion import branch_specs
from .runtime import CheckpointError
from .training_record import RECORD

PREFIX = "hf-hub:"
HUB_EXTRA = "pip install 'sentry-image[data]'"
# file names of a checkpoint folder (checkpoint.py's constants: importing that module from here would be a cycle)
CONFIG, GRAPH, WEIGHTS = "config.json", "model.onnx", "model.safetensors"
MAX_DEPTH = 4  # fusion branches nest at most this deep: a config naming its own folder must not loop forever
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_USAGE = "expected hf-hub:owner/name, hf-hub:owner/name/folder or hf-hub:owner/name/file.onnx, each with @revision"


@dataclass(frozen=True)
class HubRef:
    """A parsed ``hf-hub:`` reference: the repository, a path inside it (``""``: its root) and the revision."""

    repo_id: str
    path: str = ""
    revision: str | None = None

    def __str__(self) -> str:
        where = f"{self.repo_id}/{self.path}" if self.path else self.repo_id
        return f"{PREFIX}{where}" + (f"@{self.revision}" if self.revision else "")


def parse_hub_ref(text: str) -> HubRef:
    """``hf-hub:owner/name[/folder][@revision]`` -> :class:`HubRef` (a revision may hold ``/``: ``refs/pr/1``)."""
    body, at, revision = text.removeprefix(PREFIX).partition("@")
    parts = body.strip("/").split("/")
    if len(parts) < 2 or (at and not revision.strip()) or not all(_NAME.fullmatch(p) for p in parts[:2]) or any(
            p in ("", ".", "..") for p in parts[2:]):
        raise CheckpointError(f"{text}: not a hub reference ({_USAGE})")
    return HubRef(f"{parts[0]}/{parts[1]}", "/".join(parts[2:]), revision.strip() or None)


def cache_dir() -> str:
    """The hub cache the client would use, read now: ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else its default."""
    env = os.environ
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(key):
            return os.path.expanduser(os.path.expandvars(env[key]))
    if env.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.path.expandvars(env["HF_HOME"])), "hub")
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


@cache
def _progress_bar() -> type:
    """The client's progress bars, on a terminal only and gone when done: a cached model leaves no lines behind
    (its own ``Fetching N files`` bar would print on every resolution, piped or not)."""
    from huggingface_hub.utils import tqdm as hub_tqdm

    class Bar(hub_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["leave"] = False
            if kwargs.get("disable") is not True:
                kwargs["disable"] = None  # tqdm's own rule: shown when writing to a terminal
            super().__init__(*args, **kwargs)

    return Bar


class _NothingMatched(logging.Filter):
    """Probing a folder for ``config.json`` may match nothing (a lone ``.onnx``): not worth a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No files matched")


class _Snapshot:
    """Downloads of one reference: each call fetches some files of the same commit into the same cache folder."""

    def __init__(self, ref: HubRef) -> None:
        self.ref, self.revision = ref, ref.revision
        self.endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or None
        self.cache, self.offline = cache_dir(), offline()

    def fetch(self, allow: list[str], ignore: list[str] | None = None) -> Path:
        """Download (or find in the cache) the files matching ``allow``; returns the snapshot's root folder."""
        from huggingface_hub import snapshot_download

        quiet = _NothingMatched()
        logger = logging.getLogger("huggingface_hub._snapshot_download")
        logger.addFilter(quiet)
        try:
            root = Path(snapshot_download(self.ref.repo_id, revision=self.revision, cache_dir=self.cache,
                                          endpoint=self.endpoint, local_files_only=self.offline,
                                          allow_patterns=allow, ignore_patterns=ignore,
                                          tqdm_class=_progress_bar()))
        except Exception as exc:  # the client's errors become one line a user can act on
            raise self._explain(exc) from None
        finally:
            logger.removeFilter(quiet)
        if _COMMIT.fullmatch(root.name):  # the cache's snapshots/<commit>: later files come from that commit
            self.revision = root.name
        return root

    def _explain(self, exc: Exception) -> CheckpointError:
        from huggingface_hub import constants, errors

        ref, repo = self.ref, self.ref.repo_id
        endpoint = self.endpoint or constants.ENDPOINT
        if isinstance(exc, errors.GatedRepoError):
            why = f"{repo} is gated: accept its conditions on its hub page, then log in (hf auth login, or HF_TOKEN)"
        elif isinstance(exc, errors.RepositoryNotFoundError):
            why = (f"no model repository {repo} on {endpoint} (or it is private: log in with hf auth login, or "
                   "set HF_TOKEN)")
        elif isinstance(exc, errors.RevisionNotFoundError):
            why = f"{repo} has no revision {self.revision or 'main'!r} (a branch, tag or commit)"
        elif isinstance(exc, errors.IncompleteSnapshotError | errors.LocalEntryNotFoundError):
            state = "only partly" if isinstance(exc, errors.IncompleteSnapshotError) else "not"
            if self.offline or isinstance(exc.__cause__, errors.OfflineModeIsEnabled):
                why = (f"{state} in the hub cache {self.cache} and offline mode is on (HF_HUB_OFFLINE=1): run once "
                       "with network access (HF_HUB_OFFLINE unset) to cache it")
            else:
                why = (f"{state} in the hub cache {self.cache} and {endpoint} cannot be reached: run once with "
                       "network access to cache it (or set HF_ENDPOINT to a mirror)")
        elif isinstance(exc, errors.HfHubHTTPError):
            status = exc.response.status_code if exc.response is not None else "an error"
            why = f"the hub ({endpoint}) answered {status}: {str(exc).splitlines()[0]}"
        elif isinstance(exc, OSError):
            why = f"cannot write the hub cache {self.cache}: {exc.strerror or exc}"
        else:
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return CheckpointError(f"{ref}: {why}")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def _read(folder: Path, ref: HubRef) -> dict[str, Any]:
    try:
        config = json.loads((folder / CONFIG).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{ref}: unreadable {CONFIG} ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{ref}: {CONFIG} is not a JSON object")
    return config


def _fetch_checkpoint(snap: _Snapshot, root: Path, folder: str, depth: int = 0) -> None:
    """Download what the checkpoint at ``folder`` (its ``config.json`` already cached) needs, branches included."""
    config = _read(root / folder, snap.ref)
    where = str(snap.ref) if folder == snap.ref.path else f"{snap.ref}, branch {folder}"
    if config.get("architecture") == FUSION:
        if depth >= MAX_DEPTH:
            raise CheckpointError(f"{where}: fusion branches nested more than {MAX_DEPTH} deep")
        branches = [_join(folder, str(s["folder"])) for s in branch_specs(config, where)]
        snap.fetch([_join(folder, RECORD), *(_join(b, CONFIG) for b in branches)])
        for branch in branches:
            if not (root / branch / CONFIG).is_file():
                raise CheckpointError(f"{where}: branch folder {branch!r} has no {CONFIG} in {snap.ref.repo_id}")
            _fetch_checkpoint(snap, root, branch, depth + 1)
        return
    snap.fetch([_join(folder, name) for name in (CONFIG, GRAPH, WEIGHTS, RECORD)])
    if not (root / folder / GRAPH).is_file() and not (root / folder / WEIGHTS).is_file():
        raise CheckpointError(f"{where}: not a checkpoint: {CONFIG} but neither {GRAPH} nor {WEIGHTS}")


def resolve_hub_model(text: str) -> Path:
    """The local path of ``hf-hub:...`` (downloaded into the hub cache if need be): a folder or an ``.onnx`` file.

    Raises:
        CheckpointError: a malformed reference, no hub client, an unknown, gated or private repository, an
            unknown revision, a repository holding no checkpoint there, or offline without a cached copy.
    """
    ref = parse_hub_ref(text)
    try:
        import huggingface_hub  # noqa: F401
    except ImportError as exc:
        raise CheckpointError(f"{ref}: models from the hub need huggingface_hub: {HUB_EXTRA} "
                              f"({exc.name or exc} missing)") from None
    snap = _Snapshot(ref)
    if ref.path.endswith(".onnx"):
        target = snap.fetch([ref.path]) / ref.path
        if not target.is_file():
            raise CheckpointError(f"{ref}: {ref.repo_id} has no file {ref.path!r}")
        return target
    # config.json says what else to fetch; model.onnx comes along, as most checkpoints and lone exports have one
    root = snap.fetch([_join(ref.path, CONFIG), _join(ref.path, GRAPH)])
    if (root / ref.path / CONFIG).is_file():
        _fetch_checkpoint(snap, root, ref.path)
        return root / ref.path
    # no config.json: a lone exported graph, if the folder holds exactly one (sub-folders are not looked into)
    root = snap.fetch([_join(ref.path, "*.onnx")], ignore=[_join(ref.path, "*/*")])
    graphs = sorted(p.name for p in (root / ref.path).glob("*.onnx")) if (root / ref.path).is_dir() else []
    if len(graphs) == 1:
        return root / ref.path / graphs[0]
    where = f"{ref.repo_id}/{ref.path}" if ref.path else ref.repo_id
    if graphs:
        raise CheckpointError(f"{ref}: {where} holds no {CONFIG} but several .onnx files ({', '.join(graphs)}): "
                              f"name one, e.g. {PREFIX}{where}/{graphs[0]}")
    raise CheckpointError(f"{ref}: not a checkpoint: {where} holds no {CONFIG} (with {GRAPH} or {WEIGHTS}) and "
                          "no exported .onnx file")


__all__ = ["PREFIX", "HubRef", "cache_dir", "offline", "parse_hub_ref", "resolve_hub_model"]
