"""Training data from subsets + real photos, from webdataset shards, with an explicit calibration set; config errors."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from sentry_image.data.manifest import read_manifest
from sentry_image.data.preprocess import PreprocessConfig
from sentry_image.data.shard import write_shards
from sentry_image.models.checkpoint import load_torch
from sentry_image.train import run
from sentry_image.train.config import AugmentConfig, ConfigError, load_config
from sentry_image.train.loop import ShardTrainDataset
from sentry_image.train.run import train

BASE = ["model.args={width: 4}", "optim.batch_size=4", "optim.lr=0.01"]


def _image(path: Path, seed: int, smooth: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    (image.filter(ImageFilter.GaussianBlur(2)) if smooth else image).save(path)


def _labelled(folder: Path, groups: list[str], per_group: int = 3, seed: int = 0) -> Path:
    """A real/ + ai/ folder whose source groups are ``real/<g>`` and ``ai/<g>``."""
    for label in ("real", "ai"):
        for g, group in enumerate(groups):
            for i in range(per_group):
                _image(folder / label / group / f"{i}.png", seed + 1000 * g + i + (500 if label == "ai" else 0),
                       smooth=label == "ai")
    return folder


def _cfg(out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_config(None, [f"out={out}", *BASE, *extra])


def test_trains_from_subset_names_and_a_real_folder(tmp_path: Path) -> None:
    split = tmp_path / "root" / "extracted" / "val" / "IF-CC95K"
    for g, inner in enumerate(["IF-ddim-25-15K", "IF-ddim-50-15K", "IF-ddpm-50-15K", "IF-dpmsolver++-10-15K"]):
        for i in range(3):
            _image(split / inner / f"{i}.png", 10 * g + i, smooth=True)
    for g in range(4):
        for i in range(3):
            _image(tmp_path / "photos" / f"cam{g}" / f"{i}.png", 100 + 10 * g + i, smooth=False)
    out = train(_cfg(tmp_path / "run", "data.subsets=[IF-CC95K]", f"data.root={tmp_path / 'root'}",
                     f"data.real={tmp_path / 'photos'}"))
    _model, _calibration, config = load_torch(out)
    data = config["data"]
    assert data["subsets"] == ["IF-CC95K"] and data["images"] == {"subsets": 12, "real": 12}
    assert len(data["rows_sha256"]) == 64 and len(config["training_data_sha256"]) == 64
    split_record = config["split"]
    assert sum(split_record[r]["images"] for r in ("train", "calibration", "test")) == 24
    groups = set(split_record["train"]["groups"]) | set(split_record["calibration"]["groups"])
    assert "IF-ddim-25-15K" in groups | set(split_record["test"]["groups"])  # grouped by generator folder
    assert not set(split_record["train"]["groups"]) & set(split_record["test"]["groups"])
    assert (tmp_path / "root" / "manifests" / "val" / "IF-CC95K.csv").is_file()  # the scan is cached


def test_trains_from_shards_with_a_broken_sample_and_an_explicit_calibration_set(tmp_path: Path) -> None:
    data = _labelled(tmp_path / "train", ["a", "b", "c", "d"])
    rows = read_manifest(_manifest(data))
    (data / "ai" / "b" / "0.png").write_bytes(b"not an image")  # kept in the shard, skipped in training
    write_shards(rows, tmp_path / "shards", max_samples=8)
    calib = _labelled(tmp_path / "calib", ["x", "y"], seed=7)
    out = train(_cfg(tmp_path / "run", f"data.shards={tmp_path / 'shards'}", f"data.calibration={calib}",
                     "optim.epochs=2"))
    _model, calibration, config = load_torch(out)
    history = config["training"]["history"]
    assert [h["skipped"] for h in history] == [1, 1] and [h["images"] for h in history] == [23, 23]
    assert config["data"]["shard_count"] == 3 and config["data"]["samples"] == 24
    assert [f["samples"] for f in config["data"]["shard_files"]] == [8, 8, 8]
    assert all(len(f["sha256"]) == 64 for f in config["data"]["shard_files"])
    assert config["split"]["calibration"]["images"] == 12
    assert config["metrics"]["calibration_split"]["n"] == 12  # calibrated on the explicit set, all of it
    assert "calibration split" in calibration.fitted_on
    # resuming a finished run trains nothing more and keeps the history (per-epoch state)
    again = train(_cfg(tmp_path / "run", f"data.shards={tmp_path / 'shards'}", f"data.calibration={calib}",
                       "optim.epochs=2"))
    assert len(load_torch(again)[2]["training"]["history"]) == 2


def _manifest(folder: Path) -> Path:
    from sentry_image.data.metadata import write_manifest
    from sentry_image.data.sources import read_source

    return write_manifest([{**r.fields, "path": r.rel_path} for r in read_source(folder)], folder / "m.csv")


def test_shard_stream_splits_ranks_and_gives_each_sample_the_same_view(tmp_path: Path) -> None:
    data = _labelled(tmp_path / "d", ["a", "b"], per_group=2)
    write_shards(read_manifest(_manifest(data)), tmp_path / "s", max_samples=2)
    shards = sorted((tmp_path / "s").glob("*.tar"))
    pre, aug = PreprocessConfig(crop_size=16, resize_short=None), AugmentConfig()

    def views(rank: int, world: int) -> dict[str, torch.Tensor]:
        ds = ShardTrainDataset(shards, pre, aug, seed=3, rank_world=(rank, world), buffer=1)
        raw = [meta["path"] for _, meta in ds.buffered()]
        return dict(zip(raw, (x for x, _, ok in ds if ok), strict=True))

    one, r0, r1 = views(0, 1), views(0, 2), views(1, 2)
    assert len(one) == 8 and not r0.keys() & r1.keys() and r0.keys() | r1.keys() == one.keys()
    assert all(torch.equal(one[k], {**r0, **r1}[k]) for k in one)  # augmentation keyed by sample, not by rank


def test_calibration_set_sharing_a_source_is_refused(tmp_path: Path, tiny_manifest: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.calibration: .*shares .*source group"):
        train(_cfg(tmp_path / "run", f"data.manifest={tiny_manifest}", f"data.calibration={tiny_manifest}"))
    write_shards(read_manifest(tiny_manifest), tmp_path / "shards", max_samples=16)
    with pytest.raises(ConfigError, match=r"data\.calibration: .*shares"):
        train(_cfg(tmp_path / "run", f"data.shards={tmp_path / 'shards'}", f"data.calibration={tiny_manifest}"))
    assert not (tmp_path / "run").exists()


def test_explicit_calibration_replaces_the_calibration_share(tmp_path: Path, tiny_manifest: Path) -> None:
    calib = _labelled(tmp_path / "calib", ["x", "y"], seed=7)
    out = train(_cfg(tmp_path / "run", f"data.manifest={tiny_manifest}", f"data.calibration={calib}"))
    record = load_torch(out)[2]["split"]
    assert record["calibration"]["images"] == 12 and record["calibration"]["groups"] == ["x", "y"]
    assert record["train"]["images"] + record["test"]["images"] == 32  # no share of the rows held for calibration


@pytest.mark.parametrize(("overrides", "message"), [
    ([], r"data: no training data"),
    (["data.manifest=nowhere/m.csv"], r"data\.manifest: nowhere/m\.csv: no such manifest"),
    (["data.subsets=[IF-CC95K]"], r"data\.subsets: .*sentry-image data extract --subset IF-CC95K"),
    (["data.subsets=[IF-CC9K]"], r"data\.subsets: unknown subset 'IF-CC9K': did you mean IF-CC95K"),
    (["data.shards=SHARDS"], r"data\.calibration: training from data\.shards"),
    (["data.shards=SHARDS", "data.manifest=MANIFEST"], r"data\.shards: give either"),
    (["data.shards=SHARDS", "calibration.enabled=false", "optim.optimizer=lbfgs"], r"lbfgs .* data\.shards"),
    (["data.shards=SHARDS", "calibration.enabled=false", "data.num_workers=2"], r"data\.shards: 1 shards"),
    (["data.shards=nowhere"], r"data\.shards: nowhere: no such shard"),
    (["data.real=REAL"], r"the train split has no ai images"),
])
def test_config_errors_come_before_any_model_is_built(tmp_path: Path, tiny_manifest: Path,
                                                      monkeypatch: pytest.MonkeyPatch, overrides: list[str],
                                                      message: str) -> None:
    write_shards(read_manifest(tiny_manifest), tmp_path / "shards", max_samples=100)
    for i in range(3):
        _image(tmp_path / "photos" / f"cam{i}" / "0.png", i, smooth=False)  # a plain folder: every image real
    subs = {"SHARDS": str(tmp_path / "shards"), "MANIFEST": str(tiny_manifest), "REAL": str(tmp_path / "photos")}
    built: list[str] = []
    real_build = run.build_model
    monkeypatch.setattr(run, "build_model", lambda cfg: built.append("model") or real_build(cfg))
    monkeypatch.chdir(tmp_path)
    cfg = _cfg(tmp_path / "run", f"data.root={tmp_path}", *[_sub(o, subs) for o in overrides])
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert built == [] and not (tmp_path / "run").exists()


def _sub(text: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        text = text.replace(key, value)
    return text


@pytest.mark.slow
def test_two_gloo_processes_with_unequal_shards_stop_together(tmp_path: Path, tiny_manifest: Path) -> None:
    rows = read_manifest(tiny_manifest)
    write_shards(rows[:12], tmp_path / "s", max_samples=12, prefix="a", seed=None)  # rank 0: 12 + 8 samples
    write_shards(rows[12:24], tmp_path / "s", max_samples=12, prefix="b", seed=None)  # rank 1: 12 samples
    write_shards(rows[24:], tmp_path / "s", max_samples=12, prefix="c", seed=None)
    (tmp_path / "s" / "index.json").unlink()  # three writes, one index: list the tars instead
    overrides = [f"data.shards={tmp_path / 's'}", f"out={tmp_path / 'run'}", *BASE, "optim.batch_size=8",
                 "optim.epochs=2", "calibration.enabled=false", "augment.enabled=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    script = tmp_path / "train.py"  # train() itself: the CLI's own checks are not under test here
    script.write_text("import sys\nfrom sentry_image.train.config import load_config\n"
                      "from sentry_image.train.run import train\ntrain(load_config(None, sys.argv[1:]))\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
           *overrides]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    training = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert training["world_size"] == 2
    sizes = {"a-000000.tar": 12, "b-000000.tar": 12, "c-000000.tar": 8}
    expected = []
    for epoch in range(2):  # the epoch's shard order, as ShardDataset draws it; rank r takes every 2nd from r
        order = sorted(sizes)
        random.Random(f"0:{epoch}").shuffle(order)
        counts = [sum(sizes[n] for n in order[r::2]) for r in range(2)]
        steps = min(math.ceil(c / 4) for c in counts)  # all stop when the shortest rank runs out
        expected.append(sum(min(c, 4 * steps) for c in counts))
    assert [h["images"] for h in training["history"]] == expected and all(e < 32 for e in expected)


def test_read_source_and_make_splits_serve_training(tmp_path: Path) -> None:
    from sentry_image.data.sources import read_source
    from sentry_image.data.splits import make_splits

    assert not hasattr(run, "read_rows")  # one reader of labelled rows: data.sources.read_source
    rows = read_source(_labelled(tmp_path / "d", ["a", "b", "c"]))
    assert len(rows) == 18 and all(r.path.is_file() for r in rows)  # paths usable after the call returns
    splits = make_splits(rows, [0.6, 0.2, 0.2], 0)
    assert {r.folder for r in rows} == {"a", "b", "c"} and sum(len(s) for s in splits.values()) == 18


def test_frozen_backbone_standardises_features_from_the_first_shard_samples(tmp_path: Path) -> None:
    data = _labelled(tmp_path / "d", ["a", "b"], per_group=2)
    write_shards(read_manifest(_manifest(data)), tmp_path / "s", max_samples=4)
    out = train(load_config(None, [f"out={tmp_path / 'run'}", f"data.shards={tmp_path / 's'}",
                                   "model.name=test_efficientnet_lite_tiny", "model.freeze_backbone=true",
                                   "calibration.enabled=false", "optim.batch_size=4"]))
    from safetensors.torch import load_file

    weights = load_file(str(out / "model.safetensors"))
    assert float(weights["feat_mean"].abs().sum()) > 0 and not torch.allclose(weights["feat_std"],
                                                                              torch.ones_like(weights["feat_std"]))
