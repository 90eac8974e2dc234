"""Suites and benchmarks as data; eval by published subset names with real images; one-class data renders n/a."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from sentry_image.cli import app
from sentry_image.evaluate.benchmark import load_benchmark
from sentry_image.evaluate.protocol import CONDITIONS, evaluate_checkpoint
from sentry_image.evaluate.report import read_report, write_report
from sentry_image.evaluate.suites import BUILTIN, load_suite, make_condition
from sentry_image.evaluate.tables import metric_table
from sentry_image.train.config import ConfigError

SUBSETS = ("SDv15-CC30K", "stylegan3-60K")


def test_builtin_suites_keep_the_condition_names_reports_use() -> None:
    assert BUILTIN["robustness"].names == ["clean", "jpeg95", "jpeg75", "jpeg50", "resize0.5", "resize2", "blur1",
                                           "crop_centre", "noise5", "format_matched"]
    assert BUILTIN["clean"].names == ["clean"] and list(CONDITIONS) == BUILTIN["robustness"].names
    assert BUILTIN["robustness"].params()["jpeg75"] == {"op": "jpeg", "quality": 75}


def test_a_suite_file_applies_its_parameters(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("conditions:\n  - {name: jpeg30, op: jpeg, quality: 30}\n"
                    "  - {name: half, op: resize, factor: 0.5}\n"
                    "  - {name: crop, op: crop_centre, fraction: 0.25, min_side: 8}\n")
    suite = load_suite(str(path))
    assert suite.name == "s" and suite.names == ["jpeg30", "half", "crop"]
    image = Image.effect_noise((80, 64), 50).convert("RGB")
    jpeg30, half, crop = (c(image) for c in suite.conditions)
    assert half.size == (40, 32) and crop.size == (20, 16)
    # a stronger JPEG loses more of the noise than the built-in q95 does
    err = {n: np.abs(np.asarray(im, float) - np.asarray(image, float)).mean()
           for n, im in (("q30", jpeg30), ("q95", CONDITIONS["jpeg95"](image)))}
    assert err["q30"] > err["q95"]


@pytest.mark.parametrize(("spec", "message"), [
    ({"name": "x", "op": "sharpen", "amount": 2}, r"conditions\[0\].op: unknown op 'sharpen'"),
    ({"name": "x", "op": "jpeg", "qualty": 30}, r"unknown config key 'conditions\[0\].qualty'"),
    ({"name": "x", "op": "jpeg"}, r"missing config key 'conditions\[0\]\.quality'"),
    ({"name": "x", "op": "jpeg", "quality": 0}, r"conditions\[0\]: condition 'x'.*1..100"),
    ({"name": "x", "op": "blur", "sigma": "wide"}, r"conditions\[0\].sigma: expected float"),
    ({"name": "x", "op": "crop_centre", "fraction": 1.5}, r"conditions\[0\].fraction"),
    ({"op": "jpeg", "quality": 30}, r"conditions\[0\].name"),
])
def test_bad_conditions_are_rejected_with_the_key(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_condition(spec, "conditions[0]")


def test_unknown_suite_and_duplicate_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown suite 'nope'"):
        load_suite("nope")
    path = tmp_path / "d.yaml"
    path.write_text("conditions: [{name: a, op: identity}, {name: a, op: jpeg, quality: 90}]\n")
    with pytest.raises(ConfigError, match="repeated: a"):
        load_suite(path)
    path.write_text("name: d\nconditons: []\n")
    with pytest.raises(ConfigError, match="unknown config key 'conditons'"):
        load_suite(path)


def test_benchmark_rejects_unknown_keys_and_needs_one_data_source(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("data: m.csv\nsplits: test\n")
    with pytest.raises(ConfigError, match="unknown config key 'splits'"):
        load_benchmark(path)
    path.write_text("data: m.csv\nsubsets: [SDv15-CC30K]\n")
    with pytest.raises(ConfigError, match="exactly one of data or subsets"):
        load_benchmark(path)
    path.write_text("subsets: [SDv15-CC30K]\nsuite: missing.yaml\n")
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_benchmark(path)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(ROOT with extracted/val/<subset>/ of smooth generated images, a folder of grainy real images)."""
    base = tmp_path_factory.mktemp("hub")
    root, real = base / "root", base / "photos"
    for k, name in enumerate(SUBSETS):
        folder = root / "extracted" / "val" / name
        folder.mkdir(parents=True)
        for i in range(4):
            arr = np.random.default_rng(100 * k + i).integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(arr).filter(ImageFilter.GaussianBlur(2)).save(folder / f"{i}.png")
    for g in range(2):
        (real / f"cam{g}").mkdir(parents=True)
        for i in range(3):
            arr = np.random.default_rng(9000 + 10 * g + i).integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(arr).save(real / f"cam{g}" / f"{i}.png")
    return root, real


def test_eval_by_subset_names_pairs_each_subset_with_the_real_images(
        eval_data: tuple[Path, Path], extracted: tuple[Path, Path], tmp_path: Path) -> None:
    _, ckpt = eval_data
    root, real = extracted
    suite = tmp_path / "quick.yaml"
    suite.write_text("conditions: [{name: clean, op: identity}, {name: jpeg60, op: jpeg, quality: 60}]\n")
    done = CliRunner().invoke(app, ["eval", "--model", str(ckpt), "--data", ",".join(SUBSETS), "--root", str(root),
                                    "--real", str(real), "--subset-key", "subset", "--suite", str(suite),
                                    "--out", str(tmp_path / "rep")])
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["conditions"] == ["clean", "jpeg60"]
    assert report["condition_params"]["jpeg60"] == {"op": "jpeg", "quality": 60}
    clean = report["results"]["clean"]
    assert set(clean) == {"all", *SUBSETS}
    for name in SUBSETS:  # MPBench: each AI subset against every real image
        assert (clean[name]["n_real"], clean[name]["n_ai"]) == (6, 4) and "auc" in clean[name]
    assert report["data"]["real"] == str(real) and report["data"]["n"] == 14
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "jpeg(quality=60)" in html and "SDv15-CC30K" in html


def test_benchmark_file_runs_and_explicit_options_override_it(
        eval_data: tuple[Path, Path], extracted: tuple[Path, Path], tmp_path: Path) -> None:
    _, ckpt = eval_data
    root, real = extracted
    bench = tmp_path / "b.yaml"
    bench.write_text(f"subsets: [{SUBSETS[0]}]\nroot: {root}\nreal: {tmp_path / 'no-such-folder'}\n"
                     "subset_key: subset\nsuite: robustness\n")
    done = CliRunner().invoke(app, ["eval", "--model", str(ckpt), "--benchmark", str(bench), "--real", str(real),
                                    "--suite", "clean", "--out", str(tmp_path / "rep")])
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["conditions"] == ["clean"] and set(report["results"]["clean"]) == {"all", SUBSETS[0]}


def test_bad_suite_fails_before_the_model_or_data_is_read(tmp_path: Path) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text("conditions: [{name: x, op: jpeg, quality: 101}]\n")
    done = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "none"), "--data", "nothing",
                                    "--suite", str(suite), "--out", str(tmp_path / "o")])
    assert done.exit_code == 2 and "conditions[0]" in done.output


def test_ai_images_alone_give_n_a_instead_of_crashing(
        eval_data: tuple[Path, Path], extracted: tuple[Path, Path], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    _, ckpt = eval_data
    root, _ = extracted
    with caplog.at_level("WARNING"):
        report = evaluate_checkpoint(ckpt, f"subsets:{SUBSETS[0]}", root=root, suite="robustness",
                                     subset_key="subset")
    assert "undefined" in caplog.text
    assert "auc" not in report.results["clean"]["all"] and report.results["clean"]["all"]["n_ai"] == 4
    write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "n/a" in md and "pair the AI subsets with real images" in md
    # the canonical JSON sorts keys ("SDv15..." < "all"); rendered tables still lead with the pooled row
    assert [row[0] for row in metric_table(read_report(tmp_path / "report.json"))[1:]] == ["all", SUBSETS[0]]
