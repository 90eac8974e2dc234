"""Import FreqNet's released checkpoint (``4-classes-freqnet.pth``, trained on ProGAN car/cat/chair/horse).

The authors' ``test.py`` builds ``freqnet()`` and loads the file with ``load_state_dict(torch.load(path),
strict=True)``: a plain state dict (their training script's ``{'model': state_dict, ...}`` is unwrapped too). It
scores ``sigmoid(logit)`` against 0.5. The network and the key mapping are in
:mod:`sentry_image.models.freqnet`; this module checks the file and records where it came from.

Of the candidate families whose official inference is a single network on the image, FreqNet is the one
reproduced here: LGrad scores gradients of a pretrained StyleGAN discriminator that its pipeline first saves as
8-bit images, and DIRE scores the reconstruction error of a DDIM inversion by a diffusion model, so neither is one
network applied to the image.
"""

from __future__ import annotations

from pathlib import Path

from ..families import create_detector
from ..freqnet import to_official
from .base import ImportFailure, load_official, read_state_dict, register_importer, write_imported

FAMILY = "freqnet"
PAPER = ("Tan, Zhao, Wei, Gu, Liu, Wei: Frequency-Aware Deepfake Detection: Improving Generalizability through "
         "Frequency Space Learning. AAAI 2024")
SOURCE = "https://github.com/chuangchuangtan/FreqNet-DeepfakeDetection"
LICENCE = ("none stated: the official repository has no licence file, so its code and weights remain all rights "
           "reserved by the authors; ask them before redistributing")
PROTOCOLS = {
    "resize256": "Resize((256, 256)), bilinear, of the whole image, no crop (test.py on ForenSynths, the paper's "
                 "main table)",
    "native": "the whole image at native resolution, no resize, no crop (test.py on GANGen-Detection); runs on the "
              "torch backend only",
}


@register_importer(FAMILY, paper=PAPER, source=SOURCE, licence=LICENCE, protocols=PROTOCOLS,
                   description="FreqNet (Tan et al., AAAI 2024): 4-classes-freqnet.pth",
                   signature=("weight1", "realconv1.weight", "imagconv4.weight", "fc1.weight"),
                   file_hint="a FreqNet checkpoint (4-classes-freqnet.pth)")
def import_freqnet(file: Path, out: Path, *, backbone: Path | None = None, protocol: str | None = None) -> Path:
    """Check ``file`` key for key against the official FreqNet and write it as a checkpoint folder ``out``."""
    if backbone is not None:
        raise ImportFailure(f"{FAMILY}: takes no backbone file (the checkpoint holds the whole network)")
    protocol = protocol or next(iter(PROTOCOLS))
    state = read_state_dict(file)
    model = create_detector(FAMILY, resize=None if protocol == "native" else 256)
    load_official(model, state, file, FAMILY, to_official)
    return write_imported(model, out, family=FAMILY, file=file, paper=PAPER, source=SOURCE, licence=LICENCE,
                          notes=f"test protocol {protocol}: {PROTOCOLS[protocol]}; ToTensor + ImageNet Normalize")


__all__ = ["import_freqnet"]
