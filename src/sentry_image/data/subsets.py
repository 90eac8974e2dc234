"""The subsets of the published Fake2M (train) and MPBench (val) data, as data.

The dataset repository ``InfImagine/FakeImageDataset`` holds, per subset, ``ImageData/<split>/<subset>/`` with the
archive ``<subset>.tar.gz`` split into numbered parts (``.0``, ``.00`` or ``.000`` onwards, or one unsplit file) and
its labels in ``MetaData/<split>/<csv name>``. The repository README's tree disagrees with the hub in places (it
lists a ``stylegan3-80K.csv`` under ``val`` that does not exist, and ``IFv1-CC1M``'s CSV kept its old name
``IF-CC1M.csv``), so this table, checked by a test, is what the code trusts rather than names derived by rule.

Labels: the hub holds generated images only, so every image of every subset is ``Label.FAKE``; the real
counterparts (CC3M, COCO, FFHQ, AFHQ, MetFaces, ...) come from the user. The MetaData CSVs carry a label column
too, read through ``csv_labels``; for subsets whose CSV labels are known to be wrong (``Midjourneyv5-5K``: every row
says 0) ``csv_labels_trusted`` is False and ``verify`` reports the disagreement as known instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..types import Label

REPO_ID = "InfImagine/FakeImageDataset"
REPO_TYPE = "dataset"
SPLITS = ("train", "val")

# The MetaData convention: the second column is 0 for real and 1 for generated.
STANDARD_CSV_LABELS: Mapping[str, Label] = MappingProxyType({"0": Label.REAL, "1": Label.FAKE})


@dataclass(frozen=True)
class Subset:
    """One published subset.

    Attributes:
        name: folder and archive stem on the hub (``IF-CC95K``).
        split: ``train`` (Fake2M) or ``val`` (MPBench).
        generator: generator id in this project's vocabulary (as in ``../shared/data`` manifests).
        family: ``diffusion``, ``gan`` or ``autoregressive``.
        resolution: nominal side in pixels; ``None`` when it varies (StyleGAN3 and Midjourney: 512 and more).
        count: nominal number of images as published (the README's table; the CSV is the authority).
        caption_source: captions the images were generated from (``None`` for unconditional / unknown).
        csv_name: file name under ``MetaData/<split>/``.
        inner_folders: first-level folders inside the archive below the subset folder, as published.
        label: ground truth of every image of the subset.
        csv_labels: how the CSV label column maps to labels.
        csv_labels_trusted: False when the CSV's labels are known to be wrong (reported, not failed, by verify).
        note: what a user should know (quirks of the published files).
    """

    name: str
    split: str
    generator: str
    family: str
    resolution: int | None
    count: int
    caption_source: str | None
    csv_name: str
    inner_folders: tuple[str, ...] = ()
    label: Label = Label.FAKE
    csv_labels: Mapping[str, Label] = field(default_factory=lambda: STANDARD_CSV_LABELS, compare=False)
    csv_labels_trusted: bool = True
    note: str = ""

    @property
    def archive_dir(self) -> str:
        """Folder of the archive parts in the repository."""
        return f"ImageData/{self.split}/{self.name}"

    @property
    def archive_name(self) -> str:
        """Archive name before the part suffix (the whole name when the archive is not split)."""
        return f"{self.name}.tar.gz"

    @property
    def csv_path(self) -> str:
        """Path of the labels in the repository."""
        return f"MetaData/{self.split}/{self.csv_name}"

    def csv_label(self, token: str) -> Label | None:
        """The label a CSV row claims, or None for a token outside the mapping."""
        return self.csv_labels.get(token.strip())

    def as_row(self) -> dict[str, object]:
        """A flat, JSON-friendly description (for ``data subsets --json``)."""
        return {"name": self.name, "split": self.split, "generator": self.generator, "family": self.family,
                "resolution": self.resolution, "count": self.count, "caption_source": self.caption_source,
                "archive": f"{self.archive_dir}/{self.archive_name}[.N]", "csv": self.csv_path,
                "inner_folders": list(self.inner_folders), "label": self.label.name.lower(),
                "csv_labels_trusted": self.csv_labels_trusted, "note": self.note}


_STYLEGAN3 = tuple(f"stylegan3-{v}-{d}" for v in ("r", "t")
                   for d in ("afhqv2-512x512", "ffhqu-1024x1024", "metfaces-1024x1024"))

SUBSETS: tuple[Subset, ...] = (
    # Fake2M (train)
    Subset("IFv1-CC1M", "train", "deepfloyd-if-1.0", "diffusion", 256, 1_000_000, "CC3M-train", "IF-CC1M.csv",
           ("IFv1-dpmsolver++-50-1M",), note="its CSV kept the old name IF-CC1M.csv"),
    Subset("SDv15R-CC1M", "train", "sd-1.5-real", "diffusion", 512, 1_000_000, "CC3M-train", "SDv15R-CC1M.csv",
           ("SDv15R-dpmsolver-25-1M",), note="about 396 GB: the largest subset"),
    Subset("stylegan3-80K", "train", "stylegan3", "gan", None, 87_000, None, "stylegan3-80K.csv", _STYLEGAN3,
           note="the README counts 87K images; the name says 80K"),
    # MPBench (val)
    Subset("IF-CC95K", "val", "deepfloyd-if-1.0", "diffusion", 256, 95_000, "CC15K-val", "IF-CC95K.csv",
           ("IF-ddim-25-15K", "IF-ddim-50-15K", "IF-ddpm-50-15K", "IF-dpmsolver++-10-15K", "IF-dpmsolver++-25-15K",
            "IF-dpmsolver++-50-15K")),
    Subset("Midjourneyv5-5K", "val", "midjourney-v5", "diffusion", None, 5_000, None, "Midjourneyv5-5K.csv",
           csv_labels_trusted=False,
           note="one unsplit archive; every CSV row carries label 0 although all images are generated"),
    Subset("SDv15-CC30K", "val", "sd-1.5", "diffusion", 512, 30_000, "CC15K-val", "SDv15-CC30K.csv",
           ("SDv15-dpmsolver-25-15K", "SDv15R-dpmsolver-25-15K")),
    Subset("SDv21-CC15K", "val", "sd-2.1", "diffusion", 512, 15_000, "CC15K-val", "SDv21-CC15K.csv",
           ("SDv2-dpmsolver-25-10K",)),
    Subset("cogview2-22K", "val", "cogview2", "autoregressive", 480, 22_000, "CC15K-val", "cogview2-22K.csv"),
    Subset("stylegan3-60K", "val", "stylegan3", "gan", None, 60_000, None, "stylegan3-60K.csv", _STYLEGAN3),
)

_BY_NAME = {s.name: s for s in SUBSETS}


class UnknownSubsetError(ValueError):
    """A subset name that is not in the table; the message lists the known names."""


def get_subset(name: str) -> Subset:
    """The subset called ``name`` (exact, case-insensitive fallback)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    folded = {k.lower(): v for k, v in _BY_NAME.items()}
    if name.lower() in folded:
        return folded[name.lower()]
    raise UnknownSubsetError(f"unknown subset {name!r}; known subsets: {', '.join(_BY_NAME)}")


def select_subsets(names: Iterable[str] = (), split: str | None = None) -> list[Subset]:
    """Subsets chosen by name and/or split, in table order, without duplicates.

    Raises:
        UnknownSubsetError: for an unknown name; ValueError for an unknown split or an empty choice.
    """
    chosen = {get_subset(n).name for n in names}
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        chosen |= {s.name for s in SUBSETS if s.split == split}
    if not chosen:
        raise ValueError("choose at least one subset (by name or by split)")
    return [s for s in SUBSETS if s.name in chosen]
