"""UnivFD imported faithfully: the head saved as the authors save it, on a CLIP encoder saved as OpenAI (TorchScript,
float16) or open_clip (safetensors in the Hugging Face cache) saves it, scores our generated images exactly as the
authors' ``fc(model.encode_image(x))`` behind their ``validate.py`` transform does, on torch and on the ONNX graph.

The reference is a transcription of OpenAI's ``clip/model.py`` image encoder under its exact key names (sequence-
first attention, QuickGELU, ``ln_post`` of the class token times ``proj``), small: width 128 (two heads of 64, as
``build_model`` gives), two blocks, 8-px patches, 32-px input, a 24-d embedding, with a text tower beside it.
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from sentry_image.models.checkpoint import load_model, load_torch
from sentry_image.models.clip_probe import CLIP_MEAN, CLIP_STD
from sentry_image.models.importers import ImportFailure, import_checkpoint
from sentry_image.models.importers.univfd import FETCH, HUB_FILES, HUB_REPO, read_geometry
from sentry_image.models.runtime import logits_for_images
from sentry_image.models.univfd import VIT_L14

# Logits of order one. torch: open_clip's encoder computes the reference's function with its own batch-first
# attention (measured 6.0e-7); onnxruntime fuses attention and layer norm into its own kernels (measured 1.1e-6).
TOL = 1e-5
WIDTH, LAYERS, PATCH, SIZE, EMBED = 128, 2, 8, 32, 24


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class RefBlock(nn.Module):
    """``ResidualAttentionBlock``: pre-norm attention and MLP, tokens first."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


def ref_transformer(width: int, layers: int, heads: int) -> nn.Module:
    """``Transformer``: its blocks under ``resblocks`` (the module only names them)."""
    module = nn.Module()
    module.resblocks = nn.Sequential(*[RefBlock(width, heads) for _ in range(layers)])
    return module


class RefVisionTransformer(nn.Module):
    """OpenAI's ``VisionTransformer``."""

    def __init__(self, resolution: int, patch: int, width: int, layers: int, output_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros((resolution // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = ref_transformer(width, layers, width // 64)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer.resblocks(self.ln_pre(x).permute(1, 0, 2)).permute(1, 0, 2)
        out: torch.Tensor = self.ln_post(x[:, 0, :]) @ self.proj
        return out


class RefCLIP(nn.Module):
    """The whole CLIP model, as OpenAI's archive holds it: the text tower is saved but unused for images."""

    def __init__(self, embed: int = EMBED, width: int = WIDTH) -> None:
        super().__init__()
        self.visual = RefVisionTransformer(SIZE, PATCH, width, LAYERS, embed)
        self.token_embedding = nn.Embedding(50, 64)
        self.positional_embedding = nn.Parameter(torch.zeros(8, 64))
        self.transformer = ref_transformer(64, 1, 1)
        self.ln_final = nn.LayerNorm(64)
        self.text_projection = nn.Parameter(torch.zeros(64, embed))
        self.logit_scale = nn.Parameter(torch.ones(()))

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.visual(image)
        return out

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.encode_image(image)


class RefUnivFD(nn.Module):
    """The authors' ``CLIPModel``: ``fc(model.encode_image(x))``."""

    def __init__(self, clip: RefCLIP) -> None:
        super().__init__()
        self.model = clip
        self.fc = nn.Linear(clip.visual.proj.shape[1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.model.encode_image(x))
        return out


def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Seeded weights that keep activations of order one, rounded to float16 (OpenAI's archive holds float16)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.ndim >= 2:
                fan_in = p.shape[0] if name.endswith("visual.proj") else p[0].numel()  # proj is used as x @ proj
                p.copy_(torch.randn(p.shape, generator=gen) * fan_in ** -0.5)
            elif name.endswith("weight"):  # layer norm gains
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            p.copy_(p.half().float())
    return net.eval()


def images() -> list[Image.Image]:
    """Generated images around the 32-px crop: margins whose halves round differently (35, 39 wide), images
    smaller than the crop on one side (zero padding), one exactly the crop."""
    out = []
    for i, (w, h) in enumerate([(40, 40), (35, 47), (20, 50), (45, 27), (32, 32), (39, 71)]):
        rng = np.random.default_rng(i)
        y, x = np.mgrid[0:h, 0:w]
        arr = np.stack([x * 5.0, y * 3.0, (x + y) * 2.0], -1) + rng.normal(0, 25, (h, w, 3))
        arr[h // 4:h // 2, w // 3:w // 2] = rng.integers(0, 256, 3)
        out.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    return out


@pytest.fixture(scope="module")
def reference() -> RefUnivFD:
    return randomise(RefUnivFD(RefCLIP()), seed=0)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def released(reference: RefUnivFD, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``fc_weights.pth`` as the authors save it, and the encoder as OpenAI's float16 TorchScript archive."""
    folder = tmp_path_factory.mktemp("released")
    torch.save(reference.fc.state_dict(), folder / "fc_weights.pth")
    # a copy: the trace shares the reference's parameters, which must stay float32
    traced = torch.jit.trace(copy.deepcopy(reference.model), torch.zeros(1, 3, SIZE, SIZE)).half()
    traced.save(str(folder / "ViT-L-14.pt"))
    return folder / "fc_weights.pth", folder / "ViT-L-14.pt"


@pytest.fixture(scope="module")
def imported(released: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    head, backbone = released
    return import_checkpoint("univfd", head, tmp_path_factory.mktemp("imported") / "univfd", backbone=backbone)


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache for this test (lookups only: nothing here reaches the network)."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def reference_logits(reference: RefUnivFD) -> np.ndarray:
    transform = T.Compose([T.CenterCrop(SIZE), T.ToTensor(), T.Normalize(mean=CLIP_MEAN, std=CLIP_STD)])
    with torch.no_grad():
        return reference(torch.stack([transform(im) for im in images()])).reshape(-1).numpy()


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_logits_match_the_authors_forward_and_transform(reference: RefUnivFD, imported: Path, backend: str) -> None:
    expected = reference_logits(reference)
    assert np.abs(expected).max() < 50 and np.ptp(expected) > 0.01, expected  # informative logits, not saturated
    got = logits_for_images(load_model(imported, backend).scorer, images())
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_the_images_exercise_what_torchvision_center_crop_does(reference: RefUnivFD, imported: Path) -> None:
    # with our own defaults (reflection padding, floor-rounded origin) four of the six images score differently
    model, _, _ = load_torch(imported)
    model.preprocess_cfg = replace(model.preprocess_cfg, pad_mode="reflect", crop_rounding="floor")
    gaps = np.abs(logits_for_images(model, images()) - reference_logits(reference))
    assert (gaps > 10 * TOL).sum() == 4, gaps


def test_the_folder_records_the_geometry_the_transform_and_the_import(imported: Path) -> None:
    config = json.loads((imported / "config.json").read_text())
    assert config["architecture"] == "univfd_vitl14"
    assert config["args"] == {"width": WIDTH, "layers": LAYERS, "patch_size": PATCH, "image_size": SIZE,
                              "embed_dim": EMBED}
    pre = config["preprocessing"]
    assert pre["crop_size"] == SIZE and pre["resize_short"] is None and pre["num_crops"] == 1
    assert pre["pad_mode"] == "zero" and pre["crop_rounding"] == "half_even" and pre["mean"] == list(CLIP_MEAN)
    record = config["imported"]
    assert record["family"] == "univfd" and record["file"] == "fc_weights.pth" and "MIT" in record["licence"]
    assert record["source"] == "https://github.com/WisconsinAIVision/UniversalFakeDetect"
    assert "ViT-L-14.pt (sha256 " in record["notes"] and "CenterCrop(32)" in record["notes"]
    assert config["calibration"]["threshold"] == 0.5 and config["calibration"]["uncertain_band"] == [0.5, 0.5]
    assert (imported / "model.onnx").is_file() and "onnx" not in record


def test_open_clip_weights_in_the_hub_cache_are_found_without_a_backbone(
        reference: RefUnivFD, released: tuple[Path, Path], imported: Path, hub_cache: Path, tmp_path: Path) -> None:
    snapshot = hub_cache / f"models--{HUB_REPO.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    save_file({k: v.contiguous() for k, v in reference.model.state_dict().items()}, str(snapshot / HUB_FILES[0]))
    out = import_checkpoint("univfd", released[0], tmp_path / "from-cache")
    ours, theirs = load_file(str(out / "model.safetensors")), load_file(str(imported / "model.safetensors"))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_a_missing_backbone_says_in_one_line_what_to_fetch(released: tuple[Path, Path], hub_cache: Path,
                                                           tmp_path: Path) -> None:
    with pytest.raises(ImportFailure) as info:
        import_checkpoint("univfd", released[0], tmp_path / "x")
    message = str(info.value)
    assert "\n" not in message and f"`{FETCH}`" in message and "fc_weights.pth" in message
    assert FETCH == "hf download timm/vit_large_patch14_clip_224.openai open_clip_model.safetensors"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("head", "problem"), [
    ({"weight": torch.zeros(2, EMBED), "bias": torch.zeros(2)}, r"key 'bias' has shape \[2\], expected \[1\]"),
    ({"weight": torch.zeros(EMBED), "bias": torch.zeros(1)}, r"key 'weight' has shape \[24\], expected \[1, 768\]"),
])
def test_a_head_of_the_wrong_shape_names_the_file_and_key(released: tuple[Path, Path], tmp_path: Path,
                                                          head: dict[str, torch.Tensor], problem: str) -> None:
    torch.save(head, tmp_path / "fc_weights.pth")
    with pytest.raises(ImportFailure, match=rf"fc_weights\.pth: not a univfd checkpoint: {problem}"):
        import_checkpoint("univfd", tmp_path / "fc_weights.pth", tmp_path / "x", backbone=released[1])


def test_a_backbone_of_another_embedding_width_names_the_backbone_and_key(released: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    wide = randomise(RefCLIP(embed=12), seed=1)
    save_file({k: v.contiguous() for k, v in wide.state_dict().items()}, str(tmp_path / "vitb.safetensors"))
    with pytest.raises(ImportFailure, match=r"vitb\.safetensors: not the backbone of this head: key 'visual\.proj' "
                                            r"has shape \[128, 12\], a 12-d image embedding, but the head in .*"
                                            r"fc_weights\.pth reads 24-d features"):
        import_checkpoint("univfd", released[0], tmp_path / "x", backbone=tmp_path / "vitb.safetensors")


def test_a_backbone_with_a_block_of_another_width_names_the_first_bad_key(reference: RefUnivFD,
                                                                          released: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    state = dict(reference.model.state_dict())
    narrow = RefBlock(64, 1).state_dict()
    state.update({f"visual.transformer.resblocks.1.{k}": v for k, v in narrow.items()})
    torch.save(state, tmp_path / "mixed.pt")
    with pytest.raises(ImportFailure, match=r"mixed\.pt: not a univfd checkpoint: key 'visual\.transformer\."
                                            r"resblocks\.1\.attn\.in_proj_bias' has shape \[192\], expected \[384\] "
                                            r"\(and 11 more\)"):
        import_checkpoint("univfd", released[0], tmp_path / "x", backbone=tmp_path / "mixed.pt")


def test_a_cnndetection_file_names_the_first_bad_key_and_its_family(released: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    keys = ["conv1.weight", "layer3.5.conv3.weight", "layer4.2.conv3.weight", "fc.weight", "fc.bias"]
    torch.save({"model": {k: torch.zeros(1) for k in keys}, "total_steps": 1}, tmp_path / "blur_jpg_prob0.5.pth")
    with pytest.raises(ImportFailure, match=r"blur_jpg_prob0\.5\.pth: not a univfd checkpoint: missing key 'bias' "
                                            r"\(and 6 more\); this looks like a CNNDetection .*'cnndetection'"):
        import_checkpoint("univfd", tmp_path / "blur_jpg_prob0.5.pth", tmp_path / "x", backbone=released[1])


def test_a_backbone_in_the_transformers_layout_says_which_files_fit(released: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    save_file({"vision_model.embeddings.patch_embedding.weight": torch.zeros(8, 3, 2, 2)},
              str(tmp_path / "model.safetensors"))
    with pytest.raises(ImportFailure, match=r"model\.safetensors: not a CLIP vision transformer in OpenAI's layout "
                                            r".*Hugging Face transformers' CLIP layout.*open_clip_model\.safetensors"):
        import_checkpoint("univfd", released[0], tmp_path / "x", backbone=tmp_path / "model.safetensors")


def test_vit_l14_geometry_is_read_as_openai_build_model_reads_it() -> None:
    # shapes only (meta tensors): the real ViT-L/14 is never built in tests
    meta = {"visual.conv1.weight": (1024, 3, 14, 14), "visual.positional_embedding": (257, 1024),
            "visual.proj": (1024, 768), **{f"visual.transformer.resblocks.{i}.attn.in_proj_weight": (3072, 1024)
                                           for i in range(24)}}
    visual = {k: torch.empty(shape, device="meta") for k, shape in meta.items()}
    assert read_geometry(visual, Path("ViT-L-14.pt")) == VIT_L14
