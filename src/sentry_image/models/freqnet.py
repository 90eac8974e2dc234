"""FreqNet as its authors released it (Tan, Zhao, Wei, Gu, Liu, Wei: Frequency-Aware Deepfake Detection: Improving
Generalizability through Frequency Space Learning, AAAI 2024; github.com/chuangchuangtan/FreqNet-DeepfakeDetection).

A small network that learns in the frequency domain: high-pass filters over space (HFRI/HFRFS: zero the centred
low-frequency block of the shifted 2-D spectrum, a quarter of each side either way) and over channels (HFRFC),
and frequency convolution layers (FCL: 1x1 convolutions applied separately to the real and the imaginary part of
the spectrum), interleaved with 1x1 convolutions and the first two stages of a ResNet-50. Parameter names are the
authors' (``weight1``, ``realconv1``, ``layer1.0.conv1`` ...), except their ``fc1``, which is our ``head``.

Two formulations of the same function. On the torch backend the filters use ``torch.fft`` exactly as the authors'
code does (fast on images of any size). ONNX cannot express ``torch.fft``, so while the graph is being traced each
frequency operation is written as the linear map it is:

* the spatial high-pass of a real ``x`` is ``x - Re(A_h x A_w^T)``, where ``A_n = F^-1 diag(kept) F`` keeps the
  frequencies the authors zero (two real matrix products per side);
* the channel high-pass is ``x - Re(A_c) x`` over channels (a 1x1 convolution);
* an FCL is ``realconv((x + r)/2) + imagconv((x - r)/2)``, ``r`` being ``x`` reversed circularly in both
  spatial axes, because the real (imaginary) part of a real image's spectrum is the spectrum of its even (odd)
  part, and the 1x1 convolutions commute with ``fftshift``.

The traced operators are fixed to the traced input size, so a graph takes the model's ``crop_size`` only; whole
images of any size (``crop_mode: none``) run on the torch backend.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from ..data.preprocess import PreprocessConfig
from ._bottleneck import bottleneck_stage
from .base import DetectorModel
from .registry import register_detector

#: the authors' band: the centred block of half of each side (``n//2 - n//4`` to ``n//2 + n//4``) is zeroed
SCALE = 4
#: the example size a whole-image model's torch-only checks use (what ``crop_size`` means with crop_mode none)
EXAMPLE_SIZE = 256


@functools.lru_cache(maxsize=64)
def low_band(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Real and imaginary parts of ``A = F^-1 diag(kept) F``, the n x n map keeping the frequencies that the
    authors' high-pass removes: ``-n//4 .. n//4 - 1`` (the centred block once ``fftshift`` moved 0 to ``n//2``)."""
    kept = np.zeros(n)
    half = n // SCALE
    kept[np.arange(-half, half) % n] = 1.0
    op = np.fft.ifft(kept[:, None] * np.fft.fft(np.eye(n), axis=0), axis=0)
    return np.ascontiguousarray(op.real), np.ascontiguousarray(op.imag)


def _band(n: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Only called while tracing, where sizes are tensors and the operators become constants of the graph: the
    # tracer warns that the graph is then specific to the traced size, which is the design (module docstring).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        re, im = low_band(int(n))
        return torch.as_tensor(re, dtype=like.dtype), torch.as_tensor(im, dtype=like.dtype)


def highpass_space(x: torch.Tensor) -> torch.Tensor:
    """HFRI / HFRFS: relu of the real part of ``x`` with its centred low-frequency block of the 2-D spectrum zeroed."""
    if not torch.jit.is_tracing():
        spec = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))
        h, w = spec.shape[-2:]
        spec[..., h // 2 - h // SCALE:h // 2 + h // SCALE, w // 2 - w // SCALE:w // 2 + w // SCALE] = 0.0
        return F.relu(torch.fft.ifft2(torch.fft.ifftshift(spec, dim=(-2, -1)), norm="ortho").real)
    hr, hi = _band(x.shape[-2], x)
    wr, wi = _band(x.shape[-1], x)
    return F.relu(x - (hr @ x @ wr.T - hi @ x @ wi.T))


def highpass_channels(x: torch.Tensor) -> torch.Tensor:
    """HFRFC: the same high-pass along the channel axis (a 1-D spectrum per pixel), then relu."""
    if not torch.jit.is_tracing():
        spec = torch.fft.fftshift(torch.fft.fft(x, dim=1, norm="ortho"), dim=1)
        c = spec.shape[1]
        spec[:, c // 2 - c // SCALE:c // 2 + c // SCALE] = 0.0
        return F.relu(torch.fft.ifft(torch.fft.ifftshift(spec, dim=1), dim=1, norm="ortho").real)
    re, _ = _band(x.shape[1], x)
    keep = torch.eye(re.shape[0], dtype=x.dtype) - re
    return F.relu(F.conv2d(x, keep[:, :, None, None]))


def frequency_conv(x: torch.Tensor, real: nn.Module, imag: nn.Module) -> torch.Tensor:
    """FCL: 1x1 convolutions of the real and imaginary parts of the (shifted) spectrum, back to space, relu."""
    if not torch.jit.is_tracing():
        spec = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))
        spec = torch.complex(real(spec.real), imag(spec.imag))
        return F.relu(torch.fft.ifft2(torch.fft.ifftshift(spec, dim=(-2, -1)), norm="ortho").real)
    reverse = torch.roll(torch.flip(x, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))  # x[-i mod H, -j mod W]
    out: torch.Tensor = real((x + reverse) / 2) + imag((x - reverse) / 2)
    return F.relu(out)


class FreqNet(DetectorModel):
    """The authors' FreqNet: four frequency blocks around ResNet-50's first two stages (3 and 4 bottlenecks)."""

    arch = "freqnet"

    def __init__(self, preprocess: PreprocessConfig) -> None:
        super().__init__(preprocess)
        # (name suffix, channels in, channels out): the 1x1 convolutions the authors keep as raw parameters
        for i, (cin, cout) in enumerate([(3, 64), (64, 64), (256, 256), (256, 256)], start=1):
            self.register_parameter(f"weight{i}", nn.Parameter(torch.randn(cout, cin, 1, 1)))
            self.register_parameter(f"bias{i}", nn.Parameter(torch.randn(cout)))
            self.add_module(f"realconv{i}", nn.Conv2d(cout, cout, 1, bias=False))
            self.add_module(f"imagconv{i}", nn.Conv2d(cout, cout, 1, bias=False))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = bottleneck_stage(64, 64, 3, 1)
        self.layer2 = bottleneck_stage(256, 128, 4, 2)
        self.head = nn.Linear(512, 1)
        for m in self.modules():  # the authors' initialisation, for training from scratch
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _block(self, x: torch.Tensor, i: int, stride: int, channels: bool) -> torch.Tensor:
        """High-pass over space, 1x1 convolution ``i``, (high-pass over channels), frequency convolution ``i``."""
        x = F.relu(F.conv2d(highpass_space(x), getattr(self, f"weight{i}"), getattr(self, f"bias{i}"), stride))
        if channels:
            x = highpass_channels(x)
        return frequency_conv(x, getattr(self, f"realconv{i}"), getattr(self, f"imagconv{i}"))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_tracing() and self.preprocess_cfg.crop_mode == "none":
            raise RuntimeError("FreqNet's ONNX graph holds frequency operators for one input size, but this model "
                               "takes whole images of any size: it runs on the torch backend")
        x = self._block(self._block(x, 1, 1, channels=True), 2, 2, channels=True)
        x = self.layer1(self.maxpool(x))
        x = self._block(self._block(x, 3, 1, channels=False), 4, 2, channels=False)
        out: torch.Tensor = self.layer2(x).mean((2, 3))
        return out


def authors_preprocessing(resize: int | None) -> PreprocessConfig:
    """The authors' test transform: ``Resize((resize, resize))`` (bilinear) of the whole image, or with ``None``
    the whole image at native resolution; then ``ToTensor`` and ImageNet ``Normalize``. No crop either way (a
    centre crop of the resized square is the whole square)."""
    if resize is None:
        return PreprocessConfig(crop_size=EXAMPLE_SIZE, resize_short=None, crop_mode="none")
    return PreprocessConfig(crop_size=resize, resize_short=resize, resize_mode="square")


def from_official(key: str) -> str:
    """Our parameter name of an official FreqNet key (their ``fc1`` is our head; the rest keep their names)."""
    return "head." + key[len("fc1."):] if key.startswith("fc1.") else key


def to_official(key: str) -> str:
    """The official FreqNet name of one of our keys (the inverse of :func:`from_official`)."""
    return "fc1." + key[len("head."):] if key.startswith("head.") else key


@register_detector("freqnet", family="freqnet")
def freqnet(resize: int | None = 256) -> DetectorModel:
    """FreqNet (Tan et al., AAAI 2024) as released: images resized to ``resize`` squared, or whole with ``None``."""
    return FreqNet(authors_preprocessing(resize))


@register_detector("test_freqnet_tiny", family="freqnet")
def test_freqnet_tiny(resize: int | None = 32) -> DetectorModel:
    """The FreqNet network (it is small: 1.85M parameters) on 32 px squares, for tests."""
    return FreqNet(authors_preprocessing(resize))


__all__ = ["FreqNet", "authors_preprocessing", "freqnet", "frequency_conv", "from_official", "highpass_channels",
           "highpass_space", "low_band", "to_official"]
