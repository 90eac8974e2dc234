"""The command line as a user runs it: real processes, real files, exit codes and output formats."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from builders import tiny_checkpoint, write_image
from sentry_image.cli import CSV_FIELDS


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from sentry_image.cli import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("cli") / "tiny")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imgs")
    write_image(root / "a.png", seed=1)
    write_image(root / "b.jpg", seed=2, quality=90)
    write_image(root / "sub" / "c.webp", seed=3)
    (root / "readme.txt").write_text("ignored: not an image extension")
    return root


def test_jsonl_streams_one_valid_row_per_image(ckpt: Path, folder: Path) -> None:
    res = run("detect", str(folder), "--recursive", "--format", "jsonl", "--model", str(ckpt))
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert sorted(Path(r["path"]).name for r in rows) == ["a.png", "b.jpg", "c.webp"]
    for r in rows:
        assert r["error"] is None and 0.0 <= r["ai_probability"] <= 1.0
        assert r["verdict"] in {"ai-generated", "real", "uncertain"} and r["model"] == "tiny@t1"
    assert "Traceback" not in res.stderr


def test_non_recursive_skips_subfolders_and_json_is_one_array(ckpt: Path, folder: Path) -> None:
    res = run("detect", str(folder), "--format", "json", "--model", str(ckpt))
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert sorted(Path(r["path"]).name for r in rows) == ["a.png", "b.jpg"]


def test_csv_has_header_and_columns(ckpt: Path, folder: Path) -> None:
    res = run("detect", str(folder / "a.png"), "--format", "csv", "--model", str(ckpt), "--threshold", "0.0")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0]) == CSV_FIELDS
    assert rows[0]["verdict"] == "ai-generated" and rows[0]["threshold"] == "0.0"


def test_failures_give_exit_1_error_rows_and_no_traceback(ckpt: Path, folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    res = run("detect", str(folder / "a.png"), str(bad), str(tmp_path / "missing.png"), "--format", "jsonl",
              "--model", str(ckpt))
    assert res.returncode == 1
    rows = {Path(r["path"]).name: r for r in map(json.loads, res.stdout.splitlines())}
    assert rows["a.png"]["error"] is None
    assert rows["bad.jpg"]["error"]["code"] == "not_an_image"
    assert rows["missing.png"]["error"]["code"] == "not_found"
    assert "bad.jpg" in res.stderr and "2 of 3 inputs failed" in res.stderr
    assert "Traceback" not in res.stderr


def test_table_output_names_files_and_verdicts(ckpt: Path, folder: Path) -> None:
    res = run("detect", str(folder), "--model", str(ckpt))
    assert res.returncode == 0, res.stderr
    assert "a.png" in res.stdout and "b.jpg" in res.stdout
    assert any(v in res.stdout for v in ("ai-generated", "real", "uncertain"))


@pytest.mark.parametrize("args", [["detect", "x.png", "--model", "/no/such/model"],
                                  ["detect", "x.png", "--format", "xml"],
                                  ["detect", "x.png", "--batch-size", "0"],
                                  ["nosuchcommand"]])
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    res = run(*args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr


def test_empty_folder_is_a_usage_error(ckpt: Path, tmp_path: Path) -> None:
    res = run("detect", str(tmp_path), "--model", str(ckpt))
    assert res.returncode == 2 and "no images found" in res.stderr


def test_models_lists_registry_as_json() -> None:
    res = run("models", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert "test_tiny_cnn" in {a["name"] for a in data["architectures"]}


def test_piped_table_never_folds_long_file_names(ckpt: Path, tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / ("and-another-one-" * 4)
    image = write_image(deep / "long-file-name-that-must-stay-whole.png")
    res = run("detect", str(image), "--model", str(ckpt))
    assert res.returncode == 0, res.stderr
    assert str(image) in res.stdout
