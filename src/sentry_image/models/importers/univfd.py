"""Import UnivFD's released head (``pretrained_weights/fc_weights.pth``) onto OpenAI CLIP's image encoder.

The authors release only their linear layer, ``{'weight': [1, 768], 'bias': [1]}`` (``validate.py`` loads it into
``model.fc``); the backbone is OpenAI's CLIP ViT-L/14, which their code fetches with the ``clip`` package. So an
import reads two files: the head, and the backbone from ``backbone`` -- OpenAI's TorchScript ``ViT-L-14.pt``, or
open_clip's file of the same weights (``open_clip_model.safetensors`` / ``open_clip_pytorch_model.bin``, which keep
OpenAI's key names) -- or, when none is given, open_clip's file in the Hugging Face cache (never downloaded here).
The encoder's geometry is read from its tensors as OpenAI's ``build_model`` reads it.
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path

import torch

from ..families import create_detector
from ..univfd import VIT_L14
from .base import ImportFailure, check_keys, read_state_dict, register_importer, sha256, write_imported

log = logging.getLogger(__name__)

FAMILY = "univfd"
PAPER = ("Ojha, Li, Lee: Towards Universal Fake Image Detectors that Generalize Across Generative Models. "
         "CVPR 2023")
SOURCE = "https://github.com/WisconsinAIVision/UniversalFakeDetect"
LICENCE = ("MIT (LICENSE of the official repository, code and fc_weights.pth); the CLIP ViT-L/14 backbone is "
           "OpenAI's, released with the MIT-licensed github.com/openai/CLIP")
#: where open_clip keeps OpenAI's ViT-L/14 (its pretrained.py: ``hf_hub="timm/vit_large_patch14_clip_224.openai/"``),
#: in the order open_clip looks for the files
HUB_REPO = "timm/vit_large_patch14_clip_224.openai"
HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
FETCH = f"hf download {HUB_REPO} {HUB_FILES[0]}"
PREFIX = "visual."


def cached_backbone() -> Path | None:
    """open_clip's OpenAI ViT-L/14 weights in the Hugging Face cache, if there (a cache lookup: no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in HUB_FILES:
        found = try_to_load_from_cache(HUB_REPO, name)
        if isinstance(found, str):  # otherwise None, or a marker that the file is known not to exist
            return Path(found)
    return None


def find_backbone(backbone: Path | None, file: Path) -> Path:
    """``backbone`` when given, else the cached open_clip file; :class:`ImportFailure` saying what to fetch."""
    found = backbone or cached_backbone()
    if found is None:
        raise ImportFailure(f"{file}: UnivFD's head runs on OpenAI CLIP ViT-L/14, which is neither given as a backbone "
                            f"nor in the Hugging Face cache: fetch it with `{FETCH}` (or pass OpenAI's ViT-L-14.pt)")
    return found


def _is_torchscript(path: Path) -> bool:
    # torch.jit.save archives hold the model's code; torch.save archives hold data.pkl and tensors only
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.endswith("constants.pkl") for name in archive.namelist())


def read_encoder(path: Path) -> dict[str, torch.Tensor]:
    """The ``visual.*`` tensors of a CLIP checkpoint, as float32 (OpenAI's archive is float16, which their
    ``clip.load`` turns to float32 on the CPU too), text tower dropped."""
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated, but it is the format OpenAI released
                warnings.simplefilter("ignore", FutureWarning)
                state = dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        except Exception as exc:  # TorchScript raises many types for a damaged archive
            raise ImportFailure(f"{path}: unreadable TorchScript archive ({type(exc).__name__}: {exc})") from None
    else:
        state = read_state_dict(path)
    if "conv1.weight" in state and "proj" in state:  # an image encoder saved on its own
        state = {PREFIX + k: v for k, v in state.items()}
    visual = {k: v.float() for k, v in state.items() if k.startswith(PREFIX)}
    if f"{PREFIX}proj" not in visual:
        layout = ("Hugging Face transformers' CLIP" if any(k.startswith("vision_model.") for k in state)
                  else "timm's" if "patch_embed.proj.weight" in state else "an unknown")
        raise ImportFailure(f"{path}: not a CLIP vision transformer in OpenAI's layout (missing key "
                            f"'{PREFIX}proj'; the keys are in {layout} layout); pass OpenAI's ViT-L-14.pt or "
                            f"open_clip's {HUB_FILES[0]} from {HUB_REPO}")
    return visual


def read_geometry(visual: dict[str, torch.Tensor], path: Path) -> dict[str, int]:
    """Width, depth, patch, input size and embedding size of an encoder, as OpenAI's ``build_model`` infers them."""
    for key in ("conv1.weight", "positional_embedding"):
        if PREFIX + key not in visual:
            raise ImportFailure(f"{path}: not a CLIP vision transformer: missing key '{PREFIX}{key}'")
    conv, pos, proj = visual[f"{PREFIX}conv1.weight"], visual[f"{PREFIX}positional_embedding"], visual[f"{PREFIX}proj"]
    grid = round((pos.shape[0] - 1) ** 0.5)
    if conv.ndim != 4 or pos.ndim != 2 or proj.ndim != 2 or grid * grid + 1 != pos.shape[0]:
        raise ImportFailure(f"{path}: not a CLIP vision transformer: key '{PREFIX}positional_embedding' has shape "
                            f"{list(pos.shape)}, expected [grid * grid + 1, width]")
    layers = sum(1 for k in visual if k.endswith(".attn.in_proj_weight"))
    return {"width": int(conv.shape[0]), "layers": layers, "patch_size": int(conv.shape[-1]),
            "image_size": int(conv.shape[-1]) * grid, "embed_dim": int(proj.shape[1])}


def read_head(file: Path) -> dict[str, torch.Tensor]:
    """``fc_weights.pth``: exactly ``weight [1, D]`` and ``bias [1]`` (``D`` is checked against the backbone)."""
    head = read_state_dict(file)
    weight = head.get("weight")
    dim = int(weight.shape[-1]) if weight is not None and weight.ndim == 2 else VIT_L14["embed_dim"]
    check_keys(head, {"weight": torch.empty(1, dim), "bias": torch.empty(1)}, file, FAMILY)
    return head


@register_importer(FAMILY, paper=PAPER, source=SOURCE, licence=LICENCE, signature=("weight", "bias"),
                   file_hint="UnivFD's fc_weights.pth (a bare linear head)",
                   description="UnivFD (Ojha et al., CVPR 2023): fc_weights.pth on OpenAI CLIP ViT-L/14 (--backbone)")
def import_univfd(file: Path, out: Path, *, backbone: Path | None = None) -> Path:
    """Check the head and the encoder against each other and OpenAI's layout, and write them as folder ``out``."""
    head = read_head(file)
    source = find_backbone(backbone, file)
    visual = read_encoder(source)
    geometry = read_geometry(visual, source)
    if geometry["embed_dim"] != head["weight"].shape[1]:
        raise ImportFailure(f"{source}: not the backbone of this head: key '{PREFIX}proj' has shape "
                            f"{list(visual[PREFIX + 'proj'].shape)}, a {geometry['embed_dim']}-d image embedding, "
                            f"but the head in {file} reads {head['weight'].shape[1]}-d features (the released head "
                            "needs OpenAI CLIP ViT-L/14)")
    model = create_detector("univfd_vitl14", **geometry)
    own = model.state_dict()
    check_keys(visual, {k: v for k, v in own.items() if k.startswith(PREFIX)}, source, FAMILY)
    model.load_state_dict({**visual, "head.weight": head["weight"].float(), "head.bias": head["bias"].float()},
                          strict=True)
    if geometry != VIT_L14:
        log.warning("%s: a %s encoder, not the ViT-L/14 the released UnivFD head was trained on", source, geometry)
    notes = (f"backbone {source.name} (sha256 {sha256(source)}), encoder {geometry}; test transform of validate.py: "
             f"CenterCrop({geometry['image_size']}) at native resolution (zero padding), ToTensor, CLIP Normalize")
    return write_imported(model, out, family=FAMILY, file=file, paper=PAPER, source=SOURCE, licence=LICENCE,
                          notes=notes)


__all__ = ["FETCH", "HUB_FILES", "HUB_REPO", "cached_backbone", "find_backbone", "import_univfd", "read_encoder",
           "read_geometry", "read_head"]
