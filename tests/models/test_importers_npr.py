"""NPR imported faithfully: a file saved as the authors save it scores our generated images exactly as the authors'
network and test transforms do, on the torch backend and the ONNX graph.

The reference transcribes the official ``networks/resnet.py`` (``resnet50(num_classes=1)``: a 3x3 stride-2 stem,
``layer1`` and ``layer2`` of bottlenecks, ``fc1`` = ``Linear(512, 1)``, the NPR residual of nearest-neighbour
down/up-sampling scaled by 2/3). ``test.py`` loads ``NPR.pth`` as a plain state dict; the trainer's own
checkpoints also hold the unused ``fc`` it attaches.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image
from torch import nn

from sentry_image.models.checkpoint import load_model
from sentry_image.models.importers import ImportFailure, import_checkpoint
from sentry_image.models.runtime import logits_for_images
from tests.helpers.reference_nets import RefBottleneck, randomise

# logits of order one; measured: torch identical, onnxruntime within 1e-6 (BatchNorm folded into the convolutions)
TOL = 1e-5
NORMALIZE = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


class RefNPR(nn.Module):
    """The official ``resnet50(num_classes=1)`` of NPR-DeepfakeDetection."""

    def __init__(self) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Linear(512, 1)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [RefBottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [RefBottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    @staticmethod
    def interpolate(img: torch.Tensor, factor: float) -> torch.Tensor:
        down = F.interpolate(img, scale_factor=factor, mode="nearest", recompute_scale_factor=True)
        return F.interpolate(down, scale_factor=1 / factor, mode="nearest", recompute_scale_factor=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        npr = x - self.interpolate(x, 0.5)
        x = self.maxpool(self.relu(self.bn1(self.conv1(npr * 2.0 / 3.0))))
        x = self.layer2(self.layer1(x))
        return self.fc1(self.avgpool(x).view(x.size(0), -1))


def images() -> list[Image.Image]:
    """Generated images, some up-sampled 2x by nearest neighbour (NPR's zero residual) and some not; even sizes,
    so the official forward runs on them as it is."""
    out = []
    for i, (w, h) in enumerate([(64, 64), (72, 56), (48, 80)]):
        rng = np.random.default_rng(i)
        arr = rng.normal(128, 40, (h, w, 3))
        if i % 2:
            arr = np.kron(rng.normal(128, 40, (h // 2, w // 2, 3)), np.ones((2, 2, 1)))
        out.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    return out


def reference_logits(net: nn.Module, ims: list[Image.Image], transform: T.Compose) -> np.ndarray:
    with torch.no_grad():  # one image per batch: whole images of different sizes
        return np.array([float(net(transform(im).unsqueeze(0)).reshape(())) for im in ims])


@pytest.fixture(scope="module")
def reference() -> RefNPR:
    return randomise(RefNPR(), seed=1)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def released(reference: RefNPR, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("released") / "NPR.pth"
    torch.save(reference.state_dict(), path)  # what test.py loads: a plain state dict
    return path


@pytest.fixture(scope="module")
def imported(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_checkpoint("npr", released, tmp_path_factory.mktemp("imported") / "npr")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_native_whole_image_logits_match_the_reference(reference: RefNPR, imported: Path, backend: str) -> None:
    expected = reference_logits(reference, images(), T.Compose([T.ToTensor(), NORMALIZE]))
    assert np.abs(expected).max() < 50 and np.ptp(expected) > 0.01, expected  # informative, not saturated
    model = load_model(imported, backend)
    got = np.concatenate([logits_for_images(model.scorer, [im]) for im in images()])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_odd_sides_lose_their_last_row_and_column_as_the_authors_commented_code_does(reference: RefNPR,
                                                                                     imported: Path) -> None:
    odd = Image.fromarray(np.random.default_rng(5).integers(0, 256, (67, 61, 3), dtype=np.uint8))
    x = NORMALIZE(T.ToTensor()(odd)).unsqueeze(0)
    with torch.no_grad():
        expected = float(reference(x[..., :66, :60]).reshape(()))
    for backend in ("torch", "onnx"):
        got = logits_for_images(load_model(imported, backend).scorer, [odd])
        np.testing.assert_allclose(got, [expected], rtol=0, atol=TOL)


def test_resize256_protocol_matches_torchvision_resize(reference: RefNPR, released: Path, tmp_path: Path) -> None:
    out = import_checkpoint("npr", released, tmp_path / "r256", protocol="resize256")
    ims = images()[:2]
    expected = reference_logits(reference, ims, T.Compose([T.Resize((256, 256)), T.ToTensor(), NORMALIZE]))
    for backend in ("torch", "onnx"):
        got = logits_for_images(load_model(out, backend).scorer, ims)  # squashed to one size: they batch together
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_the_folder_records_the_import(imported: Path) -> None:
    config = json.loads((imported / "config.json").read_text())
    record = config["imported"]
    assert config["architecture"] == "npr_official" and record["family"] == "npr" and record["file"] == "NPR.pth"
    assert record["source"] == "https://github.com/chuangchuangtan/NPR-DeepfakeDetection"
    assert "no licence file" in record["licence"] and "native" in record["notes"]
    assert config["calibration"]["threshold"] == 0.5 and (imported / "model.onnx").is_file()


def test_trainer_checkpoints_with_the_unused_fc_and_data_parallel_prefixes_import(reference: RefNPR, imported: Path,
                                                                                  tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    state.update({"module.fc.weight": torch.zeros(1, 2048), "module.fc.bias": torch.zeros(1)})
    torch.save(state, tmp_path / "model_epoch_best.pth")
    out = import_checkpoint("npr", tmp_path / "model_epoch_best.pth", tmp_path / "trainer")
    assert (out / "model.safetensors").read_bytes() == (imported / "model.safetensors").read_bytes()
    assert "dropped fc.weight, fc.bias" in json.loads((out / "config.json").read_text())["imported"]["notes"]


def test_a_wrong_shape_or_a_missing_key_is_named(reference: RefNPR, tmp_path: Path) -> None:
    state = reference.state_dict()
    torch.save({**state, "fc1.weight": torch.zeros(1, 2048)}, tmp_path / "wide.pth")
    with pytest.raises(ImportFailure, match=r"wide\.pth: not a npr checkpoint: key 'fc1\.weight' has shape "
                                            r"\[1, 2048\], expected \[1, 512\]$"):
        import_checkpoint("npr", tmp_path / "wide.pth", tmp_path / "x")
    torch.save({k: v for k, v in state.items() if not k.startswith("layer2.3.")}, tmp_path / "short.pth")
    with pytest.raises(ImportFailure, match=r"short\.pth: not a npr checkpoint: missing key 'layer2\.3\.bn1\.bias'"):
        import_checkpoint("npr", tmp_path / "short.pth", tmp_path / "y")
