"""FreqNet imported faithfully: a file saved as the authors save it scores our generated images exactly as their own
network and test transforms do, on the torch backend and (for the resized protocol) on the ONNX graph, whose
frequency operators are matrix products instead of ``torch.fft``.

The reference is a transcription of the official ``networks/freqnet.py`` (its parameters created on the CPU rather
than with ``.cuda()``), filled with seeded random weights and saved as ``test.py`` loads it: a plain state dict.
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
from sentry_image.models.freqnet import frequency_conv, highpass_channels, highpass_space
from sentry_image.models.importers import ImportFailure, import_checkpoint
from sentry_image.models.importers.freqnet import PROTOCOLS
from sentry_image.models.runtime import logits_for_images
from tests.helpers.reference_nets import RefBottleneck

# Logits of order one, each image scored alone as the reference scores it. torch runs the reference's own torch.fft
# operations (measured: identical; batching images changes float32 kernels, in the reference too, by 6e-6).
TOL = 1e-5
# The ONNX graph computes each frequency filter as float32 products with 256 x 256 matrices instead of FFTs: the
# operators agree with the FFTs within 1e-5 per element (test below), and the difference grows through the network
# (measured 9.5e-6 on these logits, 1.4e-6 in probability).
ONNX_TOL = 5e-5
NORMALIZE = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


class RefFreqNet(nn.Module):
    """The official ``FreqNet(layers=[3, 4])``."""

    def __init__(self) -> None:
        super().__init__()
        for i, (cin, cout) in enumerate([(3, 64), (64, 64), (256, 256), (256, 256)], start=1):
            setattr(self, f"weight{i}", nn.Parameter(torch.randn(cout, cin, 1, 1)))
            setattr(self, f"bias{i}", nn.Parameter(torch.randn(cout)))
            setattr(self, f"realconv{i}", nn.Conv2d(cout, cout, 1, bias=False))
            setattr(self, f"imagconv{i}", nn.Conv2d(cout, cout, 1, bias=False))
        self.inplanes = 64
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
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
    def hfreq_wh(x: torch.Tensor, scale: int) -> torch.Tensor:
        x = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=[-2, -1])
        _, _, h, w = x.shape
        x[:, :, h // 2 - h // scale:h // 2 + h // scale, w // 2 - w // scale:w // 2 + w // scale] = 0.0
        x = torch.fft.ifft2(torch.fft.ifftshift(x, dim=[-2, -1]), norm="ortho")
        return F.relu(torch.real(x), inplace=True)

    @staticmethod
    def hfreq_c(x: torch.Tensor, scale: int) -> torch.Tensor:
        x = torch.fft.fftshift(torch.fft.fft(x, dim=1, norm="ortho"), dim=1)
        c = x.shape[1]
        x[:, c // 2 - c // scale:c // 2 + c // scale, :, :] = 0.0
        x = torch.fft.ifft(torch.fft.ifftshift(x, dim=1), dim=1, norm="ortho")
        return F.relu(torch.real(x), inplace=True)

    def fcl(self, x: torch.Tensor, i: int) -> torch.Tensor:
        x = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=[-2, -1])
        x = torch.complex(getattr(self, f"realconv{i}")(x.real), getattr(self, f"imagconv{i}")(x.imag))
        x = torch.fft.ifft2(torch.fft.ifftshift(x, dim=[-2, -1]), norm="ortho")
        return F.relu(torch.real(x), inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(self.hfreq_wh(x, 4), self.weight1, self.bias1, stride=1, padding=0), inplace=True)
        x = self.fcl(self.hfreq_c(x, 4), 1)
        x = F.relu(F.conv2d(self.hfreq_wh(x, 4), self.weight2, self.bias2, stride=2, padding=0), inplace=True)
        x = self.fcl(self.hfreq_c(x, 4), 2)
        x = self.layer1(self.maxpool(x))
        x = F.relu(F.conv2d(self.hfreq_wh(x, 4), self.weight3, self.bias3, stride=1, padding=0), inplace=True)
        x = self.fcl(x, 3)
        x = F.relu(F.conv2d(self.hfreq_wh(x, 4), self.weight4, self.bias4, stride=2, padding=0), inplace=True)
        x = self.layer2(self.fcl(x, 4))
        return self.fc1(self.avgpool(x).view(x.size(0), -1))


def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Seeded weights and BatchNorm statistics far from identity. Each high-pass and relu removes much of the
    signal, so the weights are a little larger than He's (variance 2.6 / fan-in) and the biases small: logits then
    are of order one and differ from image to image."""
    gen = torch.Generator().manual_seed(seed)

    def normal(shape: torch.Size, std: float) -> torch.Tensor:
        return torch.randn(shape, generator=gen) * std

    with torch.no_grad():
        for p in net.parameters(recurse=False):  # the raw 1x1 convolutions and their biases
            p.copy_(normal(p.shape, (2.6 / p[0].numel()) ** 0.5 if p.ndim > 1 else 0.01))
        for mod in net.modules():
            if isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(normal(mod.running_mean.shape, 0.01))
                mod.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                mod.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                mod.bias.copy_(normal(mod.bias.shape, 0.01))
                mod.num_batches_tracked.fill_(1000)
            elif isinstance(mod, nn.Conv2d | nn.Linear):
                mod.weight.copy_(normal(mod.weight.shape, (2.6 / mod.weight[0].numel()) ** 0.5))
                if mod.bias is not None:
                    mod.bias.copy_(normal(mod.bias.shape, 0.01))
    return net.eval()


def images() -> list[Image.Image]:
    """Generated images with edges, gradients and grain: square, non-square (squashed by Resize((256, 256))), odd."""
    out = []
    for i, (w, h) in enumerate([(256, 256), (300, 220), (97, 131)]):
        rng = np.random.default_rng(i)
        y, x = np.mgrid[0:h, 0:w]
        arr = np.stack([x * 1.5, y * 1.0, (x + y) * 0.7], -1) + rng.normal(0, 20, (h, w, 3))
        arr[h // 4:h // 2, w // 3:w // 2] = rng.integers(0, 256, 3)
        out.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    return out


@pytest.fixture(scope="module")
def reference() -> RefFreqNet:
    return randomise(RefFreqNet(), seed=0)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def released(reference: RefFreqNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("released") / "4-classes-freqnet.pth"
    torch.save(reference.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def imported(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_checkpoint("freqnet", released, tmp_path_factory.mktemp("imported") / "freqnet")


def reference_logits(net: nn.Module, transform: T.Compose, pictures: list[Image.Image]) -> np.ndarray:
    with torch.no_grad():
        return np.array([float(net(transform(im).unsqueeze(0)).reshape(())) for im in pictures])


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_resized_logits_match_the_reference(reference: RefFreqNet, imported: Path, backend: str) -> None:
    expected = reference_logits(reference, T.Compose([T.Resize((256, 256)), T.ToTensor(), NORMALIZE]), images())
    assert np.abs(expected).max() < 50 and np.ptp(expected) > 0.01, expected  # informative logits, not saturated
    scorer = load_model(imported, backend).scorer
    got = np.concatenate([logits_for_images(scorer, [im]) for im in images()])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL if backend == "torch" else ONNX_TOL)


def test_native_protocol_scores_whole_images_on_torch(reference: RefFreqNet, released: Path, tmp_path: Path) -> None:
    out = import_checkpoint("freqnet", released, tmp_path / "native", protocol="native")
    config = json.loads((out / "config.json").read_text())
    assert config["preprocessing"]["crop_mode"] == "none" and config["preprocessing"]["resize_short"] is None
    assert not (out / "model.onnx").is_file() and "one input size" in config["imported"]["onnx"]
    small = [im.resize((im.width // 3, im.height // 3)) for im in images()]  # odd sizes, kept small
    expected = reference_logits(reference, T.Compose([T.ToTensor(), NORMALIZE]), small)
    scorer = load_model(out).scorer
    got = np.concatenate([logits_for_images(scorer, [im]) for im in small])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_the_folder_records_the_import_and_keeps_the_authors_operating_point(imported: Path) -> None:
    config = json.loads((imported / "config.json").read_text())
    assert config["architecture"] == "freqnet" and config["args"] == {"resize": 256}
    pre = config["preprocessing"]
    assert pre["resize_short"] == 256 and pre["resize_mode"] == "square" and pre["crop_size"] == 256
    record = config["imported"]
    assert record["family"] == "freqnet" and record["file"] == "4-classes-freqnet.pth"
    assert record["source"] == "https://github.com/chuangchuangtan/FreqNet-DeepfakeDetection"
    assert "no licence file" in record["licence"] and PROTOCOLS["resize256"] in record["notes"]
    assert config["calibration"]["threshold"] == 0.5 and config["calibration"]["uncertain_band"] == [0.5, 0.5]
    assert (imported / "model.onnx").is_file() and "onnx" not in record


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 64, 33, 17), (1, 7, 9, 12), (1, 256, 8, 8)])
def test_the_traced_frequency_operators_equal_the_fft_ones(shape: tuple[int, int, int, int]) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen)
    # frozen: the trace holds them as constants
    real, imag = (nn.Conv2d(shape[1], shape[1], 1, bias=False).requires_grad_(False) for _ in range(2))
    for op in (highpass_space, highpass_channels, lambda t: frequency_conv(t, real, imag)):
        with torch.no_grad():
            traced = torch.jit.trace(op, x.clone())  # the tracing path: matrix products, no torch.fft
            torch.testing.assert_close(traced(x.clone()), op(x.clone()), rtol=0, atol=1e-5)


def test_a_training_checkpoint_of_data_parallel_imports_the_same_weights(reference: RefFreqNet, imported: Path,
                                                                         tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": []}, "total_steps": 7}, tmp_path / "t.pth")
    again = import_checkpoint("freqnet", tmp_path / "t.pth", tmp_path / "b", protocol="native")  # no export: quick
    assert (again / "model.safetensors").read_bytes() == (imported / "model.safetensors").read_bytes()


def test_a_wrong_shape_or_name_names_the_first_bad_key(reference: RefFreqNet, tmp_path: Path) -> None:
    state = reference.state_dict()
    torch.save({**state, "weight3": torch.zeros(128, 256, 1, 1)}, tmp_path / "narrow.pth")
    with pytest.raises(ImportFailure, match=r"narrow\.pth: not a freqnet checkpoint: key 'weight3' has shape "
                                            r"\[128, 256, 1, 1\], expected \[256, 256, 1, 1\]") as failed:
        import_checkpoint("freqnet", tmp_path / "narrow.pth", tmp_path / "x")
    # a FreqNet file also holds NPR's signature keys: a fault in it is not "this looks like NPR"
    assert "looks like" not in str(failed.value)
    renamed = {("fc.weight" if k == "fc1.weight" else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(ImportFailure, match=r"renamed\.pth: not a freqnet checkpoint: unexpected key 'fc\.weight' "
                                            r"\(and 1 more\)"):
        import_checkpoint("freqnet", tmp_path / "renamed.pth", tmp_path / "x")


@pytest.mark.parametrize(("keys", "hint"), [
    (["conv1.weight", "layer3.5.conv3.weight", "layer4.2.conv3.weight", "fc.weight"], "'cnndetection'"),
    (["weight", "bias"], "UnivFD's fc_weights.pth.*'univfd'"),
])
def test_another_familys_file_is_named(tmp_path: Path, keys: list[str], hint: str) -> None:
    torch.save({k: torch.zeros(1) for k in keys}, tmp_path / "other.pth")
    with pytest.raises(ImportFailure, match=rf"other\.pth: not a freqnet checkpoint: .*this looks like .*{hint}"):
        import_checkpoint("freqnet", tmp_path / "other.pth", tmp_path / "x")


def test_a_backbone_is_refused(released: Path, tmp_path: Path) -> None:
    with pytest.raises(ImportFailure, match="freqnet: takes no backbone file"):
        import_checkpoint("freqnet", released, tmp_path / "x", backbone=released)
