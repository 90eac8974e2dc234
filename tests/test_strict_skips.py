"""Skips are loud: with ``SENTRY_TESTS_STRICT=1`` (CI) a skipped test fails the run, its reason and fix in the output;
without it the run passes and still names every skip. Each case runs pytest on a generated file in a subprocess,
with this suite's ``tests/conftest.py`` loaded as a plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

pytestmark = pytest.mark.core  # the hooks run in the core-only run too

REASON = "POSTGRESQL TESTS SKIPPED: no initdb/pg_ctl on this machine"
CASES = f'''
import pytest


def test_runs() -> None:
    assert True


def test_needs_a_service() -> None:
    pytest.skip("{REASON}")


@pytest.mark.xfail(reason="a known bug, recorded", strict=True)
def test_known_bug() -> None:
    assert False
'''
MODULE_SKIP = '''
import pytest

pytest.importorskip("a_package_that_is_not_there_at_all")


def test_never_collected() -> None:
    assert True
'''


def run_pytest(folder: Path, name: str, source: str, *, strict: str | None) -> subprocess.CompletedProcess[str]:
    """pytest on ``source`` with ``SENTRY_TESTS_STRICT`` set to ``strict`` (``None``: unset)."""
    (folder / name).write_text(source)
    (folder / "test_passes.py").write_text("def test_passes() -> None:\n    assert True\n")  # a run is never empty
    (folder / "pytest.ini").write_text("[pytest]\n")  # the generated file's own root: none of the suite's options
    env = {k: v for k, v in os.environ.items() if k != "SENTRY_TESTS_STRICT"}
    if strict is not None:
        env["SENTRY_TESTS_STRICT"] = strict
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-p", "no:xdist",
           "-q", "-rA", "--rootdir", str(folder), "-c", str(folder / "pytest.ini"), str(folder)]
    # From the repository, so that ``tests.conftest`` imports as it does in the suite.
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_strict_run_fails_on_a_skip_with_its_reason_and_fix(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "test_cases.py", CASES, strict="1")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"SKIPPED in a strict run (SENTRY_TESTS_STRICT=1), which fails it: {REASON}" in out
    assert "How to fix: install the PostgreSQL server binaries: apt-get install -y postgresql" in out
    assert "FAILED" in out and "test_needs_a_service" in out
    assert "1 failed, 2 passed, 1 xfailed" in out  # the expected failure is left alone


@pytest.mark.parametrize("strict", [None, "0"])
def test_a_local_run_passes_but_names_each_skip_and_its_fix(tmp_path: Path, strict: str | None) -> None:
    done = run_pytest(tmp_path, "test_cases.py", CASES, strict=strict)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "2 passed, 1 skipped, 1 xfailed" in out
    assert "1 TEST SKIPPED: not run (with SENTRY_TESTS_STRICT=1, as in CI, each one fails)" in out
    assert f"   1 x {REASON}" in out and "fix: install the PostgreSQL server binaries" in out


def test_a_module_that_skips_at_collection_fails_a_strict_run(tmp_path: Path) -> None:
    strict = run_pytest(tmp_path, "test_module_skip.py", MODULE_SKIP, strict="1")
    assert strict.returncode != 0, strict.stdout + strict.stderr
    assert "could not import 'a_package_that_is_not_there_at_all'" in strict.stdout
    assert "How to fix: install every extra" in strict.stdout
    local = run_pytest(tmp_path, "test_module_skip.py", MODULE_SKIP, strict=None)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "1 passed, 1 skipped" in local.stdout
    assert "   1 x could not import 'a_package_that_is_not_there_at_all'" in local.stdout

