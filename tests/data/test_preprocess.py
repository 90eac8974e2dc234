"""numpy preprocessing (:mod:`sentry_image.data.preprocess`) against an independent torch/torchvision pipeline.

The reference is torchvision's own: ``Resize(short side, BILINEAR, antialias=True)`` on the PIL image,
``CenterCrop``, ``ToTensor`` (or ``ToImage`` + ``ToDtype`` in ``transforms.v2``) and ``Normalize``. Both resize with
Pillow, so the only arithmetic difference is the order of the float32 operations: the bound is 1e-5.

Two geometric conventions of the project are not torchvision's, and are kept on purpose (every checkpoint was
trained with them): the long side after ``resize_short`` is *rounded* (torchvision truncates), and the centre crop
starts at ``floor((side - crop) / 2)`` (torchvision rounds half to even). Where they give different pixels, the
reference is told the project's geometry explicitly and the difference is measured and pinned.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms import functional as TF

from sentry_image.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig, crop_grid, describe, preprocess

TOL = 1e-5


def photo(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    """Smooth gradients plus grain: resampling and cropping both change the pixels visibly."""
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x * 3 + y * 5) % 256], axis=-1)
    arr = np.clip(arr + rng.normal(0, 20, arr.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(arr)
    if mode == "RGBA":
        image.putalpha(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)))
        return image
    return image.convert(mode)


def reference(image: Image.Image, cfg: PreprocessConfig, *, api: str = "v1", size: tuple[int, int] | None = None,
              origin: tuple[int, int] | None = None) -> np.ndarray:
    """torchvision's pipeline; ``size`` (h, w) and ``origin`` (top, left) override its geometry when given."""
    rgb = image.convert("RGB")
    s = cfg.crop_size
    if api == "v1":
        steps: list = []
        if cfg.resize_short is not None:
            steps.append(T.Resize(size or cfg.resize_short, interpolation=InterpolationMode.BILINEAR, antialias=True))
        steps.append(T.CenterCrop(s) if origin is None else T.Lambda(lambda im: TF.crop(im, *origin, s, s)))
        steps += [T.ToTensor(), T.Normalize(cfg.mean, cfg.std)]
        out = T.Compose(steps)(rgb)
    else:
        steps = []
        if cfg.resize_short is not None:
            steps.append(v2.Resize(size or cfg.resize_short, interpolation=InterpolationMode.BILINEAR,
                                   antialias=True))
        steps.append(v2.CenterCrop(s) if origin is None else v2.Lambda(lambda im: v2.functional.crop(im, *origin, s,
                                                                                                      s)))
        steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(cfg.mean), list(cfg.std))]
        out = v2.Compose(steps)(rgb)
    return out.unsqueeze(0).numpy()


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def torchvision_resized(size: tuple[int, int], short: int) -> tuple[int, int]:
    """(w, h) torchvision's Resize(short) gives: the long side truncated."""
    w, h = size
    return (short, int(short * h / w)) if w <= h else (int(short * w / h), short)


def project_resized(size: tuple[int, int], short: int) -> tuple[int, int]:
    """(w, h) the project's contract gives: the short side exact, the long side rounded."""
    w, h = size
    scale = short / min(w, h)
    return round(w * scale), round(h * scale)


# (image size, resize_short, crop), odd sizes included; where torchvision's Resize(short) would truncate the long side
# the reference is given the project's rounded size (the pixels must then agree all the same)
RESIZED = [((320, 240), 64, 56), ((97, 131), 64, 56), ((101, 101), 64, 56), ((77, 300), 64, 56),
           ((640, 480), 256, 224), ((97, 131), 256, 224)]
NATIVE = [((45, 41), 32), ((40, 37), 32), ((64, 48), 32), ((33, 33), 32), ((129, 101), 96)]
MODES = ["RGB", "L", "RGBA", "P", "CMYK"]


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("size", "short", "crop"), RESIZED, ids=lambda v: str(v))
def test_resize_short_and_centre_crop_match_torchvision(size: tuple[int, int], short: int, crop: int, mode: str,
                                                        api: str) -> None:
    cfg = PreprocessConfig(crop_size=crop, resize_short=short)
    image = photo(size, mode)
    got = preprocess(image, cfg)
    assert got.dtype == np.float32 and got.shape == (1, 3, crop, crop) and got.flags.c_contiguous
    resized = project_resized(size, short)
    expected = reference(image, cfg, api=api)
    if torchvision_resized(size, short) != resized:  # torchvision truncates the long side, the project rounds it
        expected = reference(image, cfg, api=api, size=(resized[1], resized[0]))
    diff = max_diff(got, expected)
    assert diff <= TOL, f"{size} {mode} via torchvision {api}: max |numpy - torchvision| = {diff:.3g}"


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("size", "crop"), NATIVE, ids=lambda v: str(v))
def test_native_resolution_centre_crop_matches_torchvision(size: tuple[int, int], crop: int, mode: str,
                                                           api: str) -> None:
    cfg = PreprocessConfig(crop_size=crop, resize_short=None)
    image = photo(size, mode, seed=1)
    got = preprocess(image, cfg)
    diff = max_diff(got, reference(image, cfg, api=api))
    assert diff <= TOL, f"{size} {mode} via torchvision {api}: max |numpy - torchvision| = {diff:.3g}"
    # native resolution: the crop holds the image's own pixels, only normalised
    top, left = (size[1] - crop) // 2, (size[0] - crop) // 2
    raw = np.asarray(image.convert("RGB"), dtype=np.float32)[top:top + crop, left:left + crop] / 255
    np.testing.assert_allclose(got[0].transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN, raw, atol=1e-5)


@pytest.mark.parametrize(("size", "short", "crop", "resized", "origin"), [
    # long side rounded up where torchvision truncates: one pixel longer
    ((100, 151), 64, 56, (64, 97), (20, 4)),
    ((333, 257), 64, 56, (83, 64), (4, 13)),
    # crop origin floor((side - crop) / 2) where torchvision's round-half-even moves it one pixel on
    ((129, 67), 64, 56, (123, 64), (4, 33)),
    ((255, 171), 64, 56, (95, 64), (4, 19)),
    ((81, 65), 256, 224, (319, 256), (16, 47)),
    ((51, 63), None, 32, (51, 63), (15, 9)),
    ((35, 35), None, 32, (35, 35), (1, 1)),
])
def test_where_torchvision_geometry_differs_the_projects_is_kept(size: tuple[int, int], short: int | None,
                                                                 crop: int, resized: tuple[int, int],
                                                                 origin: tuple[int, int]) -> None:
    cfg = PreprocessConfig(crop_size=crop, resize_short=short)
    image = photo(size)
    got = preprocess(image, cfg)
    if short is not None:
        assert project_resized(size, short) == resized
    w, h = resized
    assert crop_grid(h, w, crop, 1) == [origin] == [((h - crop) // 2, (w - crop) // 2)]
    # torchvision's pixel arithmetic at the project's geometry: the 1e-5 bound holds
    exact = reference(image, cfg, size=None if short is None else (h, w), origin=origin)
    diff = max_diff(got, exact)
    assert diff <= TOL, f"{size}: max |numpy - torchvision at the project's geometry| = {diff:.3g}"
    # torchvision's own geometry lands elsewhere: how far, said in the message
    default = reference(image, cfg)
    tv_w, tv_h = torchvision_resized(size, short) if short is not None else size
    tv_origin = (round((tv_h - crop) / 2.0), round((tv_w - crop) / 2.0))  # CenterCrop: round half to even
    off = max_diff(got, default)
    assert (tv_w, tv_h, tv_origin) != (w, h, origin) and off > 0.1, (
        f"{size}: torchvision resizes to {tv_w}x{tv_h} and crops at {tv_origin}, the project to {w}x{h} at "
        f"{origin}; max |difference| = {off:.3g}")


@pytest.mark.parametrize(("size", "crop"), [((20, 13), 32), ((40, 20), 32), ((31, 31), 32), ((17, 50), 24)])
def test_small_images_are_padded_by_reflection(size: tuple[int, int], crop: int) -> None:
    image = photo(size, seed=3)
    got = preprocess(image, PreprocessConfig(crop_size=crop, pad_small=True))
    w, h = size
    ph, pw = max(0, crop - h), max(0, crop - w)
    x = T.ToTensor()(image).unsqueeze(0)
    padded = torch.nn.functional.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="reflect")
    ph_, pw_ = padded.shape[-2:]
    top, left = (ph_ - crop) // 2, (pw_ - crop) // 2
    expected = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(padded[..., top:top + crop, left:left + crop]).numpy()
    diff = max_diff(got, expected)
    assert diff <= TOL, f"{size}: max |numpy - torch reflection pad| = {diff:.3g}"
    # reflection mirrors without repeating the edge: the row above the image is the image's second row
    first = ph // 2  # the image's first row in the padded crop
    if first:
        pixels = got[0].transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
        np.testing.assert_allclose(pixels[first - 1], pixels[first + 1], atol=1e-5)


def test_without_pad_small_a_small_image_is_upsampled_instead() -> None:
    image = photo((20, 13), seed=4)
    got = preprocess(image, PreprocessConfig(crop_size=32, pad_small=False))
    assert got.shape == (1, 3, 32, 32)
    up = image.resize((max(32, round(20 * 32 / 13)), 32), Image.Resampling.BILINEAR)  # short side to the crop
    expected = reference(up, PreprocessConfig(crop_size=32))
    assert max_diff(got, expected) <= TOL


@pytest.mark.parametrize(("num_crops", "grid"), [(1, 1), (4, 2), (5, 2), (9, 3)])
def test_num_crops_is_a_square_grid_spread_over_the_image(num_crops: int, grid: int) -> None:
    size, crop = (101, 77), 32
    image = photo(size, seed=5)
    got = preprocess(image, PreprocessConfig(crop_size=crop, num_crops=num_crops))
    assert got.shape == (grid * grid, 3, crop, crop)  # rounded to the nearest square grid

    def origins(length: int) -> list[int]:
        return [(length - crop) // 2] if grid == 1 else [round(i * (length - crop) / (grid - 1)) for i in range(grid)]

    corners = [(y, x) for y in origins(size[1]) for x in origins(size[0])]
    assert crop_grid(size[1], size[0], crop, num_crops) == corners
    for k, (top, left) in enumerate(corners):
        expected = reference(image, PreprocessConfig(crop_size=crop), origin=(top, left))
        assert max_diff(got[k:k + 1], expected) <= TOL, f"crop {k} at {(top, left)}"
    if grid > 1:  # the grid reaches the image's corners
        assert corners[0] == (0, 0) and corners[-1] == (size[1] - crop, size[0] - crop)


def test_a_side_no_longer_than_the_crop_has_one_origin() -> None:
    # a 2x2 grid on an image exactly one crop tall: the rows collapse to one, so two crops, never a duplicate
    assert crop_grid(32, 80, 32, 4) == [(0, 0), (0, 48)]
    got = preprocess(photo((80, 32)), PreprocessConfig(crop_size=32, num_crops=4))
    assert got.shape == (2, 3, 32, 32) and not np.array_equal(got[0], got[1])


def test_input_is_left_alone_and_config_round_trips() -> None:
    image = photo((50, 40), "P")
    before = image.copy()
    preprocess(image, PreprocessConfig(crop_size=32, resize_short=36))
    assert image.mode == "P" and np.array_equal(np.asarray(image), np.asarray(before))
    cfg = PreprocessConfig(crop_size=48, resize_short=None, num_crops=4, pad_small=False)
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown preprocessing keys"):
        PreprocessConfig.from_dict({"crop": 3})


def test_preprocessing_needs_no_torch() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"  # any import of torch now fails
            "from PIL import Image\n"
            "from sentry_image.data.preprocess import PreprocessConfig, preprocess\n"
            "x = preprocess(Image.new('RGB', (50, 40), (10, 20, 30)), PreprocessConfig(crop_size=32))\n"
            "print(type(x).__module__, x.dtype, x.shape)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["numpy", "float32", "(1,", "3,", "32,", "32)"]


@pytest.mark.parametrize(("fields", "text"), [
    ({}, "native, crop 224"),
    ({"resize_short": 256}, "resize 256 -> crop 224"),
    ({"num_crops": 4, "crop_size": 64}, "native, crop 64 x4"),
    ({"pad_mode": "zero", "crop_rounding": "half_even"}, "native, crop 224, zero pad"),  # UnivFD's CenterCrop
    ({"crop_mode": "none"}, "native, whole image"),  # CNNDetection / NPR as their authors tested
    ({"crop_mode": "none", "resize_short": 256, "resize_mode": "square"}, "resize 256x256, whole image"),  # FreqNet
])
def test_describe_names_every_protocol_so_no_summary_hides_one(fields: dict[str, Any], text: str) -> None:
    assert describe(PreprocessConfig(**fields).to_dict()) == text
