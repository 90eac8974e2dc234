"""DDP under torchrun: 2 CPU processes on gloo reproduce 1 process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sentry_image.train.config import load_config
from sentry_image.train.run import build_model


def _run(nproc: int, manifest: Path, out: Path) -> Path:
    overrides = [f"data.manifest={manifest}", f"out={out}", "model.args={width: 4}", "optim.batch_size=8",
                 "optim.epochs=2", "optim.lr=0.05", "data.fractions=[1.0, 0.0, 0.0]", "calibration.enabled=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "sentry_image.cli", "train", *overrides]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _initial_weights(manifest: Path) -> dict[str, torch.Tensor]:
    """The trainable weights a run starts from: ``train`` seeds torch with ``cfg.seed``, then builds the model."""
    cfg = load_config(None, [f"data.manifest={manifest}", "model.args={width: 4}"])
    torch.manual_seed(cfg.seed)
    return {name: p.detach().clone() for name, p in build_model(cfg).named_parameters()}


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process(tiny_manifest: Path, tmp_path: Path) -> None:
    one = _run(1, tiny_manifest, tmp_path / "one")
    two = _run(2, tiny_manifest, tmp_path / "two")
    a, b = load_file(str(one / "model.safetensors")), load_file(str(two / "model.safetensors"))
    assert a.keys() == b.keys()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    start = _initial_weights(tiny_manifest)  # what training began from: the moves are measured from there
    moved = min(float((a[k] - start[k]).abs().max()) for k in start)  # every trainable tensor moved
    assert diff < 1e-5 < moved, f"max weight difference {diff}, smallest move from the start {moved}"
    h1 = json.loads((one / "config.json").read_text())["training"]
    h2 = json.loads((two / "config.json").read_text())["training"]
    assert (h1["world_size"], h2["world_size"]) == (1, 2)
    for e1, e2 in zip(h1["history"], h2["history"], strict=True):
        assert e1["images"] == e2["images"] == 32  # every image once per epoch, none twice across ranks
        assert e1["loss"] == pytest.approx(e2["loss"], abs=1e-5)
