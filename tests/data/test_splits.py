"""Splits: deterministic, a group never spans two splits, both classes in every split when possible."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry_image.data.manifest import ManifestRow
from sentry_image.data.splits import Split, group_folds, make_splits, split_by_group
from sentry_image.types import Label

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)


def _rows(n_groups: int = 12, per_group: int = 5) -> list[ManifestRow]:
    rows = []
    for g in range(n_groups):
        label = Label.FAKE if g % 3 == 0 else Label.REAL
        kind = "ai" if label else "real"
        for i in range(per_group + g % 4):
            rel = f"{kind}/src{g}/img{i}.png"
            rows.append(ManifestRow(path=Path(rel), rel_path=rel, label=label, source=f"s{g}-{i}"))
    return rows


def test_groups_never_span_splits_and_all_rows_are_placed() -> None:
    rows = _rows()
    splits = split_by_group(rows)
    seen: dict[str, str] = {}
    for role, part in splits.items():
        for r in part.rows:
            assert seen.setdefault(r.folder, role) == role
    assert sum(len(p) for p in splits.values()) == len(rows)
    for part in splits.values():
        assert set(part.label_counts()) == {0, 1}


def test_split_is_deterministic_and_independent_of_row_order() -> None:
    rows = _rows()
    a = split_by_group(rows, seed=3)
    b = split_by_group(list(reversed(rows)), seed=3)
    assert {k: set(v.groups) for k, v in a.items()} == {k: set(v.groups) for k, v in b.items()}
    c = split_by_group(rows, seed=4)
    assert {k: set(v.groups) for k, v in a.items()} != {k: set(v.groups) for k, v in c.items()}


def test_custom_key_and_fractions() -> None:
    rows = _rows()
    splits = split_by_group(rows, key=lambda r: r.source, fractions={"train": 0.5, "test": 0.5})
    assert set(splits) == {"train", "test"}
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_group(rows, fractions={"train": 0.5, "test": 0.6})
    with pytest.raises(ValueError, match="unknown split role"):
        Split("validation", (), ())


def test_make_splits_takes_train_calibration_test_shares_and_drops_empty_roles() -> None:
    rows = _rows()
    three = make_splits(rows, [0.6, 0.2, 0.2], 0)
    assert list(three) == ["train", "calibration", "test"]
    assert {k: v.groups for k, v in three.items()} == {
        k: v.groups for k, v in split_by_group(rows, fractions={"train": 0.6, "calibration": 0.2, "test": 0.2},
                                               seed=0).items()}
    two = make_splits(rows, [0.8, 0.2, 0.0], 0)  # no test share: no test split at all, not an empty one
    assert set(two) == {"train", "calibration"} and sum(len(v) for v in two.values()) == len(rows)
    with pytest.raises(ValueError, match="three shares"):
        make_splits(rows, [0.5, 0.5], 0)


def test_group_folds_keep_groups_whole_balance_sizes_and_do_not_depend_on_order() -> None:
    rows = _rows(n_groups=12, per_group=5) + [ManifestRow(path=Path(f"real/big/{i}.jpg"), rel_path=f"real/big/{i}.jpg",
                                                          label=Label.REAL) for i in range(30)]
    fold = group_folds(rows, 3)
    by_group: dict[str, set[int]] = {}
    for row, f in zip(rows, fold, strict=True):
        by_group.setdefault(row.folder, set()).add(int(f))
    assert all(len(f) == 1 for f in by_group.values())  # a source never spans two folds
    assert sorted(set(fold.tolist())) == [0, 1, 2]
    big = int(fold[-1])  # the 30-image folder fills one fold: the other real groups go to the other two first
    real_other = [int(f) for r, f in zip(rows[:-30], fold[:-30], strict=True) if r.label == Label.REAL]
    assert real_other.count(big) < real_other.count((big + 1) % 3)
    shuffled = list(reversed(rows))
    again = dict(zip([r.rel_path for r in shuffled], group_folds(shuffled, 3).tolist(), strict=True))
    assert [again[r.rel_path] for r in rows] == fold.tolist()
    with pytest.raises(ValueError, match="at least 2"):
        group_folds(rows, 1)


def test_a_label_with_one_source_is_bucketed_so_every_role_gets_both_classes(caplog: pytest.LogCaptureFixture) -> None:
    """The Fake2M SD-V1.5 recipe: one generated subset folder against photos of several sources."""
    fakes = [ManifestRow(path=Path(f"SDv15R-CC1M/SDv15R-dpmsolver-25-1M/{i}.png"),
                         rel_path=f"SDv15R-CC1M/SDv15R-dpmsolver-25-1M/{i}.png", label=Label.FAKE) for i in range(60)]
    reals = [r for r in _rows() if r.label == Label.REAL]
    with caplog.at_level("WARNING", logger="sentry_image.data.splits"):
        splits = make_splits(fakes + reals, [0.6, 0.2, 0.2], 0)
    for role, split in splits.items():
        assert {int(r.label) for r in split.rows} == {0, 1}, role
    assert sum(len(s) for s in splits.values()) == len(fakes) + len(reals)
    assert "ai images come from 1 source group(s)" in caplog.text
    # the real sources were enough: they stay whole, each in one role
    real_groups = [g for s in splits.values() for g in s.groups if not g.startswith("SDv15R")]
    assert len(real_groups) == len(set(real_groups)) and not any("#" in g for g in real_groups)
    again = make_splits(list(reversed(fakes + reals)), [0.6, 0.2, 0.2], 0)  # the buckets do not depend on order
    assert {k: {r.rel_path for r in v.rows} for k, v in again.items()} == {
        k: {r.rel_path for r in v.rows} for k, v in splits.items()}
