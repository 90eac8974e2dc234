"""CNNDetection imported faithfully: a file saved as the authors' training code saves it scores our generated images
exactly as the authors' own network and test transforms do, on the torch backend and the ONNX graph.

The reference is a transcription of the official ``networks/resnet.py`` (torchvision's ResNet-50 with
``num_classes=1``: the parameter names are the released file's), filled with seeded random weights and saved as
``{'model': state_dict, 'optimizer': ..., 'total_steps': ...}`` like ``networks/base_model.py`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from torch import nn

from sentry_image.models.checkpoint import load_model
from sentry_image.models.importers import ImportFailure, import_checkpoint
from sentry_image.models.runtime import LoadedModel, logits_for_images
from tests.helpers.reference_nets import RefBottleneck, randomise

# Logits of order one. Our torch forward runs the reference's float32 operations (measured: identical); onnxruntime
# folds each BatchNorm into its convolution and picks its own kernels (measured: 2.4e-7), so one bound serves both.
TOL = 1e-5
NORMALIZE = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


class RefResNet50(nn.Module):
    """The official ``resnet50(num_classes=1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, 2)
        self.layer3 = self._make_layer(256, 6, 2)
        self.layer4 = self._make_layer(512, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, 1)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [RefBottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [RefBottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).view(x.size(0), -1))


def images() -> list[Image.Image]:
    """Generated images with edges, gradients and grain; odd sides and non-square shapes included."""
    out = []
    for i, (w, h) in enumerate([(64, 64), (72, 56), (61, 67)]):
        rng = np.random.default_rng(i)
        y, x = np.mgrid[0:h, 0:w]
        arr = np.stack([x * 3.0, y * 2.0, (x + y) * 1.5], -1) + rng.normal(0, 20, (h, w, 3))
        arr[h // 4:h // 2, w // 3:w // 2] = rng.integers(0, 256, 3)
        out.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    return out


@pytest.fixture(scope="module")
def reference() -> RefResNet50:
    return randomise(RefResNet50(), seed=0)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def released(reference: RefResNet50, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference saved as the authors' trainer saves it (optimizer state and step count beside the model)."""
    path = tmp_path_factory.mktemp("released") / "blur_jpg_prob0.5.pth"
    optimizer = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                 "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0, 1]}]}
    torch.save({"model": reference.state_dict(), "optimizer": optimizer, "total_steps": 12345}, path)
    return path


@pytest.fixture(scope="module")
def imported(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_checkpoint("cnndetection", released, tmp_path_factory.mktemp("imported") / "cnndet")


def reference_logits(net: nn.Module, transform: Callable[[Image.Image], torch.Tensor]) -> np.ndarray:
    """The authors' scoring loop: one image per batch (eval.py --no_crop --batch_size 1), the raw logit."""
    with torch.no_grad():
        return np.array([float(net(transform(im).unsqueeze(0)).reshape(())) for im in images()])


def our_logits(model: LoadedModel) -> np.ndarray:
    # whole images of different sizes: one forward pass each, as the authors score them
    return np.concatenate([logits_for_images(model.scorer, [im]) for im in images()])


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_whole_image_logits_match_the_reference(reference: RefResNet50, imported: Path, backend: str) -> None:
    expected = reference_logits(reference, T.Compose([T.ToTensor(), NORMALIZE]))  # demo.py / eval.py --no_crop
    assert np.abs(expected).max() < 50 and np.ptp(expected) > 0.01, expected  # informative logits, not saturated
    got = our_logits(load_model(imported, backend))
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_paper_centre_crop_protocol_matches_torchvision_center_crop(reference: RefResNet50, released: Path,
                                                                     tmp_path: Path) -> None:
    out = import_checkpoint("cnndetection", released, tmp_path / "crop224", protocol="crop224")
    # 64-px images are zero-padded to 224 by CenterCrop; a larger one with an odd margin is cropped, origin rounded
    big = Image.fromarray(np.random.default_rng(7).integers(0, 256, (229, 241, 3), dtype=np.uint8))
    transform = T.Compose([T.CenterCrop(224), T.ToTensor(), NORMALIZE])
    with torch.no_grad():
        expected = np.array([float(reference(transform(im).unsqueeze(0)).reshape(())) for im in [*images(), big]])
    model = load_model(out, "torch")
    got = logits_for_images(model.scorer, [*images(), big])  # fixed-size crops batch together
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    onnx = logits_for_images(load_model(out, "onnx").scorer, [*images(), big])
    np.testing.assert_allclose(onnx, expected, rtol=0, atol=TOL)


def test_the_folder_records_the_import_and_keeps_the_authors_operating_point(imported: Path) -> None:
    config = json.loads((imported / "config.json").read_text())
    record = config["imported"]
    assert record["family"] == "cnndetection" and record["file"] == "blur_jpg_prob0.5.pth"
    assert record["source"] == "https://github.com/PeterWang512/CNNDetection" and "CC BY-NC-SA 4.0" in record["licence"]
    assert len(record["sha256"]) == 64 and "no-crop" in record["notes"]
    assert config["architecture"] == "cnndetection_resnet50"
    assert config["calibration"]["threshold"] == 0.5 and config["calibration"]["uncertain_band"] == [0.5, 0.5]
    assert config["preprocessing"]["crop_mode"] == "none" and (imported / "model.onnx").is_file()


def test_a_data_parallel_file_imports_the_same_weights(reference: RefResNet50, imported: Path, tmp_path: Path) -> None:
    wrapped = tmp_path / "dp.pth"
    torch.save({"model": {f"module.{k}": v for k, v in reference.state_dict().items()}}, wrapped)
    again = import_checkpoint("cnndetection", wrapped, tmp_path / "b")
    assert (again / "model.safetensors").read_bytes() == (imported / "model.safetensors").read_bytes()


def test_a_file_of_another_layout_names_the_first_bad_key(reference: RefResNet50, tmp_path: Path) -> None:
    state = reference.state_dict()
    renamed = {("classifier.weight" if k == "fc.weight" else k): v for k, v in state.items()}
    torch.save({"model": renamed}, tmp_path / "renamed.pth")
    with pytest.raises(ImportFailure, match=r"renamed\.pth: not a cnndetection checkpoint: unexpected key "
                                            r"'classifier\.weight' \(and 1 more\)"):
        import_checkpoint("cnndetection", tmp_path / "renamed.pth", tmp_path / "x")
    resized = {**state, "fc.weight": torch.zeros(2, 2048)}
    torch.save({"model": resized}, tmp_path / "two_class.pth")
    with pytest.raises(ImportFailure, match=r"two_class\.pth: .*key 'fc\.weight' has shape \[2, 2048\], "
                                            r"expected \[1, 2048\]"):
        import_checkpoint("cnndetection", tmp_path / "two_class.pth", tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()  # nothing half-written
