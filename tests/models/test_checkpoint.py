"""Where a model comes from (:mod:`sentry_image.models.checkpoint`): ``load_model(ref, backend)`` on shipped,
folder and ``.onnx`` references, the backend ``auto`` chooses, and the errors that name what is wrong."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from sentry_image import load_detector
from sentry_image.evaluate.recalibrate import recalibrate
from sentry_image.models.calibration import Calibration
from sentry_image.models.checkpoint import (
    GRAPH,
    WEIGHTS,
    CheckpointError,
    choose_backend,
    load_model,
    model_config,
    read_config,
    resolve_model,
    shipped_checkpoints,
)
from sentry_image.models.export import export_onnx
from sentry_image.models.fusion import FusedScorer
from sentry_image.models.onnx import OnnxRunner, make_session, stored_config
from sentry_image.models.runtime import LoadedModel, logits_for_images
from tests.helpers.builders import noise_image, tiny_checkpoint, write_image
from tests.helpers.paths import SHIPPED_DEFAULT


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Generated photos of several sizes: below, at and above the default's 256 px resize, portrait and landscape."""
    folder = tmp_path_factory.mktemp("images")
    sizes = [(300, 200), (257, 311), (224, 224), (640, 360), (97, 131)]
    return [write_image(folder / f"i{k}.png", size=s, seed=k) for k, s in enumerate(sizes)]


def test_the_shipped_default_runs_on_onnx_under_auto_and_matches_torch(images: list[Path]) -> None:
    assert "default" in shipped_checkpoints() and resolve_model(None) == resolve_model("default")
    branches = [SHIPPED_DEFAULT / b["folder"] for b in read_config(SHIPPED_DEFAULT)["branches"]]
    assert branches and branches[0].name == "semantic"  # the low-level branch ships only when it earned its weight
    assert all((b / GRAPH).is_file() and (b / WEIGHTS).is_file() for b in branches)
    auto = load_model()
    assert isinstance(auto, LoadedModel) and auto.backend == "onnx" and isinstance(auto.scorer, FusedScorer)
    assert all(isinstance(s.runner, OnnxRunner) for s in auto.scorer.branches.values())  # type: ignore[attr-defined]
    assert auto.id == "sentry-default@2" and auto.config == read_config(SHIPPED_DEFAULT)  # config.json wins
    assert auto.num_parameters == auto.config["num_parameters"] > 0
    torch_model = load_model("default", "torch")
    assert torch_model.backend == "torch" and torch_model.calibration == auto.calibration
    on_onnx, on_torch = load_detector(provenance=False), load_detector("default", backend="torch", provenance=False)
    assert (on_onnx.backend, on_torch.backend) == ("onnx", "torch")
    p_onnx = [on_onnx.detect(path).ai_probability for path in images]
    p_torch = [on_torch.detect(path).ai_probability for path in images]
    assert all(p is not None for p in p_onnx + p_torch)
    diff = float(np.max(np.abs(np.asarray(p_onnx) - np.asarray(p_torch))))
    assert diff <= 1e-5, f"max |p_onnx - p_torch| = {diff:.3g} on the shipped default"


def test_a_folder_with_torch_weights_only(tiny_ckpt: Path, tmp_path: Path) -> None:
    assert not (tiny_ckpt / GRAPH).exists()
    assert choose_backend(tiny_ckpt, "auto") == "torch" and choose_backend(tiny_ckpt, "onnx") == "onnx"
    on_torch = load_model(tiny_ckpt)
    assert on_torch.backend == "torch" and on_torch.source == str(tiny_ckpt) and on_torch.id == "tiny@t1"
    in_memory = load_model(tiny_ckpt, "onnx")  # exported in memory, nothing written beside the weights
    assert in_memory.backend == "onnx" and isinstance(in_memory.runner, OnnxRunner)
    assert sorted(p.name for p in tiny_ckpt.iterdir()) == ["config.json", WEIGHTS]
    assert in_memory.config["calibration"] == on_torch.config["calibration"]
    batch = [noise_image((60, 45), seed=s) for s in range(3)]
    np.testing.assert_allclose(logits_for_images(in_memory.runner, batch), logits_for_images(on_torch.runner, batch),
                               atol=1e-5)


def test_a_lone_onnx_file_loads_with_its_config(tiny_ckpt: Path, tmp_path: Path) -> None:
    report = export_onnx(tiny_ckpt, tmp_path / "out" / "tiny.onnx")
    assert report.path.is_file() and report.model == "tiny@t1" and report.max_prob_diff is not None
    loaded = load_model(report.path)  # auto: a file is a graph
    folder_config = read_config(tiny_ckpt)
    assert loaded.backend == "onnx" and loaded.source == str(report.path)
    assert {k: v for k, v in loaded.config.items() if k != "onnx"} == folder_config
    assert loaded.calibration == Calibration.from_dict(folder_config["calibration"])
    assert model_config(report.path) == loaded.config and loaded.id == "tiny@t1"
    with pytest.raises(CheckpointError, match="runs on the onnx backend only"):
        load_model(report.path, "torch")
    with pytest.raises(CheckpointError, match="an ONNX file runs on the onnx backend only"):
        load_detector(report.path, backend="torch")


def test_a_folder_with_a_graph_only_needs_no_torch_weights(tiny_ckpt: Path, tmp_path: Path) -> None:
    folder = tmp_path / "graph-only"
    folder.mkdir()
    shutil.copy2(tiny_ckpt / "config.json", folder / "config.json")
    export_onnx(tiny_ckpt, folder / GRAPH)
    assert choose_backend(folder, "auto") == "onnx" and load_model(folder).backend == "onnx"
    with pytest.raises(CheckpointError, match=rf"no {re.escape(WEIGHTS)}.*use the onnx backend"):
        load_model(folder, "torch")
    copy = export_onnx(folder, tmp_path / "copy.onnx")  # a graph-only checkpoint: the graph is copied, not re-run
    assert copy.max_prob_diff is None and load_model(copy.path).config["calibration"] == read_config(folder)[
        "calibration"]


@pytest.mark.parametrize("backend", ["tensorrt", "", "ONNX"])
def test_an_unknown_backend_is_a_checkpoint_error(tiny_ckpt: Path, backend: str) -> None:
    message = f"unknown backend {backend!r}: expected one of auto, onnx, torch"
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_model(tiny_ckpt, backend)


def test_a_folder_without_config_json_is_named(tiny_ckpt: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-config"
    folder.mkdir()
    shutil.copy2(tiny_ckpt / WEIGHTS, folder / WEIGHTS)
    for backend in ("auto", "torch", "onnx"):
        with pytest.raises(CheckpointError, match=r"no config\.json") as info:
            load_model(folder, backend)
        assert str(folder) in str(info.value)
    with pytest.raises(CheckpointError, match="not a checkpoint folder") as missing:
        load_model(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(missing.value) and "shipped: default" in str(missing.value)


def test_a_config_without_its_keys_or_with_other_labels_is_refused(tiny_ckpt: Path, tmp_path: Path) -> None:
    folder = tmp_path / "c"
    shutil.copytree(tiny_ckpt, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "preprocessing"}))
    with pytest.raises(CheckpointError, match="missing key 'preprocessing'"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps({**config, "labels": {"0": "ai-generated", "1": "real"}}))
    with pytest.raises(CheckpointError, match="label names"):
        load_model(folder)


def _labelled(root: Path, real: int = 6, ai: int = 6) -> Path:
    for i in range(real):
        write_image(root / "real" / "cam" / f"r{i}.png", size=(40, 36), seed=i)
    for i in range(ai):
        write_image(root / "ai" / "gen" / f"a{i}.png", size=(40, 36), seed=100 + i)
    return root


def test_a_recalibrated_copy_keeps_the_graph_and_its_config_json_wins(tmp_path: Path) -> None:
    source = tiny_checkpoint(tmp_path / "src", threshold=0.5, band=(0.4, 0.6))
    export_onnx(source, source / GRAPH)  # the folder now holds both, as a training run writes it
    out = tmp_path / "recal"
    cal = recalibrate(source, _labelled(tmp_path / "data"), out)  # auto: scored on the graph
    assert (out / GRAPH).read_bytes() == (source / GRAPH).read_bytes()  # copied unchanged
    assert (out / WEIGHTS).read_bytes() == (source / WEIGHTS).read_bytes()
    new = read_config(out)
    embedded = stored_config(make_session(out / GRAPH), str(out / GRAPH))
    assert embedded["version"] == "t1" and embedded["calibration"]["method"] == "test"  # the export's copy
    assert new["version"].startswith("t1+cal.") and new["calibration"] == cal.to_dict() != embedded["calibration"]
    loaded = load_model(out)
    assert loaded.backend == "onnx" and loaded.config == new and loaded.calibration == cal
    assert loaded.id == f"tiny@{new['version']}"
    # verdicts use the new calibration on either backend, and the two agree
    probe = write_image(tmp_path / "probe.png", size=(50, 44), seed=7)
    onnx_row = load_detector(out, provenance=False).detect(probe)
    torch_row = load_detector(out, backend="torch", provenance=False).detect(probe)
    logit = logits_for_images(loaded.runner, [noise_image((50, 44), seed=7)])
    assert onnx_row.ai_probability == pytest.approx(float(cal.probability(logit)[0]), abs=1e-6)
    assert onnx_row.ai_probability == pytest.approx(torch_row.ai_probability, abs=1e-5)
    assert onnx_row.model == torch_row.model == loaded.id and onnx_row.threshold == cal.threshold
    # exported again, the lone file carries the new calibration
    again = export_onnx(out, tmp_path / "recal.onnx")
    assert load_model(again.path).calibration == cal
