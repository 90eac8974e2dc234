"""The detector zoo: NPR residuals, pretrained weights from local files, clear failures offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sentry_image.models import create_detector
from sentry_image.models._pretrained import PretrainedWeightsError
from sentry_image.models.npr import npr_residual


def test_npr_residual_vanishes_on_up_sampled_images_only() -> None:
    torch.manual_seed(0)
    small = torch.randn(1, 3, 8, 8)
    upsampled = torch.nn.functional.interpolate(small, scale_factor=2, mode="nearest")
    assert npr_residual(upsampled).abs().max() == 0
    assert npr_residual(torch.randn(1, 3, 16, 16)).abs().mean() > 0.1
    assert npr_residual(torch.randn(1, 3, 17, 15)).shape[-2:] == (16, 14)  # odd sizes are trimmed, not padded


@pytest.mark.parametrize(("name", "module", "prefix"), [
    ("test_timm_vit", "backbone", ""), ("test_cnnspot_tiny", "backbone", "module."),
    ("test_clip_probe_tiny", "visual", "visual."),
])
def test_pretrained_backbone_loads_from_a_local_file(name: str, module: str, prefix: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    donor = create_detector(name).eval()
    state = {prefix + k: v.contiguous() for k, v in getattr(donor, module).state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    x = torch.randn(2, 3, donor.preprocess_cfg.crop_size, donor.preprocess_cfg.crop_size)
    for path in ("w.safetensors", "w.pth"):
        torch.manual_seed(1)
        model = create_detector(name).eval()
        model.head.load_state_dict(donor.head.state_dict())  # type: ignore[union-attr, operator]
        assert not torch.allclose(model(x), donor(x))
        record = model.load_pretrained(str(tmp_path / path))
        # the record the checkpoint keeps: where the weights came from, how many tensors fitted, their licence
        assert record["source"] == str(tmp_path / path) and record["licence"]
        assert record["tensors"] == len(getattr(donor, module).state_dict())
        torch.testing.assert_close(model(x), donor(x))


def test_families_without_a_pretrained_backbone_refuse_to_load_one() -> None:
    with pytest.raises(PretrainedWeightsError, match="no pretrained backbone"):
        create_detector("test_tiny_cnn").load_pretrained("hub")


def test_wrong_or_missing_weights_are_refused(tmp_path: Path) -> None:
    model = create_detector("test_timm_vit")
    save_file({"x": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(PretrainedWeightsError, match="wrong architecture"):
        model.load_pretrained(str(tmp_path / "other.safetensors"))  # type: ignore[operator]
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        model.load_pretrained(str(tmp_path / "missing.pth"))  # type: ignore[operator]


@pytest.mark.skipif(os.environ.get("HF_HUB_OFFLINE") != "1", reason="needs HF_HUB_OFFLINE=1 (never downloads)")
@pytest.mark.parametrize("name", ["test_timm_vit", "test_clip_probe_tiny"])
def test_hub_weights_offline_fail_with_a_way_out(name: str) -> None:
    with pytest.raises(PretrainedWeightsError, match=r"model\.pretrained=/path/to"):
        create_detector(name).load_pretrained("hub")  # type: ignore[operator]


@pytest.mark.parametrize(("name", "params", "native"), [
    ("npr_resnet", 675_521, True), ("npr_resnet_small", 77_281, True), ("cnnspot_resnet50", 23_510_081, True),
    ("timm_convnext_t", 27_820_897, False),
])
def test_full_size_variants_build_offline_with_their_preprocessing(name: str, params: int, native: bool) -> None:
    model = create_detector(name)
    assert sum(p.numel() for p in model.parameters()) == params
    assert (model.preprocess_cfg.resize_short is None) == native  # forensic models never resample
