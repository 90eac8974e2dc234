"""Import CNNDetection's released checkpoints (``blur_jpg_prob0.1.pth``, ``blur_jpg_prob0.5.pth``).

The authors' training code saves ``{'model': state_dict, 'optimizer': ..., 'total_steps': ...}`` of a torchvision
ResNet-50 with ``fc`` = ``Linear(2048, 1)``; their ``demo.py`` and ``eval.py`` load ``state_dict['model']``
strictly and score ``sigmoid(logit)`` against 0.5. The network and the key mapping are in
:mod:`sentry_image.models.cnndetection`; this module checks the file and records where it came from.
"""

from __future__ import annotations

from pathlib import Path

from ..cnndetection import to_official
from ..families import create_detector
from .base import ImportFailure, load_official, read_state_dict, register_importer, write_imported

FAMILY = "cnndetection"
PAPER = ("Wang, Wang, Zhang, Owens, Efros: CNN-generated images are surprisingly easy to spot... for now. "
         "CVPR 2020")
SOURCE = "https://github.com/PeterWang512/CNNDetection"
LICENCE = "CC BY-NC-SA 4.0 (LICENSE.txt of the official repository: non-commercial use, share alike)"
PROTOCOLS = {
    "no-crop": "the whole image at native resolution (the authors' recommended evaluation, eval.py --no_crop, "
               "and demo.py's default)",
    "crop224": "CenterCrop(224) at native resolution, zero padding (the evaluation behind the paper's tables)",
}


@register_importer(FAMILY, paper=PAPER, source=SOURCE, licence=LICENCE, protocols=PROTOCOLS,
                   description="CNNDetection ResNet-50 (Wang et al., CVPR 2020): blur_jpg_prob0.1/0.5.pth",
                   signature=("layer3.5.conv3.weight", "layer4.2.conv3.weight"),
                   file_hint="a CNNDetection ResNet-50 (blur_jpg_prob*.pth)")
def import_cnndetection(file: Path, out: Path, *, backbone: Path | None = None, protocol: str | None = None) -> Path:
    """Check ``file`` key for key against the official ResNet-50 and write it as a checkpoint folder ``out``."""
    if backbone is not None:
        raise ImportFailure(f"{FAMILY}: takes no backbone file (the checkpoint holds the whole network)")
    protocol = protocol or next(iter(PROTOCOLS))
    state = read_state_dict(file)
    model = create_detector("cnndetection_resnet50", crop=224 if protocol == "crop224" else None)
    load_official(model, state, file, FAMILY, to_official)
    return write_imported(model, out, family=FAMILY, file=file, paper=PAPER, source=SOURCE, licence=LICENCE,
                          notes=f"test protocol {protocol}: {PROTOCOLS[protocol]}; ToTensor + ImageNet Normalize")
