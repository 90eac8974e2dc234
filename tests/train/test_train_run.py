"""train(config) end to end on generated images: checkpoint, graph, calibration, test metrics, resume, broken rows,
CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from sentry_image import load_detector
from sentry_image.cli import app
from sentry_image.evaluate.protocol import evaluate_checkpoint
from sentry_image.models.checkpoint import GRAPH, load_model, load_torch
from sentry_image.models.onnx import make_session, stored_config
from sentry_image.train.config import load_config
from sentry_image.train.loop import STATE
from sentry_image.train.run import train
from tests.helpers.builders import write_image
from tests.helpers.paths import CONFIGS


def _cfg(manifest: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_config(None, [f"data.manifest={manifest}", f"out={out}", "model.args={width: 4}",
                              "optim.batch_size=4", "optim.lr=0.01", *extra])


def test_train_writes_a_calibrated_checkpoint(tiny_manifest: Path, tmp_path: Path) -> None:
    out = train(_cfg(tiny_manifest, tmp_path / "run", "optim.epochs=2"))
    _model, calibration, config = load_torch(out)
    assert config["architecture"] == "test_tiny_cnn" and config["args"] == {"width": 4}
    assert [h["epoch"] for h in config["training"]["history"]] == [1, 2]
    assert {h["precision"] for h in config["training"]["history"]} == {"float32"}  # amp is CUDA-only by default
    assert calibration.method.startswith("temperature") and "calibration split" in calibration.fitted_on
    assert config["metrics"]["calibration_split"]["n"] == config["split"]["calibration"]["images"]
    assert (out / "train_config.yaml").is_file()
    assert load_config(out / "train_config.yaml").optim.epochs == 2


def test_tiny_config_writes_a_graph_and_records_the_test_split(tiny_manifest: Path, tmp_path: Path) -> None:
    overrides = [f"data.manifest={tiny_manifest}", f"out={tmp_path / 'run'}"]
    cfg = load_config(CONFIGS / "train" / "test_tiny.yaml", overrides)
    assert cfg.data.fractions[2] > 0  # the tiny config keeps a test share
    out = train(cfg)
    config = json.loads((out / "config.json").read_text())
    assert (out / GRAPH).is_file() and (out / "model.safetensors").is_file()
    # the graph carries the checkpoint's config (and its export record), so a copy of the .onnx alone is usable
    embedded = stored_config(make_session(out / GRAPH))
    assert {k: v for k, v in embedded.items() if k != "onnx"} == config and embedded["onnx"]["int8"] is False
    test = config["metrics"]["test_split"]
    assert test["n"] == config["split"]["test"]["images"] > 0 and test["skipped"] == 0
    assert test["threshold"] == config["calibration"]["threshold"]  # fixed on the calibration split, not here
    assert set(config["metrics"]) == {"calibration_split", "test_split"}
    # the recorded numbers are what evaluating the saved checkpoint on its test split gives
    report = evaluate_checkpoint(out, tiny_manifest, suite="clean", split="test")
    assert report.throughput["backend"] == "onnx"  # auto: the run wrote a graph
    assert report.results["clean"]["all"]["n"] == test["n"]
    assert report.results["clean"]["all"]["brier"] == pytest.approx(test["brier"], abs=1e-6)
    # the ONNX graph and the torch weights give the same probabilities
    assert load_model(out).backend == "onnx"
    images = [write_image(tmp_path / "img" / f"{i}.png", size=(40 + 9 * i, 56 - 5 * i), seed=i) for i in range(5)]
    via_onnx = [v.ai_probability for v in load_detector(out, provenance=False).detect_many(images)]
    via_torch = [v.ai_probability for v in load_detector(out, backend="torch", provenance=False).detect_many(images)]
    assert all(p is not None for p in via_onnx + via_torch)
    np.testing.assert_allclose(via_onnx, via_torch, atol=1e-5, rtol=0)


def test_no_test_share_records_no_test_split(tiny_manifest: Path, tmp_path: Path) -> None:
    out = train(_cfg(tiny_manifest, tmp_path / "run", "data.fractions=[0.8, 0.2, 0.0]"))
    config = json.loads((out / "config.json").read_text())
    assert "test" not in config["split"] and set(config["metrics"]) == {"calibration_split"}
    assert (out / GRAPH).is_file()


def test_a_fine_tuned_batch_norm_detector_is_calibrated_in_eval_mode(tiny_manifest: Path, tmp_path: Path) -> None:
    out = train(_cfg(tiny_manifest, tmp_path / "run", "model.name=test_cnnspot_tiny", "model.args={}",
                     "optim.batch_size=8"))
    config = json.loads((out / "config.json").read_text())
    report = evaluate_checkpoint(out, tiny_manifest, suite="clean", split="test", backend="torch")
    assert report.results["clean"]["all"]["brier"] == pytest.approx(config["metrics"]["test_split"]["brier"],
                                                                     abs=1e-6)


def test_interrupted_run_resumes_to_the_same_weights(tiny_manifest: Path, tmp_path: Path) -> None:
    full = train(_cfg(tiny_manifest, tmp_path / "full", "optim.epochs=2", "calibration.enabled=false"))
    part = tmp_path / "part"
    calls: list[int] = []

    def killed_in_epoch_two(step: int, total: int) -> None:
        calls.append(step)
        if len(calls) > total:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_manifest, part, "optim.epochs=2", "calibration.enabled=false"), on_step=killed_in_epoch_two)
    assert torch.load(part / STATE, weights_only=False)["epoch"] == 1
    resumed = train(_cfg(tiny_manifest, part, "optim.epochs=2", "calibration.enabled=false"))
    a, b = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    history = json.loads((resumed / "config.json").read_text())["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]


def test_broken_image_is_skipped_and_counted(tiny_manifest: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_manifest.parent, data)
    for p in sorted(data.rglob("*.png")):
        p.write_bytes(b"not an image")  # break every image: all are skipped, none is fatal
        break
    cfg = _cfg(data / "manifest.csv", tmp_path / "run", "data.fractions=[1.0, 0.0, 0.0]", "calibration.enabled=false")
    config = json.loads((train(cfg) / "config.json").read_text())
    history = config["training"]["history"][0]
    assert history["skipped"] == 1 and history["images"] == 31


def test_cli_trains_and_rejects_a_bad_key_before_any_work(tiny_manifest: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["train", f"data.manifest={tiny_manifest}", f"out={tmp_path / 'x'}", "optim.lrr=1"])
    assert bad.exit_code == 2 and "optim.lrr" in bad.output and not (tmp_path / "x").exists()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{manifest: {tiny_manifest}}}\nmodel: {{args: {{width: 4}}}}\n")
    ok = runner.invoke(app, ["train", str(cfg), f"out={tmp_path / 'ok'}", "optim.batch_size=8"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "ok" / "model.safetensors").is_file()


def test_a_frozen_backbone_only_moves_the_head(tiny_manifest: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    out = train(_cfg(tiny_manifest, tmp_path / "probe", "model.freeze_backbone=true", "calibration.enabled=false"))
    from sentry_image.models import create_detector

    torch.manual_seed(0)
    fresh = create_detector("test_tiny_cnn", width=4).state_dict()
    trained = load_file(str(out / "model.safetensors"))
    assert all(torch.equal(fresh[k], trained[k]) for k in fresh if not k.startswith("head."))
    assert not torch.equal(fresh["head.weight"], trained["head.weight"])


@pytest.mark.parametrize("override", ["optim.optimizer=lion"])
def test_unknown_optimizer_is_refused(tiny_manifest: Path, tmp_path: Path, override: str) -> None:
    with pytest.raises(ValueError, match="lion"):
        train(_cfg(tiny_manifest, tmp_path / "x", override))


def test_bfloat16_autocast_runs_on_the_cpu_and_keeps_float32_weights(tiny_manifest: Path, tmp_path: Path) -> None:
    from torch import nn

    from sentry_image.data.manifest import read_manifest
    from sentry_image.models import create_detector
    from sentry_image.train.loop import fit, precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    fp16 = _cfg(tiny_manifest, tmp_path / "x")
    assert precision(fp16, cpu) == (None, False) and precision(fp16, cuda) == (torch.float16, True)
    assert precision(_cfg(tiny_manifest, tmp_path / "x", "optim.amp=false"), cuda) == (None, False)
    cfg = _cfg(tiny_manifest, tmp_path / "bf16", "optim.amp_dtype=bfloat16", "calibration.enabled=false")
    assert precision(cfg, cpu) == (torch.bfloat16, False)

    model = create_detector("test_tiny_cnn", width=4)
    seen: set[torch.dtype] = set()
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    conv.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    history = fit(model, read_manifest(tiny_manifest), cfg, tmp_path / "bf16")
    assert seen == {torch.bfloat16}  # the convolutions ran under autocast
    assert history[0]["precision"] == "bfloat16" and 0 < history[0]["loss"] < 10
    assert all(p.dtype == torch.float32 for p in model.parameters())
