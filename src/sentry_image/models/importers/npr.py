"""Import NPR's released checkpoint (``NPR.pth``).

The authors' ``test.py`` loads the file as a plain state dict, strictly, into their truncated ResNet-50 (``conv1``,
``bn1``, ``layer1``, ``layer2``, ``fc1``) and scores ``sigmoid(logit)`` against 0.5. Checkpoints their training
script writes also hold an ``fc`` (``Linear(2048, 1)``) that the trainer attaches and the forward never uses; it
is dropped here, and the config says so. The network and the key mapping are in
:mod:`sentry_image.models.npr_official`.
"""

from __future__ import annotations

from pathlib import Path

from ..families import create_detector
from ..npr_official import to_official
from .base import ImportFailure, load_official, read_state_dict, register_importer, write_imported

FAMILY = "npr"
PAPER = ("Tan, Liu, Zhao, Wei, Gu, Liu, Wei: Rethinking the Up-Sampling Operations in CNN-based Generative "
         "Network for Generalizable Deepfake Detection. CVPR 2024")
SOURCE = "https://github.com/chuangchuangtan/NPR-DeepfakeDetection"
LICENCE = ("none stated: the official repository has no licence file (all rights reserved by default); it "
           "borrows from CNNDetection, which is CC BY-NC-SA 4.0")
PROTOCOLS = {
    "native": "the whole image at native resolution, no crop (test.py's GANGen-Detection protocol; resizing "
              "would blur the up-sampling traces NPR measures)",
    "resize256": "Resize((256, 256)) then no crop (test.py's ForenSynths, DiffusionForensics and "
                 "UniversalFakeDetect protocols, resized so that images of different sizes batch together)",
}
#: the head the authors' trainer attaches (``model.fc = nn.Linear(2048, 1)``) and the forward never reads
UNUSED_HEAD = {"fc.weight": (1, 2048), "fc.bias": (1,)}


@register_importer(FAMILY, paper=PAPER, source=SOURCE, licence=LICENCE, protocols=PROTOCOLS,
                   description="NPR (Tan et al., CVPR 2024): NPR.pth, half a ResNet-50 on up-sampling residuals",
                   signature=("fc1.weight", "layer2.3.conv3.weight"), file_hint="an NPR checkpoint (NPR.pth)")
def import_npr(file: Path, out: Path, *, backbone: Path | None = None, protocol: str | None = None) -> Path:
    """Check ``file`` key for key against the official NPR network and write it as a checkpoint folder ``out``."""
    if backbone is not None:
        raise ImportFailure(f"{FAMILY}: takes no backbone file (the checkpoint holds the whole network)")
    protocol = protocol or next(iter(PROTOCOLS))
    state = read_state_dict(file)
    dropped = [k for k, shape in UNUSED_HEAD.items() if k in state and tuple(state[k].shape) == shape]
    state = {k: v for k, v in state.items() if k not in dropped}
    model = create_detector("npr_official", resize=256 if protocol == "resize256" else None)
    load_official(model, state, file, FAMILY, to_official)
    notes = [f"test protocol {protocol}: {PROTOCOLS[protocol]}; ImageNet Normalize",
             "odd image sides lose their last row/column before the NPR residual (the official forward needs even "
             "sides; the authors' commented-out lines crop the same way)"]
    if dropped:
        notes.append(f"dropped {', '.join(dropped)}: the trainer's unused Linear(2048, 1) head")
    return write_imported(model, out, family=FAMILY, file=file, paper=PAPER, source=SOURCE, licence=LICENCE,
                          notes="; ".join(notes))
