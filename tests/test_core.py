"""The inference core: detect, eval and calibrate run the shipped default without importing torch; the package fits
its wheel budget.

Each command runs in a fresh interpreter (a test process may have imported torch for other tests) that reports
which heavy packages it imported. CI runs this file first on an install without torch at all.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.core

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT.parent / "shared" / "data" / "examples"
# a missing ../shared is a skip with its reason (a failure in a strict run), not a crash at collection
IMAGES = sorted(p for p in EXAMPLES.iterdir() if p.suffix != ".md") if EXAMPLES.is_dir() else []
if not IMAGES:
    pytest.skip(f"shared examples not found: {EXAMPLES}", allow_module_level=True)
TRAINING_PACKAGES = ("torch", "timm", "torchvision", "safetensors", "onnx", "sklearn", "open_clip")
WHEEL_BUDGET = 40_000_000  # bytes; the package's files uncompressed (the wheel is a zip of them)

RUN = """
import json, sys
from sentry_image.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
    code = 0
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("@@" + json.dumps({{"code": code, "heavy": heavy}}))
"""


def run_cli(*args: str) -> tuple[dict[str, object], str]:
    proc = subprocess.run([sys.executable, "-c", RUN.format(heavy=TRAINING_PACKAGES), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert marker, f"no report from the child (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(marker[-1][2:]), proc.stdout


def test_detect_runs_the_shipped_default_without_training_packages() -> None:
    report, out = run_cli("detect", str(EXAMPLES), "--format", "jsonl", "--no-progress")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert report == {"code": 0, "heavy": []}
    assert len(rows) == len(IMAGES)
    assert {r["model"] for r in rows} == {"sentry-default@2"}
    assert all(r["error"] is None and 0.0 <= r["ai_probability"] <= 1.0 for r in rows)


def _labelled_manifest(folder: Path) -> Path:
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "generator", "family", "source"])
        for path in IMAGES:
            label = "ai" if path.name.startswith(("ai-", "provenance-")) else "real"
            writer.writerow([str(path), label, "x", "diffusion" if label == "ai" else "camera", path.stem])
    return manifest


def test_eval_and_calibrate_run_on_the_core(tmp_path: Path) -> None:
    manifest = _labelled_manifest(tmp_path)
    report, _ = run_cli("eval", "--model", "default", "--data", str(manifest), "--suite", "clean",
                        "--out", str(tmp_path / "report"))
    assert report == {"code": 0, "heavy": []}
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["throughput"]["backend"] == "onnx" and written["data"]["n"] == len(IMAGES)
    report, _ = run_cli("calibrate", "--model", "default", "--data", str(manifest), "--out", str(tmp_path / "cal"))
    assert report == {"code": 0, "heavy": []}
    graphs = {p.relative_to(tmp_path / "cal").as_posix() for p in (tmp_path / "cal").rglob("model.onnx")}
    assert (tmp_path / "cal" / "config.json").is_file() and "semantic/model.onnx" in graphs  # the default's branches


def test_the_package_fits_its_wheel_budget() -> None:
    files = [p for p in (ROOT / "src" / "sentry_image").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    total = sum(p.stat().st_size for p in files)
    assert total < WHEEL_BUDGET, f"{total / 1e6:.1f} MB of package files, budget {WHEEL_BUDGET / 1e6:.0f} MB"
