"""The main job as a new user runs it: the shipped default detector over every file of the shared data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sentry_image.imaging.inputs import is_image_name
from tests.helpers.paths import SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")


def test_detect_recursive_jsonl_gives_one_valid_row_per_file() -> None:
    cmd = [sys.executable, "-c", "from sentry_image.cli import main; main()", "detect", str(SHARED), "--recursive",
           "--format", "jsonl"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    files = sorted(str(p) for p in SHARED.rglob("*") if p.is_file() and is_image_name(p.name))
    assert sorted(r["path"] for r in rows) == files
    with (SHARED / "manifest.csv").open(newline="") as f:  # the count comes from the data, never a constant
        labelled = {str(SHARED / r["path"]) for r in csv.DictReader(f)}
    assert labelled and labelled <= {r["path"] for r in rows}  # every labelled image got its row
    for r in rows:
        assert r["error"] is None, r
        if r["ai_probability"] is None:  # too small for the model (1x1 crops): provenance alone decided
            assert r["decided_by"].startswith("provenance:") and min(r["image"]["width"], r["image"]["height"]) < 16
        else:
            assert 0.0 <= r["ai_probability"] <= 1.0
        assert r["verdict"] in {"ai-generated", "real", "uncertain"}
        assert r["model"] == "sentry-default@2"
    by_name = {Path(r["path"]).name: r for r in rows}
    # strong provenance decides, whatever the pixels say
    assert by_name["provenance-comfy_sdxlturbo_512.png"]["decided_by"] == "provenance:metadata"
    assert by_name["wm_sdv1_fox_512.png"]["decided_by"] == "provenance:watermark"
    assert "Traceback" not in res.stderr


def test_readme_main_command_prints_verdicts_for_the_demo_images() -> None:
    cmd = [sys.executable, "-c", "from sentry_image.cli import main; main()", "detect", str(SHARED / "examples")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    for name in ("real-dog.jpg", "ai-img_1.webp", "provenance-ms_bing_image_creator.jpg"):
        assert name in res.stdout
