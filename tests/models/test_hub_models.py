"""``hf-hub:owner/name[/folder][@revision]`` models (:mod:`sentry_image.models.hub`): the real hub client against a
loopback server playing the hub, never the network."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentry_image import load_detector
from sentry_image.models.checkpoint import CheckpointError, load_model, model_config, resolve_model, write_config
from sentry_image.models.export import export_onnx
from sentry_image.models.hub import HubRef, parse_hub_ref
from sentry_image.models.training_record import RECORD, write_training_record
from tests.helpers.builders import write_image
from tests.helpers.model_hub import ModelHub, isolate_hub_client

CKPT_FILES = {"config.json", "model.onnx", "model.safetensors", RECORD}


@pytest.fixture(autouse=True)
def _hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_hub_client(monkeypatch, tmp_path / "hf-home")


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelHub]:
    with ModelHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture(scope="module")
def graph_ckpt(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint with its ONNX graph and a training record: every file a checkpoint folder can hold."""
    folder = tmp_path_factory.mktemp("hub-ckpt") / "tiny"
    shutil.copytree(tiny_ckpt, folder)
    export_onnx(folder, folder / "model.onnx")
    write_training_record(folder, ["ab" * 32, "cd" * 32])
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("hub-images")
    return [write_image(root / f"{i}.png", size=(64 + 9 * i, 48), seed=i) for i in range(3)]


def _repo(folder: Path, ckpt: Path) -> Path:
    """A repository folder: the checkpoint plus files a checkpoint does not need (never downloaded)."""
    shutil.copytree(ckpt, folder)
    (folder / "notes.md").write_text("training notes\n")
    (folder / "old").mkdir()
    shutil.copyfile(ckpt / "model.onnx", folder / "old" / "model.onnx")
    return folder


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _probabilities(model: str | Path, images: list[Path]) -> list[float | None]:
    return [v.ai_probability for v in load_detector(model, provenance=False).detect_many(images)]


def test_references_parse_as_timm_spells_them() -> None:
    assert parse_hub_ref("hf-hub:me/tiny") == HubRef("me/tiny")
    assert parse_hub_ref("hf-hub:me/tiny@v1") == HubRef("me/tiny", "", "v1")
    assert parse_hub_ref("hf-hub:me/tiny/sub/dir@refs/pr/1") == HubRef("me/tiny", "sub/dir", "refs/pr/1")
    assert str(parse_hub_ref("hf-hub:me/tiny/a.onnx@abc")) == "hf-hub:me/tiny/a.onnx@abc"
    for bad in ("hf-hub:me", "hf-hub:me/", "hf-hub:me/tiny@", "hf-hub:me/tiny/../x", "hf-hub:-x/y"):
        with pytest.raises(CheckpointError, match="not a hub reference"):
            parse_hub_ref(bad)


def test_a_hub_checkpoint_downloads_what_it_needs_and_scores_like_the_local_folder(
        hub: ModelHub, graph_ckpt: Path, images: list[Path], tmp_path: Path) -> None:
    commit = hub.publish("me/tiny", _repo(tmp_path / "repo", graph_ckpt))
    path = resolve_model("hf-hub:me/tiny")
    assert path == tmp_path / "hf-home" / "hub" / "models--me--tiny" / "snapshots" / commit  # the standard cache
    assert _files(path) == CKPT_FILES  # notes.md and old/ stay on the hub
    assert _probabilities("hf-hub:me/tiny", images) == _probabilities(graph_ckpt, images)
    loaded = load_model("hf-hub:me/tiny")
    assert loaded.backend == "onnx" and loaded.trained_on == frozenset({"ab" * 32, "cd" * 32})
    # once cached, a resolution asks the hub which commit main is, and downloads nothing
    hub.requests.clear()
    assert resolve_model("hf-hub:me/tiny") == path
    assert [p for _, p in hub.requests if "/resolve/" in p] == []


def test_a_cached_model_loads_with_the_hub_gone_or_offline(hub: ModelHub, graph_ckpt: Path, images: list[Path],
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.publish("me/tiny", graph_ckpt)
    hub.publish("me/later", graph_ckpt)
    path = resolve_model("hf-hub:me/tiny")
    want = _probabilities(graph_ckpt, images)
    hub.stop()
    assert resolve_model("hf-hub:me/tiny") == path
    assert _probabilities("hf-hub:me/tiny", images) == want
    with pytest.raises(CheckpointError) as unreachable:  # never downloaded: nothing to fall back on
        resolve_model("hf-hub:me/later")
    assert "not in the hub cache" in str(unreachable.value) and "cannot be reached" in str(unreachable.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model("hf-hub:me/tiny") == path
    with pytest.raises(CheckpointError) as offline:
        resolve_model("hf-hub:me/later")
    message = str(offline.value)
    assert "\n" not in message and "HF_HUB_OFFLINE" in message and "run once with network access" in message


def test_a_revision_picks_its_commit_online_and_from_the_cache(hub: ModelHub, graph_ckpt: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    first = hub.publish("me/tiny", graph_ckpt, refs=("main", "v1"))
    newer = shutil.copytree(graph_ckpt, tmp_path / "v2")
    config = json.loads((newer / "config.json").read_text())
    write_config(newer, {**config, "version": "t2", "calibration": {**config["calibration"], "threshold": 0.7}})
    second = hub.publish("me/tiny", newer)
    assert first != second
    assert model_config("hf-hub:me/tiny")["version"] == "t2"  # main moved on
    assert model_config("hf-hub:me/tiny@main")["calibration"]["threshold"] == 0.7
    assert model_config("hf-hub:me/tiny@v1")["version"] == "t1"
    assert resolve_model(f"hf-hub:me/tiny@{first}").name == first
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert model_config("hf-hub:me/tiny@v1")["version"] == "t1"  # the cache remembers what the tag pointed at
    assert model_config("hf-hub:me/tiny")["version"] == "t2"


def test_a_fusion_downloads_its_branch_folders(hub: ModelHub, graph_ckpt: Path, images: list[Path],
                                              tmp_path: Path) -> None:
    fused = tmp_path / "fused"
    shutil.copytree(graph_ckpt, fused / "semantic")
    shutil.copytree(graph_ckpt, fused / "unused")  # a checkpoint folder of the repo the fusion does not name
    write_config(fused, {"name": "fused", "version": "1", "architecture": "fusion",
                         "branches": [{"name": "semantic", "folder": "semantic", "weight": 1.3}],
                         "stacker": {"bias": 0.2}, "preprocessing": {},
                         "calibration": json.loads((graph_ckpt / "config.json").read_text())["calibration"]})
    hub.publish("me/fused", fused)
    path = resolve_model("hf-hub:me/fused")
    assert _files(path) == {"config.json", *(f"semantic/{name}" for name in CKPT_FILES)}
    assert _probabilities("hf-hub:me/fused", images) == _probabilities(fused, images)
    # a folder of the repository is a model of its own
    assert _files(resolve_model("hf-hub:me/fused/unused").parent) >= {f"unused/{name}" for name in CKPT_FILES}


def test_a_lone_exported_graph_resolves_to_the_file(hub: ModelHub, graph_ckpt: Path, images: list[Path],
                                                   tmp_path: Path) -> None:
    lone = tmp_path / "lone"
    export_onnx(graph_ckpt, lone / "graphs" / "tiny.onnx")
    (lone / "README.md").write_text("one graph\n")
    hub.publish("me/lone", lone)
    path = resolve_model("hf-hub:me/lone/graphs")
    assert path.name == "tiny.onnx" and path.is_file()
    assert resolve_model("hf-hub:me/lone/graphs/tiny.onnx") == path
    assert _probabilities("hf-hub:me/lone/graphs", images) == _probabilities(graph_ckpt, images)
    export_onnx(graph_ckpt, lone / "graphs" / "other.onnx")
    hub.publish("me/two", lone)
    with pytest.raises(CheckpointError, match=r"several \.onnx files \(other\.onnx, tiny\.onnx\): name one, e\.g\. "
                                              r"hf-hub:me/two/graphs/other\.onnx"):
        resolve_model("hf-hub:me/two/graphs")


def _not_a_checkpoint(root: Path) -> Path:
    root.mkdir()
    (root / "README.md").write_text("a dataset card\n")
    return root


def _config_only(root: Path, ckpt: Path) -> Path:
    root.mkdir()
    shutil.copyfile(ckpt / "config.json", root / "config.json")
    return root


@pytest.mark.parametrize(("ref", "expected"), [
    ("hf-hub:me/nothing", "no model repository me/nothing on http://127.0.0.1"),
    ("hf-hub:me/tiny@v9", "me/tiny has no revision 'v9'"),
    ("hf-hub:me/card", "not a checkpoint: me/card holds no config.json"),
    ("hf-hub:me/config", "not a checkpoint: config.json but neither model.onnx nor model.safetensors"),
    ("hf-hub:me/tiny/missing.onnx", "me/tiny has no file 'missing.onnx'"),
    ("hf-hub:me/gated", "me/gated is gated: accept its conditions"),
])
def test_hub_errors_are_one_line(hub: ModelHub, graph_ckpt: Path, tmp_path: Path, ref: str, expected: str) -> None:
    hub.publish("me/tiny", graph_ckpt)
    hub.publish("me/card", _not_a_checkpoint(tmp_path / "card"))
    hub.publish("me/config", _config_only(tmp_path / "config", graph_ckpt))
    hub.publish("me/gated", graph_ckpt)
    hub.gated.add("me/gated")
    with pytest.raises(CheckpointError) as caught:
        load_model(ref)
    message = str(caught.value)
    assert message.startswith(f"{ref}: ") and expected in message and "\n" not in message


def test_the_cache_follows_hf_hub_cache(hub: ModelHub, graph_ckpt: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    hub.publish("me/tiny", graph_ckpt)
    assert resolve_model("hf-hub:me/tiny").is_relative_to(tmp_path / "elsewhere" / "models--me--tiny")


def test_without_the_hub_client_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # what the core install, without the extra, has
    with pytest.raises(CheckpointError, match=r"need huggingface_hub: pip install 'sentry-image\[data\]'"):
        resolve_model("hf-hub:me/tiny")
