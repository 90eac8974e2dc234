"""Deterministic splits by a hash of a group key: a group (source) never spans two splits.

Images of one source share content and processing, so splitting image by image leaks both into the test split.
Here every group is placed by the SHA-256 of ``seed:group`` alone (never by file order), stratified by label so
that each split receives both classes when the groups allow it. A :class:`Split` carries its role
(``train`` / ``calibration`` / ``test``) so that functions such as calibration can refuse the wrong one.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..types import Label
from .manifest import ManifestRow

log = logging.getLogger(__name__)

ROLES = ("train", "calibration", "test")
DEFAULT_FRACTIONS: Mapping[str, float] = {"train": 0.6, "calibration": 0.2, "test": 0.2}


@dataclass(frozen=True)
class Split:
    """Rows of one split, tagged with their role.

    Attributes:
        role: ``train``, ``calibration`` or ``test``.
        rows: the rows, in manifest order.
        groups: the group keys placed in this split.
        description: how the split was made (stored with checkpoints and reports).
    """

    role: str
    rows: tuple[ManifestRow, ...]
    groups: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown split role {self.role!r}; expected one of {ROLES}")

    def __len__(self) -> int:
        return len(self.rows)

    def label_counts(self) -> dict[int, int]:
        """Number of rows per label value."""
        counts: dict[int, int] = defaultdict(int)
        for r in self.rows:
            counts[int(r.label)] += 1
        return dict(sorted(counts.items()))


def folder_key(row: ManifestRow) -> str:
    """Default group key: the source folder (``real/<folder>/...``), coarser and safer than the file source."""
    return row.folder


def group_hash(group: str, seed: int = 0) -> int:
    """Stable 64-bit hash of a group key (independent of Python's per-process hash salt)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{group}".encode()).digest()[:8], "big")


def split_by_group(rows: Sequence[ManifestRow], *, fractions: Mapping[str, float] | None = None,
                   key: Callable[[ManifestRow], str] = folder_key, seed: int = 0) -> dict[str, Split]:
    """Split ``rows`` into the roles of ``fractions`` (default 60/20/20 train/calibration/test) by group.

    Groups of each majority label are visited in hash order and each goes to the role furthest below its
    target share of that label's images; the first groups seed every role, so each role gets both classes
    whenever a label has at least as many groups as there are roles. The result depends only on the set of
    rows, ``key`` and ``seed``.
    """
    fractions = dict(fractions or DEFAULT_FRACTIONS)
    if any(role not in ROLES for role in fractions) or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"fractions must use roles {ROLES} and sum to 1, got {fractions}")
    roles = [r for r in ROLES if fractions.get(r, 0) > 0]
    members: dict[str, list[ManifestRow]] = defaultdict(list)
    for row in rows:
        members[key(row)].append(row)
    by_label: dict[int, list[str]] = defaultdict(list)
    for group, grows in members.items():
        labels = [int(r.label) for r in grows]
        by_label[max(set(labels), key=labels.count)].append(group)
    placed: dict[str, str] = {}
    for _label, groups in sorted(by_label.items()):
        groups.sort(key=lambda g: (group_hash(g, seed), g))
        total = sum(len(members[g]) for g in groups)
        filled = dict.fromkeys(roles, 0)
        # smallest roles first, so that a scarce label still reaches the calibration and test splits
        seed_order = sorted(roles, key=lambda r: (fractions[r], ROLES.index(r)))
        for i, group in enumerate(groups):
            if i < len(seed_order):
                role = seed_order[i]
            else:
                role = max(roles, key=lambda r: (fractions[r] * total - filled[r], -ROLES.index(r)))
            placed[group] = role
            filled[role] += len(members[group])
    desc = (f"grouped by {getattr(key, '__name__', 'key')}, sha256(seed={seed}:group) order, label-stratified, "
            f"fractions {fractions}")
    return {
        role: Split(role, tuple(r for r in rows if placed[key(r)] == role),
                    tuple(sorted(g for g, pr in placed.items() if pr == role)), desc)
        for role in roles
    }


#: hash buckets a label's sources are cut into when it has fewer sources than the split has roles
BUCKETS = 20


def make_splits(rows: Sequence[ManifestRow], fractions: Sequence[float], seed: int) -> dict[str, Split]:
    """Source-grouped train / calibration / test splits (roles with a zero share are left out).

    A label with fewer source groups than roles cannot reach every role whole: the Fake2M SD-V1.5 recipe trains on
    one generated subset (one folder of independent generations) against a folder of photos. Such a label's
    groups are cut into :data:`BUCKETS` hash buckets of the file path (logged), so every role still gets both
    classes; labels with enough sources keep them whole.
    """
    if len(fractions) != 3:
        raise ValueError(f"data.fractions needs three shares (train, calibration, test), got {list(fractions)}")
    shares = {role: float(f) for role, f in zip(("train", "calibration", "test"), fractions, strict=True) if f > 0}
    groups: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        groups[int(row.label)].add(folder_key(row))
    thin = {label for label, g in groups.items() if len(g) < len(shares)}
    if not thin:
        return split_by_group(rows, fractions=shares, seed=seed)
    for label in sorted(thin):
        log.warning("data: the %s images come from %d source group(s), fewer than the %d roles: each source is cut "
                    "into %d hash buckets of its files, so images of one source appear in several roles",
                    "ai" if label == int(Label.FAKE) else "real", len(groups[label]), len(shares), BUCKETS)

    def folder_key_bucketed(row: ManifestRow) -> str:
        if int(row.label) not in thin:
            return folder_key(row)
        bucket = int.from_bytes(hashlib.sha256(row.rel_path.encode()).digest()[:4], "big") % BUCKETS
        return f"{folder_key(row)}#{bucket:02d}"

    return split_by_group(rows, fractions=shares, seed=seed, key=folder_key_bucketed)


def group_folds(rows: Sequence[ManifestRow], k: int, seed: int = 0,
                key: Callable[[ManifestRow], str] = folder_key) -> NDArray[np.int64]:
    """A fold index in ``[0, k)`` per row such that a group never spans two folds, for cross-fitting.

    Within each label, groups go largest first to the fold holding the fewest images of that label (ties by
    ``sha256(seed:group)``), so folds stay balanced even when one source is much larger than the rest.
    """
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    members: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        members.setdefault(key(row), []).append(i)
    fold = np.zeros(len(rows), dtype=np.int64)
    for label in sorted({int(r.label) for r in rows}):
        groups = [g for g, idx in members.items() if Counter(int(rows[i].label) for i in idx).most_common(1)[0][0]
                  == label]
        filled = [0] * k
        for g in sorted(groups, key=lambda g: (-len(members[g]), group_hash(g, seed), g)):
            target = min(range(k), key=lambda f: (filled[f], f))
            fold[members[g]] = target
            filled[target] += len(members[g])
    return fold


__all__ = ["DEFAULT_FRACTIONS", "ROLES", "Split", "folder_key", "group_folds", "group_hash", "make_splits",
           "split_by_group"]
