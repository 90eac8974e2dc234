"""README's shell commands as data, and a folder laid out like a fresh clone to run them in.

:func:`readme_commands` reads every fenced ``bash`` block of README.md the way a user reads it: a line ending in
``\\`` continues on the next, ``# ...`` outside quotes is a comment, an empty line is nothing.

:func:`make_clone` builds what a user has after ``git clone`` with the development data beside it: a working copy
(``configs/`` and the committed ``results/`` copied, ``.venv`` the environment running the tests) whose ``../shared``
is the shared data, plus the files README names as the user's own (:data:`USER_FILES`), made from small shared
images. Commands run there through ``bash``, as typed, so nothing they write reaches the repository. The hub is
the loopback server of the data tests (``HF_ENDPOINT``) serving a miniature of every subset README fetches.

:class:`Runner` runs each command once, in README order, in one clone that every test process shares (a file lock
orders them): a test asks for command ``k`` and gets its record, whichever process ran it, after every command
before it has run. Nothing depends on how pytest-xdist distributes the tests.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from unittest import mock

from tests.helpers import data_helpers
from tests.helpers.data_helpers import SPECS, HubServer, SubsetSpec, build_mini_dataset
from tests.helpers.paths import ROOT, SHARED

FENCE = re.compile(r"```bash\n(.*?)```", flags=re.S)
COPIED = ("configs", "results")  # committed folders a command could write into: copies, checked afterwards
# subsets README fetches beyond the data tests' miniature (SDv15R-CC1M for training, the rest of MPBench)
EXTRA_SUBSETS = (
    SubsetSpec("SDv15R-CC1M", "train", "SDv15R-CC1M.csv", ("SDv15R-dpmsolver-25-1M",), 4, "PNG", 2),
    SubsetSpec("SDv21-CC15K", "val", "SDv21-CC15K.csv", ("SDv2-dpmsolver-25-10K",), 3, "PNG", 2),
    SubsetSpec("stylegan3-60K", "val", "stylegan3-60K.csv", ("stylegan3-r-afhqv2-512x512",
                                                             "stylegan3-t-ffhqu-1024x1024"), 2, "PNG", 3),
)
# what README calls the user's own files, and what the clone holds in their place
USER_FILES = {
    "photo.jpg": "a photo to judge: one of ../shared/data/examples",
    "folder/": "a folder of images with a sub-folder: ../shared/data/examples twice over",
    "my-images/": "the user's images by label (photos/, generated/), one sub-folder per source: small shared files",
    "data/real/": "the user's photos paired with MPBench subsets: shared photos of three sources",
    "data/cc3m/": "the CC3M photos paired with SDv15R-CC1M: shared photos of six sources",
    "data/calib/": "a labelled calibration folder (real/, ai/) of sources none of the shards holds",
    "slice/manifest.csv": "for overrides only: 60 small images of ../shared/data/manifest.csv, 8 sources per label",
    "NPR.pth": "NPR's released checkpoint as its authors save it: the official network with seeded random weights",
    "blur_jpg_prob0.5.pth": "CNNDetection's released checkpoint as its authors save it ({'model': ...}), random "
                            "weights",
}


@dataclass(frozen=True)
class Command:
    """One command of README: the ``bash`` block it is in (counted from 0) and its text as a user types it."""

    block: int
    text: str


def strip_comment(line: str) -> str:
    """``line`` without a ``# comment`` (a ``#`` outside quotes at the start or after a blank)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_commands(text: str) -> list[Command]:
    """Every command of every ``bash`` block of ``text``, in order."""
    out = []
    for b, block in enumerate(FENCE.findall(text)):
        pending = ""
        for raw in block.splitlines():
            line = raw.rstrip()
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            command = strip_comment(pending + line.strip())
            pending = ""
            if command:
                out.append(Command(b, command))
    return out


@dataclass
class Clone:
    """A working copy laid out like a fresh clone, and the environment its commands run in."""

    root: Path
    env: dict[str, str]
    committed: dict[str, str]  # path below root -> sha256, of every file copied from the repository

    def run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """``command`` through bash in the clone, as a user types it (redirections, globs, ``VAR=x`` prefixes)."""
        return subprocess.run(["bash", "-c", command], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def changed(self) -> list[str]:
        """Files copied from the repository that a command has since changed or removed."""
        return sorted(rel for rel, digest in self.committed.items()
                      if not (self.root / rel).is_file() or _sha256(self.root / rel) != digest)


def free_port() -> int:
    """A loopback TCP port free now (a server started a moment later binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_hub_repo(root: Path) -> Path:
    """The data tests' miniature FakeImageDataset plus :data:`EXTRA_SUBSETS`, under ``root``."""
    with mock.patch.object(data_helpers, "SPECS", SPECS + EXTRA_SUBSETS):
        build_mini_dataset(root)
    return root


def _small_rows() -> dict[tuple[str, str], list[dict[str, str]]]:
    """Shared manifest rows under 300 kB, by (label, source folder), at most 4 each, in a fixed order."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    with (SHARED / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            parts = Path(row["path"]).parts
            if int(row["bytes"]) < 300_000 and len(parts) >= 3 and row["format"] in ("JPEG", "PNG", "WEBP"):
                groups[(row["label"], parts[1])].append(row)
    return {k: sorted(v, key=lambda r: r["path"])[:4] for k, v in sorted(groups.items()) if len(v) >= 2}


def _copy(rows: list[dict[str, str]], to: Path) -> None:
    for row in rows:
        rel = Path(row["path"])
        target = to / rel.parts[1] / rel.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED / rel, target)


def _user_files(root: Path) -> None:
    """The files of :data:`USER_FILES`, each from distinct shared sources so that splits by source have several."""
    examples = sorted(p for p in (SHARED / "examples").iterdir() if p.suffix.lower() in (".jpg", ".png", ".webp"))
    shutil.copyfile(SHARED / "examples" / "real-dog.jpg", root / "photo.jpg")
    for sub in ("folder", "folder/more"):
        (root / sub).mkdir(parents=True)
        for p in examples[:3]:
            shutil.copyfile(p, root / sub / p.name)
    small = _small_rows()
    real = [rows for (label, _), rows in small.items() if label == "real"]
    ai = [rows for (label, _), rows in small.items() if label == "ai"]
    assert len(real) >= 14 and len(ai) >= 12, "the shared data has fewer small sources than the clone needs"
    for rows in real[:4]:
        _copy(rows, root / "my-images" / "photos")
    for rows in ai[:4]:
        _copy(rows, root / "my-images" / "generated")
    for rows in real[4:7]:
        _copy(rows, root / "data" / "real")
    for rows in real[7:13]:
        _copy(rows, root / "data" / "cc3m")
    for label, groups in (("real", real[13:14]), ("ai", ai[4:5])):
        for rows in groups:
            _copy(rows, root / "data" / "calib" / label)
    _slice(root / "slice", real[:8], ai[4:12])
    _released_checkpoints(root)


def _released_checkpoints(root: Path) -> None:
    """The published files README imports, rebuilt from the reference networks of the importers' fidelity tests
    (the real files are downloads; the layouts and the way they are saved are the authors')."""
    import torch

    from tests.helpers.reference_nets import randomise
    from tests.models.test_importers_cnndetection import RefResNet50
    from tests.models.test_importers_npr import RefNPR

    torch.save(randomise(RefNPR(), seed=1).state_dict(), root / "NPR.pth")
    torch.save({"model": randomise(RefResNet50(), seed=2).state_dict(), "total_steps": 1},
               root / "blur_jpg_prob0.5.pth")


def _slice(folder: Path, real: list[list[dict[str, str]]], ai: list[list[dict[str, str]]]) -> None:
    """A manifest of a few sources per label whose paths are the shared manifest's (through links)."""
    folder.mkdir()
    for label in ("real", "ai"):
        (folder / label).symlink_to(SHARED / label)
    rows = [r for groups in (real, ai) for rows in groups for r in rows]
    with (folder / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def make_clone(tmp: Path, hub_url: str = "") -> Clone:
    """A fresh-clone layout under ``tmp`` (see the module notes) whose commands reach the hub at ``hub_url``."""
    assert SHARED.is_dir(), f"README's commands need the shared data beside the repository ({SHARED})"
    (tmp / "shared").mkdir()
    (tmp / "shared" / "data").symlink_to(SHARED, target_is_directory=True)  # README's ../shared/data
    root = tmp / "sentry-image"
    root.mkdir()
    for name in COPIED:
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("*.png", "*.html"))
    committed = {str(p.relative_to(root)): _sha256(p) for name in COPIED for p in (root / name).rglob("*")
                 if p.is_file()}
    venv = Path(sys.prefix)
    (root / ".venv").symlink_to(venv, target_is_directory=True)
    _user_files(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "SENTRY_", "RAY_"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", HF_ENDPOINT=hub_url, HF_TOKEN="",
               HF_HOME=str(tmp / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1", COLUMNS="160")
    return Clone(root, env, committed)


@dataclass
class Record:
    """What one command did: the line run, its exit status, output and wall time."""

    typed: str
    returncode: int
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0


class Runner:
    """README's commands, each run once in README order in one clone shared by every test process under ``base``.

    ``execute(k, clone)`` runs command ``k`` (None: it is not run here). Each process serves the hub's miniature
    from its own loopback server, so a command needing the hub works in whichever process runs it.
    """

    def __init__(self, base: Path, execute: Callable[[int, Clone], Record | None]) -> None:
        self.base, self.execute = base, execute
        self.hub: HubServer | None = None
        base.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.base / "lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _clone(self) -> Clone:
        state = self.base / "clone.json"
        if not state.is_file():
            build_hub_repo(self.base / "hub")
            (self.base / "work").mkdir()
            clone = make_clone(self.base / "work")
            state.write_text(json.dumps({"root": str(clone.root), "env": clone.env, "committed": clone.committed}))
        saved = json.loads(state.read_text())
        if self.hub is None:
            self.hub = HubServer(self.base / "hub").__enter__()
        return Clone(Path(saved["root"]), {**saved["env"], "HF_ENDPOINT": self.hub.url}, saved["committed"])

    def record(self, k: int) -> tuple[Clone, Record | None]:
        """The clone and command ``k``'s record, running it (and every command before it not yet run) first."""
        records = self.base / "records"
        with self._locked():
            clone = self._clone()
            records.mkdir(exist_ok=True)
            for j in range(k + 1):
                if not (records / f"{j:03d}.json").is_file():
                    done = self.execute(j, clone)
                    (records / f"{j:03d}.json").write_text(json.dumps(asdict(done) if done else None))
        saved = json.loads((records / f"{k:03d}.json").read_text())
        return clone, Record(**saved) if saved else None

    def close(self) -> None:
        if self.hub is not None:
            self.hub.__exit__(None, None, None)
            self.hub = None


__all__ = ["USER_FILES", "Clone", "Command", "Record", "Runner", "build_hub_repo", "free_port", "make_clone",
           "readme_commands", "strip_comment"]
