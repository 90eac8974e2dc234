"""The importer framework: read a checkpoint file as its authors released it, check it against the family's
reference layout, and write it as our self-describing checkpoint folder.

A published detector is only reproduced when three things match its authors' code: the weights (every key and
shape, nothing silently left at its initial value), the forward pass, and the test-time preprocessing. This module
owns the first and the writing; each family module (``<family>.py`` beside it) owns its network and preprocessing
and registers itself with :func:`register_importer`. Imported checkpoints keep the authors' operating point
(``sigmoid(logit) >= 0.5``, no uncertain band) until someone recalibrates them on a calibration split.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import torch

from .folder import AUTHORS_CALIBRATION, sha256, write_imported

if TYPE_CHECKING:
    from ..base import DetectorModel

log = logging.getLogger(__name__)

#: training scripts wrap the weights with their optimiser state and bookkeeping under one of these keys
WRAPPER_KEYS = ("model", "state_dict", "net", "model_state_dict")


class ImportFailure(ValueError):
    """A file is not what the family's importer expects; the message names the file and the first problem."""


class ImportFn(Protocol):
    def __call__(self, file: Path, out: Path, *, backbone: Path | None = None) -> Path: ...


class ProtocolImportFn(Protocol):
    """The import function of a family whose authors evaluated under more than one test protocol."""

    def __call__(self, file: Path, out: Path, *, backbone: Path | None = None, protocol: str | None = None) -> Path:
        ...


@dataclass(frozen=True)
class Importer:
    """One registered family: its import function and the record of where the detector comes from.

    Attributes:
        family: the name users type (``sentry-image import FAMILY FILE``).
        fn: ``(file, out, *, backbone=None) -> out``: builds the network, loads ``file`` strictly, writes ``out``.
        paper, source, licence: the publication, the official repository URL and the licence of its code/weights.
        description: one line for listings.
        signature: keys whose presence identifies this family's released file (for "this looks like ..." hints).
        file_hint: how that file is named in such hints, e.g. ``"a UnivFD fc_weights.pth"``.
        protocols: the authors' test protocols, name -> description, the default first (empty: just one);
            ``fn`` then also takes ``protocol=``.
    """

    family: str
    fn: ImportFn | ProtocolImportFn
    paper: str
    source: str
    licence: str
    description: str
    signature: tuple[str, ...] = ()
    file_hint: str = ""
    protocols: dict[str, str] = field(default_factory=dict)

    def __call__(self, file: Path, out: Path, *, backbone: Path | None = None, protocol: str | None = None) -> Path:
        back = None if backbone is None else Path(backbone)
        if protocol is None:
            return self.fn(Path(file), Path(out), backbone=back)
        if protocol not in self.protocols:
            known = f"one of {', '.join(self.protocols)}" if self.protocols else "none: it has a single protocol"
            raise ImportFailure(f"{self.family}: unknown test protocol {protocol!r} ({known})")
        fn: ProtocolImportFn = self.fn  # type: ignore[assignment]  # families with protocols take the keyword
        return fn(Path(file), Path(out), backbone=back, protocol=protocol)


IMPORTERS: dict[str, Importer] = {}

F = TypeVar("F", bound=Callable[..., Path])


def register_importer(family: str, *, paper: str, source: str, licence: str, description: str,
                      signature: Sequence[str] = (), file_hint: str = "",
                      protocols: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """Decorator: register ``def import_x(file: Path, out: Path, *, backbone: Path | None = None) -> Path``
    (with ``protocols``, it also takes ``protocol: str | None = None``: ``None`` is the first)."""

    def wrap(fn: F) -> F:
        if family in IMPORTERS:
            raise ValueError(f"importer {family!r} is already registered")
        IMPORTERS[family] = Importer(family, fn, paper, source, licence, description, tuple(signature),
                                     file_hint or f"a {family} checkpoint", dict(protocols or {}))
        return fn

    return wrap


# -- reading ---------------------------------------------------------------------------------------------------------
def read_state_dict(file: str | Path, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a released checkpoint: wrappers unwrapped, ``module.`` prefixes stripped, non-tensors dropped.

    ``.safetensors`` files are read directly. Pickled torch files load with ``weights_only=True``; a file that needs
    the unsafe loader (arbitrary objects, e.g. a pickled options namespace) is refused unless ``allow_pickle``,
    because unpickling runs code from the file.
    """
    file = Path(file)
    if not file.is_file():
        raise ImportFailure(f"{file}: no such file")
    raw: Any
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            raw = load_file(str(file))
        except Exception as exc:  # safetensors raises its own error types
            raise ImportFailure(f"{file}: unreadable safetensors file ({exc})") from None
    else:
        raw = _torch_load(file, allow_pickle)
    state = _unwrap(raw, file)
    tensors = {_strip_prefix(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ImportFailure(f"{file}: holds no tensors (keys: {sorted(map(str, state))[:5]})")
    return tensors


def _torch_load(file: Path, allow_pickle: bool) -> Any:
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is a page of advice; the one fact that matters is the class the file wants to build
        unsafe = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if unsafe is None:
            raise ImportFailure(f"{file}: not a readable torch checkpoint (the weights-only loader stops: "
                                f"{_last_reason(str(exc))})") from None
        if not allow_pickle:
            raise ImportFailure(f"{file}: needs the unsafe pickle loader, which can run code from the file (it "
                                f"pickles {unsafe.group(1)}); pass allow_pickle=True only for a file you "
                                "trust") from None
    except Exception as exc:  # zip/pickle corruption surfaces as many types
        raise ImportFailure(f"{file}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from None
    log.warning("%s: loading with the unsafe pickle loader (allowed by the caller)", file)
    try:
        return torch.load(file, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ImportFailure(f"{file}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from None


def _last_reason(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip() and not line.startswith("Check the doc")]
    return lines[-1] if lines else "unknown reason"


def _unwrap(raw: Any, file: Path) -> Mapping[str, Any]:
    if isinstance(raw, torch.nn.Module):
        return raw.state_dict()
    if not isinstance(raw, Mapping):
        raise ImportFailure(f"{file}: expected a state dict, found a {type(raw).__name__}")
    for _ in range(3):  # {'model': {'state_dict': ...}} occurs; deeper nesting does not
        inner = next((raw[k] for k in WRAPPER_KEYS if isinstance(raw.get(k), Mapping | torch.nn.Module)), None)
        if inner is None:
            break
        raw = inner.state_dict() if isinstance(inner, torch.nn.Module) else inner
    return raw


def _strip_prefix(key: str) -> str:
    # DataParallel / DistributedDataParallel save every key under "module."
    while key.startswith("module."):
        key = key[len("module."):]
    return key


# -- checking --------------------------------------------------------------------------------------------------------
def check_keys(got: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], file: str | Path,
               family: str) -> None:
    """Raise :class:`ImportFailure` unless ``got`` has exactly ``expected``'s keys and shapes.

    The message names the file, the family and the first problem in sorted key order, with a hint when the keys
    look like another registered family's file.
    """
    problems: list[tuple[str, str]] = []
    problems += [(k, f"missing key {k!r}") for k in set(expected) - set(got)]
    problems += [(k, f"unexpected key {k!r}") for k in set(got) - set(expected)]
    problems += [(k, f"key {k!r} has shape {list(got[k].shape)}, expected {list(expected[k].shape)}")
                 for k in set(got) & set(expected) if tuple(got[k].shape) != tuple(expected[k].shape)]
    if not problems:
        return
    problems.sort()
    count = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    # a file carrying this family's own signature is this family's file with a fault, not another family's (NPR's
    # signature keys are a subset of FreqNet's)
    own = IMPORTERS.get(family)
    is_own = own is not None and bool(own.signature) and all(k in got for k in own.signature)
    hint = "" if is_own else looks_like(got, exclude=family)
    raise ImportFailure(f"{file}: not a {family} checkpoint: {problems[0][1]}{count}"
                        + (f"; this looks like {hint}" if hint else ""))


def looks_like(state: Mapping[str, Any], *, exclude: str = "") -> str:
    """How to describe a file whose keys match another family's signature (the longest match), or ``""``."""
    found = [imp for imp in IMPORTERS.values()
             if imp.family != exclude and imp.signature and all(k in state for k in imp.signature)]
    best = max(found, key=lambda imp: len(imp.signature), default=None)
    return f"{best.file_hint} (import it as family {best.family!r})" if best else ""


def load_official(model: DetectorModel, state: Mapping[str, torch.Tensor], file: str | Path, family: str,
                  to_official: Callable[[str], str] = str) -> None:
    """Check ``state`` (official key names) against ``model`` and load every tensor into it.

    ``to_official`` maps each of the model's keys to the authors' name for it. BatchNorm's
    ``num_batches_tracked`` counters may be absent (files saved by torch before 0.4.1 have none; evaluation never
    reads them): the model's own are kept.
    """
    own = model.state_dict()
    names = {to_official(k): k for k in own}
    expected = {name: own[k] for name, k in names.items()}
    optional = {n for n in expected if n.endswith("num_batches_tracked") and n not in state}
    check_keys(state, {n: t for n, t in expected.items() if n not in optional}, file, family)
    loaded = {names[n]: v.to(expected[n].dtype) for n, v in state.items()}
    loaded.update({names[n]: own[names[n]] for n in optional})
    model.load_state_dict(loaded, strict=True)
    model.eval()


__all__ = ["AUTHORS_CALIBRATION", "IMPORTERS", "ImportFailure", "ImportFn", "Importer",
           "ProtocolImportFn", "check_keys", "load_official", "looks_like", "read_state_dict", "register_importer",
           "sha256", "write_imported"]
