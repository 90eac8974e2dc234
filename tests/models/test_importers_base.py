"""The importer framework: reading released files, naming the first bad key, the written folder, the import cache
behind ``--model import:FAMILY:FILE``, the ``import`` command, and the preprocessing published detectors need."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
import typer
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from sentry_image.cli import app as cli_app
from sentry_image.cli.importers import import_cmd
from sentry_image.data.preprocess import PreprocessConfig, crop_boxes, preprocess
from sentry_image.models import onnx as onnx_module
from sentry_image.models.checkpoint import CheckpointError, resolve_model, save_checkpoint
from sentry_image.models.families import create_detector
from sentry_image.models.importers import (
    ImportFailure,
    import_checkpoint,
    list_importers,
    read_state_dict,
    resolve_import,
    write_imported,
)
from sentry_image.models.importers.base import AUTHORS_CALIBRATION, check_keys
from sentry_image.models.npr_official import to_official

SD = {"a.weight": torch.ones(2, 3), "a.bias": torch.zeros(2)}


def npr_file(path: Path, seed: int = 0) -> Path:
    """A released-NPR-shaped file (random weights: the official network is small enough to build whole)."""
    torch.manual_seed(seed)
    model = create_detector("npr_official")
    torch.save({to_official(k): v for k, v in model.state_dict().items()}, path)
    return path


@pytest.mark.parametrize("saved", [SD, {"model": SD, "total_steps": 3}, {"state_dict": SD}, {"net": SD},
                                   {"model": {"state_dict": {f"module.{k}": v for k, v in SD.items()}}},
                                   {"model": {**SD, "epoch": 4}}])
def test_wrappers_prefixes_and_non_tensors_are_undone(saved: dict, tmp_path: Path) -> None:
    torch.save(saved, tmp_path / "w.pth")
    assert set(read_state_dict(tmp_path / "w.pth")) == set(SD)


def test_safetensors_are_read_and_unreadable_files_are_named(tmp_path: Path) -> None:
    save_file(SD, str(tmp_path / "w.safetensors"))
    assert torch.equal(read_state_dict(tmp_path / "w.safetensors")["a.weight"], SD["a.weight"])
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ImportFailure, match=r"junk\.pth: not a readable torch checkpoint"):
        read_state_dict(tmp_path / "junk.pth")
    with pytest.raises(ImportFailure, match=r"nothing\.pth: no such file"):
        read_state_dict(tmp_path / "nothing.pth")
    torch.save({"model": {"epoch": 3}}, tmp_path / "empty.pth")
    with pytest.raises(ImportFailure, match=r"empty\.pth: holds no tensors"):
        read_state_dict(tmp_path / "empty.pth")


def test_a_file_needing_the_unsafe_loader_is_refused_unless_allowed(tmp_path: Path) -> None:
    torch.save({"model": SD, "opt": argparse.Namespace(lr=0.1)}, tmp_path / "pickled.pth")
    with pytest.raises(ImportFailure, match=r"pickled\.pth: needs the unsafe pickle loader, which can run code "
                                            r"from the file \(it pickles argparse\.Namespace\)") as info:
        read_state_dict(tmp_path / "pickled.pth")
    assert "\n" not in str(info.value)
    assert set(read_state_dict(tmp_path / "pickled.pth", allow_pickle=True)) == set(SD)


def test_check_keys_names_the_first_problem_in_sorted_order_and_the_family_it_looks_like() -> None:
    expected = {"b": torch.zeros(2), "c": torch.zeros(3), "d": torch.zeros(1)}
    got = {"b": torch.zeros(2), "c": torch.zeros(4), "a": torch.zeros(1)}
    with pytest.raises(ImportFailure, match=r"^f\.pth: not a fam checkpoint: unexpected key 'a' \(and 2 more\)$"):
        check_keys(got, expected, Path("f.pth"), "fam")
    with pytest.raises(ImportFailure, match=r"key 'c' has shape \[4\], expected \[3\] \(and 1 more\)"):
        check_keys({"b": torch.zeros(2), "c": torch.zeros(4)}, expected, "f.pth", "fam")
    linear = {"weight": torch.zeros(1, 768), "bias": torch.zeros(1)}
    with pytest.raises(ImportFailure, match=r"; this looks like .*UnivFD.* \(import it as family 'univfd'\)$"):
        check_keys(linear, expected, "fc_weights.pth", "npr")


def test_a_file_of_the_other_family_says_which_family_it_is(tmp_path: Path) -> None:
    released = npr_file(tmp_path / "NPR.pth")
    with pytest.raises(ImportFailure, match=r"NPR\.pth: not a cnndetection checkpoint: key 'conv1\.weight' has shape "
                                            r"\[64, 3, 3, 3\], expected \[64, 3, 7, 7\] .*this looks like an NPR "
                                            r"checkpoint \(NPR\.pth\) \(import it as family 'npr'\)"):
        import_checkpoint("cnndetection", released, tmp_path / "out")
    model = create_detector("cnndetection_resnet50")
    resnet = {k.removeprefix("backbone.").replace("head.", "fc."): v for k, v in model.state_dict().items()}
    torch.save({"model": resnet}, tmp_path / "blur_jpg_prob0.1.pth")
    with pytest.raises(ImportFailure, match=r"blur_jpg_prob0\.1\.pth: not a npr checkpoint: key 'conv1\.weight' .*"
                                            r"looks like a CNNDetection ResNet-50"):
        import_checkpoint("npr", tmp_path / "blur_jpg_prob0.1.pth", tmp_path / "out")


def test_import_checkpoint_refuses_unknown_families_protocols_missing_files_and_used_folders(tmp_path: Path) -> None:
    released = npr_file(tmp_path / "NPR.pth")
    assert {"cnndetection", "npr"} <= {imp.family for imp in list_importers()}
    with pytest.raises(ImportFailure, match=r"unknown detector family 'nope'; known: .*cnndetection.*npr"):
        import_checkpoint("nope", released, tmp_path / "o")
    with pytest.raises(ImportFailure, match=r"npr: unknown test protocol 'crop9' \(one of native, resize256\)"):
        import_checkpoint("npr", released, tmp_path / "o", protocol="crop9")
    with pytest.raises(ImportFailure, match=r"missing\.pth: no such file"):
        import_checkpoint("npr", tmp_path / "missing.pth", tmp_path / "o")
    with pytest.raises(ImportFailure, match=r"npr: takes no backbone file"):
        import_checkpoint("npr", released, tmp_path / "o", backbone=released)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(ImportFailure, match=r"used: already exists and is not empty"):
        import_checkpoint("npr", released, tmp_path / "used")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NPR.pth", "used"]  # no staging folder left behind


def test_write_imported_says_why_a_network_is_torch_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> bytes:
        raise onnx_module.ExportError("cannot export 'x' to ONNX: an operator has no ONNX form")

    monkeypatch.setattr(onnx_module, "export_bytes", refuse)
    (tmp_path / "w.pth").write_bytes(b"released bytes")
    out = write_imported(create_detector("test_npr_official_tiny"), tmp_path / "out", family="fam",
                         file=tmp_path / "w.pth", paper="P", source="https://example.org/repo", licence="MIT")
    config = json.loads((out / "config.json").read_text())
    assert not (out / "model.onnx").exists()
    assert config["imported"]["onnx"].startswith("not written: the network does not export to ONNX")
    assert config["imported"]["sha256"] == hashlib.sha256(b"released bytes").hexdigest()
    assert config["calibration"]["method"] == "identity" and config["calibration"]["uncertain_band"] == [0.5, 0.5]


def test_the_folder_is_what_save_checkpoint_writes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_detector("test_npr_official_tiny")
    (tmp_path / "w.pth").write_bytes(b"released bytes")
    ours = write_imported(model, tmp_path / "ours", family="fam", file=tmp_path / "w.pth", paper="P", source="S",
                          licence="L")
    theirs = save_checkpoint(model, tmp_path / "theirs", calibration=AUTHORS_CALIBRATION, name="fam-w")
    config = json.loads((ours / "config.json").read_text())
    assert config.pop("imported")["family"] == "fam"
    assert config == json.loads((theirs / "config.json").read_text())
    assert (ours / "model.safetensors").read_bytes() == (theirs / "model.safetensors").read_bytes()


def test_an_import_reference_is_imported_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_CACHE", str(tmp_path / "cache"))
    released = npr_file(tmp_path / "NPR.pth")
    folder = resolve_model(f"import:npr:{released}")
    assert folder.parent == tmp_path / "cache" / "imported" and folder.name.startswith("npr-")
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert resolve_import(f"import:npr:{released}") == folder and (folder / "config.json").stat().st_mtime_ns == stamp
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # staging folders renamed or removed
    with pytest.raises(CheckpointError, match=r"unknown detector family 'univfdx'"):
        resolve_model(f"import:univfdx:{released}")
    with pytest.raises(CheckpointError, match=r"import:npr: expected import:FAMILY:FILE"):
        resolve_model("import:npr")


def test_the_import_command_writes_a_folder_or_fails_in_one_line(tmp_path: Path) -> None:
    released = npr_file(tmp_path / "NPR.pth")
    app = typer.Typer()
    app.command()(import_cmd)
    runner = CliRunner()
    done = runner.invoke(app, ["npr", str(released), "--out", str(tmp_path / "npr")])
    assert done.exit_code == 0, done.output
    assert "imported NPR.pth as npr" in done.output and (tmp_path / "npr" / "model.onnx").is_file()
    for args, message in [(["nope", str(released)], "unknown detector family 'nope'"),
                          (["npr", str(tmp_path / "gone.pth")], "gone.pth: no such file"),
                          (["cnndetection", str(released)], "not a cnndetection checkpoint")]:
        failed = runner.invoke(app, [*args, "--out", str(tmp_path / "x")])
        assert failed.exit_code == 2
        lines = failed.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in failed.output, failed.output


def test_detect_takes_an_import_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_CACHE", str(tmp_path / "cache"))
    released = npr_file(tmp_path / "NPR.pth")
    Image.fromarray(np.full((40, 30, 3), 90, np.uint8)).save(tmp_path / "a.png")
    done = CliRunner().invoke(cli_app, ["detect", str(tmp_path / "a.png"), "--model", f"import:npr:{released}",
                                        "--format", "json"])
    assert done.exit_code == 0, done.output
    assert '"model": "npr-NPR@0"' in done.output
    failed = CliRunner().invoke(cli_app, ["detect", str(tmp_path / "a.png"), "--model", "import:nope:x.pth"])
    assert failed.exit_code == 2 and "unknown detector family 'nope'" in failed.output


# -- the preprocessing published detectors were evaluated with -------------------------------------------------------
def photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


NORMALIZE = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


@pytest.mark.parametrize("size", [(45, 41), (20, 37), (33, 33), (35, 36), (37, 100), (12, 10)])
def test_zero_padding_and_half_even_origin_match_torchvision_center_crop(size: tuple[int, int]) -> None:
    cfg = PreprocessConfig(crop_size=32, resize_short=None, pad_mode="zero", crop_rounding="half_even")
    image = photo(size)
    expected = T.Compose([T.CenterCrop(32), T.ToTensor(), NORMALIZE])(image).numpy()[None]
    np.testing.assert_allclose(preprocess(image, cfg), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [(64, 48), (31, 77)])
def test_whole_image_and_square_resize_match_torchvision(size: tuple[int, int]) -> None:
    image = photo(size, 1)
    whole = PreprocessConfig(crop_size=32, crop_mode="none")
    np.testing.assert_allclose(preprocess(image, whole), T.Compose([T.ToTensor(), NORMALIZE])(image).numpy()[None],
                               rtol=0, atol=1e-6)
    assert crop_boxes(*size, whole) == [(0, 0, *size)]
    square = PreprocessConfig(crop_size=40, resize_short=40, resize_mode="square", crop_mode="none")
    expected = T.Compose([T.Resize((40, 40)), T.ToTensor(), NORMALIZE])(image).numpy()[None]
    np.testing.assert_allclose(preprocess(image, square), expected, rtol=0, atol=1e-6)


def test_new_preprocessing_fields_are_checked_and_only_written_when_used() -> None:
    assert set(PreprocessConfig().to_dict()) == {"crop_size", "resize_short", "num_crops", "pad_small", "mean", "std"}
    cfg = PreprocessConfig(crop_mode="none", pad_mode="zero", crop_rounding="half_even", resize_mode="square")
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"pad_mode: 'edge' is not one of \['reflect', 'zero'\]"):
        PreprocessConfig(pad_mode="edge")
    with pytest.raises(ValueError, match=r"crop_mode 'none' feeds the whole image once, but num_crops=4"):
        PreprocessConfig(crop_mode="none", num_crops=4)
