"""``detect --model hf-hub:...`` and ``export hub-folder`` as a user runs them: real processes, the real hub client
against a loopback server playing the hub (never the network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentry_image import load_detector
from sentry_image.models.checkpoint import model_config
from sentry_image.models.export import export_onnx
from tests.helpers.builders import write_image
from tests.helpers.model_hub import ModelHub, isolate_hub_client


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from sentry_image.cli import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **env})


@pytest.fixture(autouse=True)
def _hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_hub_client(monkeypatch, tmp_path / "hf-home")  # os.environ: the processes started here inherit it


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelHub]:
    with ModelHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("hub-cli-images")
    return [str(write_image(root / f"{i}.png", size=(80 + 11 * i, 60), seed=10 + i)) for i in range(3)]


def detect_rows(model: str, images: list[str], **env: str) -> list[dict[str, Any]]:
    res = run("detect", *images, "--model", model, "--format", "jsonl", "--no-provenance", **env)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def scores(rows: list[dict[str, Any]]) -> list[tuple[str, float, str, str]]:
    return [(r["path"], r["ai_probability"], r["verdict"], r["model"]) for r in rows]


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    return res.stderr.strip()


def test_detect_with_a_hub_model_matches_the_local_folder_online_and_offline(
        hub: ModelHub, tiny_ckpt: Path, images: list[str], tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_ckpt, tmp_path / "tiny")
    export_onnx(folder, folder / "model.onnx")
    hub.publish("me/tiny", folder, refs=("main", "v1"))
    local = scores(detect_rows(str(folder), images))
    assert scores(detect_rows("hf-hub:me/tiny", images)) == local
    hub.stop()
    assert scores(detect_rows("hf-hub:me/tiny", images, HF_HUB_OFFLINE="1")) == local
    line = one_error_line(run("detect", *images, "--model", "hf-hub:me/tiny@v1", HF_HUB_OFFLINE="1"))
    assert line.startswith("error: hf-hub:me/tiny@v1: not in the hub cache") and "HF_HUB_OFFLINE" in line


def test_detect_with_an_unknown_hub_model_is_one_error_line(hub: ModelHub, images: list[str]) -> None:
    line = one_error_line(run("detect", *images, "--model", "hf-hub:me/nothing"))
    assert line.startswith("error: hf-hub:me/nothing: no model repository me/nothing on http://127.0.0.1:")


def test_export_hub_folder_round_trip_of_the_shipped_default(hub: ModelHub, images: list[str], tmp_path: Path) -> None:
    out = tmp_path / "upload"
    res = run("export", "hub-folder", "--out", str(out), "--repo", "me/sentry-default")
    assert res.returncode == 0, res.stderr
    assert "hf upload me/sentry-default" in res.stderr
    config = model_config("default")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == {"README.md", "config.json", "training_images.sha256", "semantic/config.json",
                     "semantic/model.onnx", "semantic/model.safetensors"}
    card = (out / "README.md").read_text()
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "sentry-image" and meta["license"] == "other"
    assert {"ai-image-detection", "onnx", "fusion"} <= set(meta["tags"])
    assert f"P(AI) >= {config['calibration']['threshold']:.4f}" in body
    low, high = config["calibration"]["uncertain_band"]
    assert f"{low:.4f} to {high:.4f}" in body
    assert "| out_of_fold | 1132 (848 / 284) | 0.800 |" in body and config["training_data_sha256"] in body
    assert "sentry-image detect --model hf-hub:me/sentry-default image.jpg" in body
    hub.publish("me/sentry-default", out)
    assert scores(detect_rows("hf-hub:me/sentry-default", images)) == scores(detect_rows("default", images))


def test_export_hub_folder_exports_the_graph_a_torch_checkpoint_lacks(hub: ModelHub, tiny_ckpt: Path,
                                                                      images: list[str], tmp_path: Path) -> None:
    out = tmp_path / "upload"
    res = run("export", "hub-folder", "--model", str(tiny_ckpt), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "exported model.onnx from the torch weights" in res.stderr and "hf upload OWNER/NAME" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.onnx", "model.safetensors"]
    card = (out / "README.md").read_text()
    assert "hf-hub:OWNER/NAME" in card and "None recorded in config.json." in card
    assert "- threshold: P(AI) >= 0.5000" in card and "- uncertain band: 0.4000 to 0.6000" in card
    hub.publish("me/tiny", out)
    on_onnx = load_detector("hf-hub:me/tiny", provenance=False)
    on_torch = load_detector(tiny_ckpt, provenance=False, backend="torch")
    assert on_onnx.backend == "onnx"
    for got, want in zip(on_onnx.detect_many(images), on_torch.detect_many(images), strict=True):
        assert got.ai_probability == pytest.approx(want.ai_probability, abs=1e-4)


def test_export_hub_folder_refuses_a_folder_with_files_and_a_bad_repo(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("mine\n")
    line = one_error_line(run("export", "hub-folder", "--out", str(tmp_path / "taken")))
    assert "exists and is not empty" in line
    assert (tmp_path / "taken" / "x.txt").read_text() == "mine\n"
    line = one_error_line(run("export", "hub-folder", "--out", str(tmp_path / "new"), "--repo", "me/x@v1"))
    assert "--repo me/x@v1: expected owner/name" in line and not (tmp_path / "new").exists()


def test_a_lone_onnx_file_becomes_a_checkpoint_folder(tiny_ckpt: Path, images: list[str], tmp_path: Path) -> None:
    from sentry_image.models.model_card import export_hub_folder

    lone = export_onnx(tiny_ckpt, tmp_path / "tiny.onnx").path
    written = export_hub_folder(lone, tmp_path / "upload", repo_id="me/tiny")
    assert written.model == "tiny@t1" and written.exported == []
    assert sorted(written.files) == ["README.md", "config.json", "model.onnx"]
    assert model_config(written.folder)["calibration"] == model_config(lone)["calibration"]
    got = [v.ai_probability for v in load_detector(written.folder, provenance=False).detect_many(images)]
    assert got == [v.ai_probability for v in load_detector(lone, provenance=False).detect_many(images)]
