"""Pretrained backbone weights for training: read a local weights file and load what fits a module.

Weights are never fetched when a model is built (a checkpoint holds every weight it needs, and building must work
offline); training asks for them through :meth:`~sentry_image.models.base.DetectorModel.load_pretrained`.
torch is imported when a file is read, so the model contract can name :class:`PretrainedWeightsError` cheaply.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn


class PretrainedWeightsError(RuntimeError):
    """Pretrained backbone weights could not be found locally and could not be downloaded."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local weights file; a nested ``state_dict`` / ``model`` entry is unwrapped."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    # DataParallel / DDP checkpoints prefix every name with "module."
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_matching(module: nn.Module, state: dict[str, torch.Tensor], what: str, min_share: float = 0.9) -> int:
    """Load the tensors of ``state`` whose names and shapes fit ``module``; refuse a file that mostly does not."""
    target = module.state_dict()
    fitting = {k: v for k, v in state.items() if k in target and v.shape == target[k].shape}
    if len(fitting) < min_share * len(target):
        raise PretrainedWeightsError(f"{what}: only {len(fitting)} of {len(target)} backbone tensors found in the "
                                     "weights file (wrong architecture?)")
    module.load_state_dict(fitting, strict=False)
    return len(fitting)


def offline_message(name: str, exc: Exception) -> str:
    return (f"cannot download pretrained weights for {name!r} ({type(exc).__name__}: {exc}). Offline: put the file "
            f"in the Hugging Face cache (HF_HUB_CACHE) or pass a local file with model.pretrained=/path/to/weights")


__all__ = ["PretrainedWeightsError", "load_matching", "offline_message", "read_state_dict"]
