"""Shared fixtures: tiny generated images in temporary folders and a tiny checkpoint (no shared data needed).

Plain helpers live in :mod:`tests.helpers`: a test imports them from there (``from tests.helpers.builders import
tiny_checkpoint``), never from a conftest. This module must import without torch (a core-only run loads it), so
torch-side helpers are imported inside the fixtures that need them.

Skips are loud. With ``SENTRY_TESTS_STRICT=1`` (CI sets it) every skipped test fails instead, its message the skip
reason and how to provide what is missing: a service the suite must test (PostgreSQL, Chromium) or the shared data
must not vanish from CI in silence. Without it, a local run may skip, and ends with a summary of what did not run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.helpers.imagegen import gradient

CORE_MARK = "pytest.mark.core"
STRICT_ENV = "SENTRY_TESTS_STRICT"

# (words of a skip reason, lower case; how to provide what is missing; whether that is a package of an extra): the
# first match names the fix.
SKIP_FIXES: tuple[tuple[str, str, bool], ...] = (
    ("postgres", "install the PostgreSQL server binaries: apt-get install -y postgresql", False),
    ("chromium", "install Debian's Chromium: apt-get install -y chromium chromium-driver", False),
    ("playwright", "install the dev extra: pip install -e '.[dev]' (Playwright drives /usr/bin/chromium)", True),
    ("invisible-watermark", "install the dev extra and the oracle: pip install -e '.[dev]' && "
                            "pip install --no-deps invisible-watermark==0.2.0", True),
    ("shared", "put the shared dev data at ../shared/data beside the repository, or set SENTRY_SHARED_DATA", False),
    ("beside the repository", "put the shared dev data at ../shared/data beside the repository", False),
    ("hf_hub_offline", "set HF_HUB_OFFLINE=1 (the test reads local files only, it never downloads)", False),
    ("could not import", "install every extra: pip install -e '.[dev,train,serve,scale]'", True),
    ("not installed", "install every extra: pip install -e '.[dev,train,serve,scale]'", True),
)
DEFAULT_FIX = ("provide what the test needs on this machine; a test that cannot run in this install belongs to "
               "another selection, not to a skip")
CORE_RUN_FIX = ("; but this is the core run (`-m core`, no extra installed on purpose): a test that needs an extra "
                "is not a core test, so drop its `core` marker, or make it not need the extra")


def strict_skips() -> bool:
    """Whether this run turns skips into failures (``SENTRY_TESTS_STRICT`` set to anything but empty or 0)."""
    return os.environ.get(STRICT_ENV, "").strip() not in ("", "0")


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason a skipped report gives (pytest stores ``(path, line, "Skipped: reason")``)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def skip_fix(reason: str, *, core_run: bool = False) -> str:
    """How to provide what a skip reason says is missing (``core_run``: the run on the core install)."""
    lowered = reason.lower()
    fix, extra = next(((fix, extra) for words, fix, extra in SKIP_FIXES if words in lowered), (DEFAULT_FIX, True))
    return fix + (CORE_RUN_FIX if core_run and extra else "")


def _core_run(config: pytest.Config) -> bool:
    return bool(config.getoption("markexpr") == "core")


def _fail_if_strict(report: pytest.TestReport | pytest.CollectReport, config: pytest.Config) -> None:
    if not report.skipped or hasattr(report, "wasxfail") or not strict_skips():
        return
    reason = skip_reason(report)
    report.outcome = "failed"
    report.longrepr = (f"SKIPPED in a strict run ({STRICT_ENV}=1), which fails it: {reason}\n"
                       f"How to fix: {skip_fix(reason, core_run=_core_run(config))}.\n"
                       f"(Without {STRICT_ENV} a local run lets this test skip, and lists it at the end.)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                                             pytest.TestReport]:
    """In a strict run a skipped test fails (an expected failure, ``xfail``, is left alone)."""
    report = yield
    _fail_if_strict(report, item.config)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport,
                                                                         pytest.CollectReport]:
    """In a strict run a module that skips as it is collected (``importorskip``, ``allow_module_level``) fails."""
    report = yield
    _fail_if_strict(report, collector.config)
    return report


def pytest_report_header(config: pytest.Config) -> str:
    if strict_skips():
        return f"{STRICT_ENV}=1: every skipped test fails this run"
    return f"{STRICT_ENV} unset: tests may skip (each is listed at the end); CI fails on them"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """Say loudly what did not run, grouped by reason, with the fix, so that a green local run is not misread."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if not hasattr(r, "wasxfail")]
    if not skipped:
        return
    by_reason: dict[str, int] = {}
    for report in skipped:
        reason = skip_reason(report)
        by_reason[reason] = by_reason.get(reason, 0) + 1
    tests = "TEST" if len(skipped) == 1 else "TESTS"
    terminalreporter.write_sep("!", f"{len(skipped)} {tests} SKIPPED: not run (with {STRICT_ENV}=1, as in CI, each "
                                    "one fails)", yellow=True, bold=True)
    for reason, count in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        terminalreporter.write_line(f"{count:4d} x {reason}", yellow=True, bold=True)
        terminalreporter.write_line(f"       fix: {skip_fix(reason, core_run=_core_run(config))}")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under ``-m core`` (the run on the core install, without torch) do not even import a test file, or a folder,
    that marks nothing ``core``: importing it could need a package the core install does not have. Files that do
    mark tests ``core`` must import without torch; the marker then selects their tests."""
    if config.getoption("markexpr") != "core":
        return None
    if collection_path.is_dir():
        return not any(CORE_MARK in p.read_text() for p in collection_path.rglob("test_*.py"))
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return CORE_MARK not in collection_path.read_text()
    return None


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_image("a.png", image=None, fmt=None, **save)`` writes a tiny image into ``tmp_path``."""

    def make(name: str, image: Image.Image | None = None, fmt: str | None = None, **save: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (image if image is not None else gradient()).save(path, format=fmt, **save)
        return path

    return make


@pytest.fixture
def write_bytes(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Factory: ``write_bytes("name", data)`` writes raw bytes into ``tmp_path``."""

    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder every user can enter (``tmp_path`` lives under a root-only 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="sentry-image-"))
    folder.chmod(0o755)
    yield folder
    for sub in [folder, *folder.rglob("*")]:  # restore modes a test removed, or rmtree cannot delete
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``test_tiny_cnn`` checkpoint folder (torch weights only, deterministic), shared read-only."""
    from tests.helpers.builders import tiny_checkpoint  # torch: only where a test asks for a checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")
