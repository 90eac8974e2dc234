"""The command line as a user runs it: real processes, real files, exit codes and output formats."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from sentry_image import __version__
from sentry_image.cli.detect import CSV_FIELDS
from sentry_image.models.checkpoint import model_config, model_id
from tests.helpers.builders import tiny_checkpoint, write_image


def run(*args: str, cwd: Path | None = None, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from sentry_image.cli import main; main()", *args]
    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}  # rich folds tables to the width
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


# detect's CLI runs on the shipped default (onnxruntime: the core install, where CI runs it first) and on a tiny torch
# checkpoint (the torch backend).
@pytest.fixture(scope="module", params=[pytest.param("default", marks=pytest.mark.core), "tiny"])
def ckpt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "default":
        return "default"
    return str(tiny_checkpoint(tmp_path_factory.mktemp("cli") / "tiny"))


def model_id_of(ref: str) -> str:
    return model_id(model_config(ref))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imgs")
    write_image(root / "a.png", seed=1)
    write_image(root / "b.jpg", seed=2, quality=90)
    write_image(root / "sub" / "c.webp", seed=3)
    (root / "readme.txt").write_text("ignored: not an image extension")
    return root


def test_jsonl_streams_one_valid_row_per_image(ckpt: str, folder: Path) -> None:
    res = run("detect", str(folder), "--recursive", "--format", "jsonl", "--model", str(ckpt))
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert sorted(Path(r["path"]).name for r in rows) == ["a.png", "b.jpg", "c.webp"]
    for r in rows:
        assert r["error"] is None and 0.0 <= r["ai_probability"] <= 1.0
        assert r["verdict"] in {"ai-generated", "real", "uncertain"} and r["model"] == model_id_of(ckpt)
    assert "Traceback" not in res.stderr


def test_non_recursive_skips_subfolders_and_json_is_one_array(ckpt: str, folder: Path) -> None:
    res = run("detect", str(folder), "--format", "json", "--model", str(ckpt))
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert sorted(Path(r["path"]).name for r in rows) == ["a.png", "b.jpg"]


def test_csv_has_header_and_columns(ckpt: str, folder: Path) -> None:
    res = run("detect", str(folder / "a.png"), "--format", "csv", "--model", str(ckpt), "--threshold", "0.0")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0]) == CSV_FIELDS
    assert rows[0]["verdict"] == "ai-generated" and rows[0]["threshold"] == "0.0"


def test_failures_give_exit_1_error_rows_and_no_traceback(ckpt: str, folder: Path, tmp_path: Path) -> None:
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


def test_table_output_names_files_and_verdicts(ckpt: str, folder: Path) -> None:
    res = run("detect", str(folder), "--model", str(ckpt))
    assert res.returncode == 0, res.stderr
    assert "a.png" in res.stdout and "b.jpg" in res.stdout
    assert any(v in res.stdout for v in ("ai-generated", "real", "uncertain"))


@pytest.mark.core
@pytest.mark.parametrize("args", [["detect", "x.png", "--model", "/no/such/model"],
                                  ["detect", "x.png", "--format", "xml"],
                                  ["detect", "x.png", "--batch-size", "0"],
                                  ["nosuchcommand"]])
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    res = run(*args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_empty_folder_is_a_usage_error_with_nothing_on_stdout(ckpt: str, tmp_path: Path, fmt: str) -> None:
    res = run("detect", str(tmp_path), "--model", str(ckpt), "--format", fmt)
    assert res.returncode == 2 and "no images found" in res.stderr
    assert res.stdout == ""  # no empty table, CSV header or [] a script would take for a result


def test_a_run_ends_with_one_summary_line_counting_verdicts(ckpt: str, folder: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image")
    res = run("detect", str(folder), str(tmp_path / "bad.png"), "-r", "--format", "jsonl", "--model", str(ckpt))
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    summary = res.stderr.strip().splitlines()[-1]
    assert summary.startswith("4 inputs in ") and summary.endswith(" 1 failed")
    for label in ("ai-generated", "real", "uncertain"):
        assert f"{sum(r['verdict'] == label for r in rows)} {label}" in summary


def test_models_lists_registry_as_json() -> None:
    res = run("models", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert "test_tiny_cnn" in {a["name"] for a in data["architectures"]}


def test_models_json_shows_the_recorded_metrics_per_split() -> None:
    res = run("models", "--json")
    assert res.returncode == 0, res.stderr
    default = {c["name"]: c for c in json.loads(res.stdout)["checkpoints"]}["default"]
    config = model_config("default")
    assert default["model"] == f"{config['name']}@{config['version']}" == "sentry-default@2"
    metrics = default["metrics"]
    # one entry per recorded split, named as the checkpoint names it; no guessed "test"/"auc" keys at the top
    assert metrics and set(metrics) <= {"out_of_fold", "test_split", "calibration_split"}
    assert not {"auc", "test", "source_held_out"} & set(metrics)
    for split, values in metrics.items():
        # the stored figures, printed to six places (not the float's tail)
        assert values["auc"] == pytest.approx(config["metrics"][split]["auc"], abs=5e-7)
        assert values["auc"] == round(values["auc"], 6) and values["n"] == config["metrics"][split]["n"]
        assert values["n"] > 0 and 0.0 <= values["auc"] <= 1.0
    assert default["threshold"] == round(config["calibration"]["threshold"], 6)
    table = run("models", columns=250)
    assert table.returncode == 0, table.stderr
    oof = metrics["out_of_fold"]  # the fusion default records its out-of-fold metrics
    assert f"out-of-fold: AUC {oof['auc']:.3f}, n={oof['n']}" in table.stdout


@pytest.mark.core
def test_version_prints_the_package_version() -> None:
    res = run("--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"sentry-image {__version__}"
    assert __version__ != "0.1.0"  # read from the package, not a stale copy (pyproject's version is dynamic)


def test_compare_help_exits_0_and_names_its_options() -> None:
    res = run("compare", "--help", columns=200)
    assert res.returncode == 0, res.stderr
    assert "config" in res.stdout.lower() and "--skip-trained" in res.stdout
    missing = run("compare", "/no/such/comparison.yaml")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


@pytest.mark.core
def test_python_dash_m_runs_the_same_cli() -> None:
    res = subprocess.run([sys.executable, "-m", "sentry_image.cli", "--version"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == f"sentry-image {__version__}"


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_detect_backend_option_reaches_the_detector(tiny_ckpt: Path, folder: Path, backend: str) -> None:
    rows = {}
    for choice in ("auto", backend):
        res = run("detect", str(folder / "a.png"), "--format", "jsonl", "--no-provenance", "--model", str(tiny_ckpt),
                  "--backend", choice)
        assert res.returncode == 0, res.stderr
        rows[choice] = json.loads(res.stdout.splitlines()[0])
    # a folder with torch weights only: auto runs torch; onnx exports in memory and agrees within the README's 1e-4
    assert abs(rows["auto"]["ai_probability"] - rows[backend]["ai_probability"]) < 1e-4
    bad = run("detect", str(folder / "a.png"), "--model", str(tiny_ckpt), "--backend", "tensorrt")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_piped_table_never_folds_long_file_names(ckpt: str, tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / ("and-another-one-" * 4)
    image = write_image(deep / "long-file-name-that-must-stay-whole.png")
    res = run("detect", str(image), "--model", str(ckpt))
    assert res.returncode == 0, res.stderr
    assert str(image) in res.stdout


def test_explain_writes_one_map_per_scored_image_with_unique_names(ckpt: str, tmp_path: Path) -> None:
    images = tmp_path / "in"
    write_image(images / "x" / "a.png", size=(96, 64), seed=1)
    write_image(images / "y" / "a.png", size=(64, 96), seed=2)  # the same stem: a-2.explain.png
    write_image(images / "b.jpg", seed=3, quality=90)
    (images / "broken.png").write_text("not an image")
    out = tmp_path / "maps" / "nested"  # created, parents too
    res = run("detect", str(images), "-r", "--format", "jsonl", "--model", ckpt, "--explain", str(out))
    assert res.returncode == 1, res.stderr  # as without --explain: one input failed
    rows = {r["path"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert rows[str(images / "broken.png")]["error"]["code"] == "not_an_image"
    scored = [r for r in rows.values() if r["error"] is None]
    assert len(scored) == 3 and all(r["regions"] for r in scored)
    for r in scored:
        for region in r["regions"]:
            assert len(region["box"]) == 4 and 0.0 <= region["ai_probability"] <= 1.0
    assert sorted(p.name for p in out.iterdir()) == ["a-2.explain.png", "a.explain.png", "b.explain.png"]
    for path in out.iterdir():
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.width >= 256
    assert f"3 region maps written to {out}" in res.stderr and "Traceback" not in res.stderr


def test_explain_reports_a_map_it_cannot_write_and_draws_the_others(ckpt: str, tmp_path: Path) -> None:
    write_image(tmp_path / "in" / "a.png", seed=1)
    write_image(tmp_path / "in" / "b.png", seed=2)
    out = tmp_path / "maps"
    (out / "a.explain.png").mkdir(parents=True)  # a folder where the map should go: writing it fails
    res = run("detect", str(tmp_path / "in"), "--format", "csv", "--model", ckpt, "--explain", str(out))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert f"could not write the map of {tmp_path / 'in' / 'a.png'}" in res.stderr
    assert (out / "b.explain.png").is_file()
    assert "1 region map written" in res.stderr and "1 could not be written" in res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0]) == CSV_FIELDS and len(rows) == 2  # CSV rows leave the regions out


@pytest.mark.core
def test_explain_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    taken = tmp_path / "maps"
    taken.write_text("a file, not a folder")
    res = run("detect", str(write_image(tmp_path / "a.png")), "--explain", str(taken))
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_csv_carries_the_evidence_text_and_reasons_of_the_json_row(ckpt: str, tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()  # a generator's parameters chunk: a strong signal with a sentence of evidence
    meta.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Model: sd15")
    path = tmp_path / "gen.png"
    Image.new("RGB", (64, 64), (120, 80, 40)).save(path, pnginfo=meta)
    as_json = json.loads(run("detect", str(path), "-f", "json", "--model", str(ckpt)).stdout)[0]
    res = run("detect", str(path), "-f", "csv", "--model", str(ckpt))
    row = next(csv.DictReader(io.StringIO(res.stdout)))
    assert as_json["signals"] and as_json["reasons"]
    assert row["evidence"].splitlines() == [f"{s['name']}: {s['evidence']}" for s in as_json["signals"]]
    assert row["reasons"].splitlines() == as_json["reasons"]
    # the threshold prints as the JSON row does: six decimals at most, not the stored float's tail
    assert float(row["threshold"]) == as_json["threshold"] and len(row["threshold"].split(".")[-1]) <= 6
