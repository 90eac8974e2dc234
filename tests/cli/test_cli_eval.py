"""``sentry-image eval`` progress and summary line; ``sentry-image leaderboard`` never replaces a table silently."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentry_image.cli import app
from sentry_image.evaluate.protocol import evaluate_checkpoint
from tests.evaluate.small_data import write_small_subset_manifest
from tests.helpers.builders import tiny_checkpoint


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(manifest of 40 real, 36 diffusion, 4 GAN images and one broken file; tiny checkpoint)."""
    root = tmp_path_factory.mktemp("cli_eval")
    return write_small_subset_manifest(root / "data", broken=1), tiny_checkpoint(root / "ckpt")


@pytest.fixture(scope="module")
def reports(data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    manifest, ckpt = data
    root = tmp_path_factory.mktemp("reports")
    for name in ("a", "b"):
        done = CliRunner().invoke(app, ["eval", "--model", str(ckpt), "--data", str(manifest), "--suite", "clean",
                                        "--bootstrap", "200", "--out", str(root / name)])
        assert done.exit_code == 1, done.output  # the broken image: exit 1, report written
    return [root / name / "report.json" for name in ("a", "b")]


def test_progress_reports_every_image_with_the_total_and_failures(data: tuple[Path, Path]) -> None:
    manifest, ckpt = data
    calls: list[tuple[int, int, int]] = []
    evaluate_checkpoint(ckpt, manifest, suite="clean", progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == list(range(1, 82)) and {c[1] for c in calls} == {81}
    assert calls[-1] == (81, 81, 1)


def test_eval_ends_with_one_summary_line(data: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, ckpt = data
    logger = logging.getLogger("sentry_image")
    before = (logger.level, logger.propagate, list(logger.handlers))
    done = CliRunner().invoke(app, ["eval", "--model", str(ckpt), "--data", str(manifest), "--suite", "clean",
                                    "--progress", "--out", str(tmp_path / "r")])
    assert done.exit_code == 1, done.output  # the one broken image: reported, the report written, exit 1
    # the library's progress record comes through the console the bar draws on, as a plain line, and only there
    lines = done.output.splitlines()
    assert sum(line.startswith(f"evaluating {ckpt} on 81 images") for line in lines) == 1, done.output
    assert not any(line.startswith("INFO ") for line in lines)
    assert (logger.level, logger.propagate, list(logger.handlers)) == before  # left as it was found
    last = done.output.strip().splitlines()[-1]
    cell = json.loads((tmp_path / "r" / "report.json").read_text())["results"]["clean"]["all"]
    auc = f"{cell['auc']:.3f} [{cell['ci']['auc'][0]:.3f}, {cell['ci']['auc'][1]:.3f}]"
    assert re.fullmatch(r"80 images scored, 1 failed \(listed in report\.json, data\.skipped\), 2 subsets x 1 "
                        r"condition in \d+\.\d s; clean AUC "
                        + re.escape(auc) + r", accuracy \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]; n too small "
                        r"\(< 30 per class\): gan; report in .+", last), last


def test_eval_options_set_the_replicates_and_the_small_rule(data: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, ckpt = data
    done = CliRunner().invoke(app, ["eval", "--model", str(ckpt), "--data", str(manifest), "--suite", "clean",
                                    "--bootstrap", "0", "--min-per-class", "4", "--out", str(tmp_path / "r")])
    assert done.exit_code == 1, done.output  # the broken image: exit 1, report written
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["uncertainty"]["replicates"] == 0 and report["results"]["clean"]["gan"]["small"] is False
    assert "n too small" not in done.output and "[" not in done.output.strip().splitlines()[-1].split(";")[1]


def test_leaderboard_refuses_a_folder_with_a_table_and_leaves_it_untouched(reports: list[Path],
                                                                           tmp_path: Path) -> None:
    out = tmp_path / "results"
    first = CliRunner().invoke(app, ["leaderboard", str(reports[0]), str(reports[1]), "--out", str(out)])
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = CliRunner().invoke(app, ["leaderboard", str(reports[0]), "--out", str(out)])
    assert again.exit_code == 2
    message = again.output.strip()
    assert len(message.splitlines()) == 1 and str(out) in message
    assert "leaderboard.json" in message and "leaderboard.md" in message and "--overwrite" in message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_leaderboard_overwrites_when_asked_and_rows_name_their_report(reports: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "leaderboard.md").write_text("old table\n")
    done = CliRunner().invoke(app, ["leaderboard", str(reports[1]), "--out", str(out), "--overwrite"])
    assert done.exit_code == 0, done.output
    board = json.loads((out / "leaderboard.json").read_text())
    (row,) = board["rows"]
    written = json.loads(reports[1].read_text())["created"]
    assert row["report"] == str(reports[1]) and row["report_written"] == written
    assert row["report_written_from"] == "report" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", written)
    assert row["auc_ci"] is not None and row["ci_replicates"] == 200 and (row["small"], row["note"]) == (False, "")
    md = (out / "leaderboard.md").read_text()
    assert "old table" not in md and str(reports[1]) in md and written.replace("T", " ")[:16] in md
    assert f"{row['auc']:.3f} [{row['auc_ci'][0]:.3f}, {row['auc_ci'][1]:.3f}]" in md
