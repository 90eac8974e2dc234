"""Where a training run may write: a fresh folder, an unfinished run to resume, or (when asked) one to train again.

A run writes its checkpoint into ``out``. Writing over a finished checkpoint, or into a folder that holds something
else, would silently replace results somebody may rely on, so the command line asks :func:`out_mode` first:

- ``out`` does not exist or is empty: a fresh run;
- ``out`` holds an unfinished run of a config that resumes (``train_state.pt`` or ``probe_features.pt``, no
  ``config.json`` yet: a run killed mid-way): it resumes from its last epoch, or its cached features;
- anything else (a finished checkpoint, other files): refused with one line naming ``out``, unless the user asked
  to overwrite; the run then starts from scratch (no resumed state, no cached features) and replaces the files a
  run writes. Other files in the folder are left alone.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from ..config import ConfigError
from ..models.checkpoint_io import CONFIG
from .loop import STATE
from .probe import CACHE

# what an unfinished run leaves behind (the loop's state after each epoch; the probe's feature cache)
UNFINISHED = (STATE, CACHE)
FINISHED = CONFIG


class OutMode(StrEnum):
    """What a run does with its ``out`` folder."""

    fresh = "fresh"
    resume = "resume"
    overwrite = "overwrite"


def out_mode(out: str | Path, *, overwrite: bool, resumable: bool) -> OutMode:
    """How a run may use ``out`` (see the module notes).

    Args:
        out: the run's ``out`` folder.
        overwrite: the user asked to train again over what is there.
        resumable: the config resumes an unfinished run (``resume: true``; a fusion run never resumes).

    Raises:
        ConfigError: naming ``out``, when it is a file, or holds a finished checkpoint or other files and
            ``overwrite`` is off.
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"out={out}: a file, not a folder")
    content = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if not content:
        return OutMode.fresh
    if overwrite:
        return OutMode.overwrite
    if (folder / FINISHED).is_file():
        raise ConfigError(f"out={out} already holds a trained checkpoint ({folder / FINISHED}): train into a new "
                          f"folder (out=runs/NAME) or pass --overwrite to train it again from scratch")
    if resumable and any(name in content for name in UNFINISHED):
        return OutMode.resume
    shown = ", ".join(content[:3]) + (", ..." if len(content) > 3 else "")
    raise ConfigError(f"out={out} is not empty ({shown}) and holds no unfinished run to resume: train into a new "
                      f"folder (out=runs/NAME) or pass --overwrite")


__all__ = ["FINISHED", "UNFINISHED", "OutMode", "out_mode"]
