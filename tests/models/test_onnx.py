"""ONNX export (models.export, models.onnx) and the onnxruntime backend: same probabilities as torch, metadata in
the file, dynamic batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from sentry_image import load_detector
from sentry_image.cli import app
from sentry_image.models import list_detectors
from sentry_image.models.checkpoint import CheckpointError, load_model
from sentry_image.models.export import export_onnx
from sentry_image.models.onnx import METADATA_KEY, OnnxRunner, make_session
from tests.helpers.builders import calibrated_checkpoint, images_of_every_shape, write_image

TOLERANCE = 1e-4  # on calibrated probabilities, as promised in the README


@pytest.mark.parametrize("name", list_detectors("test_*"))
def test_onnx_probabilities_match_torch_for_every_test_detector(name: str, tmp_path: Path) -> None:
    ckpt = calibrated_checkpoint(name, tmp_path / "ckpt")
    report = export_onnx(ckpt, tmp_path / "m.onnx")
    assert report.max_prob_diff is not None and report.max_prob_diff < TOLERANCE
    images = images_of_every_shape(tmp_path / "img")
    torch_detector = load_detector(ckpt, backend="torch")
    onnx_detector = load_detector(report.path)  # auto: a lone .onnx file runs on onnxruntime
    assert (torch_detector.backend, onnx_detector.backend) == ("torch", "onnx")
    torch_rows = [v.to_dict() for v in torch_detector.detect_many(images, batch_size=3)]
    onnx_rows = [v.to_dict() for v in onnx_detector.detect_many(images, batch_size=3)]
    for t, o in zip(torch_rows, onnx_rows, strict=True):
        assert t["error"] is None and o["error"] is None
        assert abs(t["ai_probability"] - o["ai_probability"]) < TOLERANCE
        assert (o["verdict"], o["model"], o["threshold"]) == (t["verdict"], t["model"], t["threshold"])


def test_export_records_preprocessing_and_calibration_and_keeps_the_batch_dynamic(tiny_ckpt: Path,
                                                                                  tmp_path: Path) -> None:
    path = export_onnx(tiny_ckpt, tmp_path / "tiny.onnx").path
    proto = onnx.load(path)
    stored = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    config = json.loads((tiny_ckpt / "config.json").read_text())
    assert stored["preprocessing"] == config["preprocessing"]
    assert stored["calibration"] == config["calibration"]
    assert stored["onnx"]["int8"] is False
    session = make_session(path)
    for batch in (1, 7):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 32, 32), dtype=np.float32)
        assert session.run(None, {"pixels": x})[0].shape == (batch,)


def test_backend_onnx_exports_a_checkpoint_folder_in_memory(tiny_ckpt: Path, tmp_path: Path) -> None:
    image = write_image(tmp_path / "a.png", size=(64, 64))
    in_memory = load_detector(tiny_ckpt, backend="onnx")
    assert in_memory.backend == "onnx" and isinstance(in_memory.model.runner, OnnxRunner)
    assert not (tiny_ckpt / "model.onnx").exists()  # exported in memory: the folder is left as it was
    from_folder = in_memory.detect(image)
    from_torch = load_detector(tiny_ckpt, backend="torch").detect(image)
    assert from_folder.ai_probability == pytest.approx(from_torch.ai_probability, abs=TOLERANCE)


def test_int8_export_is_marked_and_gives_probabilities(tiny_ckpt: Path, tmp_path: Path) -> None:
    report = export_onnx(tiny_ckpt, tmp_path / "q.onnx", int8=True)
    loaded = load_model(report.path, "onnx")
    assert loaded.config["onnx"]["int8"] is True and report.int8 and loaded.backend == "onnx"
    logits = loaded.runner.run(np.zeros((3, 3, 32, 32), dtype=np.float32))
    assert logits.shape == (3,) and np.isfinite(logits).all()


def test_foreign_onnx_file_and_unknown_backend_are_refused(tiny_ckpt: Path, tmp_path: Path) -> None:
    path = export_onnx(tiny_ckpt, tmp_path / "plain.onnx").path
    proto = onnx.load(path)
    del proto.metadata_props[:]
    onnx.save(proto, tmp_path / "foreign.onnx")
    with pytest.raises(CheckpointError, match="not written by"):
        load_model(tmp_path / "foreign.onnx", "onnx")
    with pytest.raises(CheckpointError, match="unknown backend"):
        load_detector(tiny_ckpt, backend="tensorrt")
    with pytest.raises(ValueError, match=r"\.onnx"):
        export_onnx(tiny_ckpt, tmp_path / "model.bin")


def test_cli_export_then_detect_with_backend_onnx(tiny_ckpt: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli.onnx"
    exported = runner.invoke(app, ["export", "onnx", "--model", str(tiny_ckpt), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    image = write_image(tmp_path / "b.jpg", size=(80, 60), quality=90)
    rows = {}
    for backend, model in (("torch", tiny_ckpt), ("onnx", out)):
        result = runner.invoke(app, ["detect", str(image), "--format", "jsonl", "--no-provenance",
                                     "--backend", backend, "--model", str(model)])
        assert result.exit_code == 0, result.output
        rows[backend] = json.loads(result.stdout.splitlines()[0])
    assert rows["onnx"]["ai_probability"] == pytest.approx(rows["torch"]["ai_probability"], abs=TOLERANCE)
    missing = runner.invoke(app, ["detect", str(image), "--backend", "onnx", "--model", str(tmp_path / "no.onnx")])
    assert missing.exit_code == 2 and "no.onnx: not a checkpoint folder" in missing.output
    assert "Traceback" not in missing.output
