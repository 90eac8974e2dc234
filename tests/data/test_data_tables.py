"""The subsets table and the MetaData CSV reader: the published facts and quirks, as data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentry_image.cli.data import data_app
from sentry_image.data.metadata import MetadataError, normalise_path, read_metadata_csv
from sentry_image.data.subsets import SUBSETS, UnknownSubsetError, get_subset, select_subsets
from sentry_image.types import Label
from tests.helpers.data_helpers import SPECS

TRAIN = {"IFv1-CC1M", "SDv15R-CC1M", "stylegan3-80K"}
VAL = {"IF-CC95K", "Midjourneyv5-5K", "SDv15-CC30K", "SDv21-CC15K", "cogview2-22K", "stylegan3-60K"}


def test_the_table_holds_exactly_the_published_subsets() -> None:
    assert {s.name for s in SUBSETS if s.split == "train"} == TRAIN
    assert {s.name for s in SUBSETS if s.split == "val"} == VAL
    assert len({s.name for s in SUBSETS}) == len(SUBSETS)


def test_paths_follow_the_hub_layout_with_its_quirks() -> None:
    for s in SUBSETS:
        assert s.archive_dir == f"ImageData/{s.split}/{s.name}"
        assert s.csv_path.startswith(f"MetaData/{s.split}/") and s.csv_path.endswith(".csv")
        assert s.family in {"diffusion", "gan", "autoregressive"} and s.generator and s.count > 0
        assert s.label is Label.FAKE  # the hub holds generated images only
    assert get_subset("IFv1-CC1M").csv_path == "MetaData/train/IF-CC1M.csv"
    # the README lists a val stylegan3-80K.csv that the hub does not have
    assert all(s.csv_path != "MetaData/val/stylegan3-80K.csv" for s in SUBSETS)
    assert get_subset("IF-CC95K").inner_folders[0] == "IF-ddim-25-15K"


def test_label_trust_is_per_subset_data() -> None:
    mj = get_subset("Midjourneyv5-5K")
    assert not mj.csv_labels_trusted and mj.csv_label("0") is Label.REAL
    assert all(s.csv_labels_trusted for s in SUBSETS if s is not mj)
    assert get_subset("SDv15-CC30K").csv_label("1") is Label.FAKE


def test_the_test_miniature_matches_the_table() -> None:
    for spec in SPECS:
        s = get_subset(spec.name)
        assert (s.split, s.csv_name) == (spec.split, spec.csv_name)
        assert set(spec.folders) - {""} <= set(s.inner_folders)


def test_selection_by_name_and_split() -> None:
    assert [s.name for s in select_subsets(["cogview2-22K", "if-cc95k"])] == ["IF-CC95K", "cogview2-22K"]
    assert {s.name for s in select_subsets(split="train")} == TRAIN
    with pytest.raises(UnknownSubsetError, match="known subsets: IFv1-CC1M"):
        select_subsets(["Imagen"])
    with pytest.raises(ValueError, match="unknown split"):
        select_subsets(split="test")


def test_cli_subsets_lists_the_table() -> None:
    out = CliRunner().invoke(data_app, ["subsets", "--json", "--split", "val"])
    assert out.exit_code == 0
    assert {r["name"] for r in json.loads(out.stdout)} == VAL


@pytest.mark.parametrize(("text", "schema"), [
    ("IF-CC95K/a/000.png 1\nIF-CC95K/a/001.png 1\n", "path-label"),
    ("path,label\nIF-CC95K/a/000.png,1\nIF-CC95K/a/001.png,1\n", "header"),
    ("path label\nIF-CC95K/a/000.png 1\n\nIF-CC95K/a/001.png 1\n", "header"),
    ("a dir/with space.png 1\nb.png 1\n", "path-label"),
])
def test_csv_schemas_are_detected(tmp_path: Path, text: str, schema: str) -> None:
    (tmp_path / "m.csv").write_text(text)
    meta = read_metadata_csv(tmp_path / "m.csv")
    assert meta.schema == schema and len(meta.rows) == 2 and all(r.label == "1" for r in meta.rows)


def test_bad_rows_and_unknown_schemas_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("a.png 1\nb.png 1\nlonely\nc.png 0\n")
    with pytest.raises(MetadataError, match=r"m\.csv:3: expected 'path label'"):
        read_metadata_csv(tmp_path / "m.csv")
    lenient = read_metadata_csv(tmp_path / "m.csv", strict=False)
    assert len(lenient.rows) == 3 and lenient.errors == [f"{tmp_path / 'm.csv'}:3: expected 'path label', got 'lonely'"]
    (tmp_path / "w.csv").write_text("a b c d\n")
    with pytest.raises(MetadataError, match=r"w\.csv:1: unknown schema"):
        read_metadata_csv(tmp_path / "w.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(MetadataError, match="not a text file"):
        read_metadata_csv(tmp_path / "bin.csv")


@pytest.mark.parametrize("written", ["IF-CC95K/IF-ddim-25-15K/1.png", "IF-ddim-25-15K/1.png",
                                     "./ImageData/val/IF-CC95K/IF-ddim-25-15K/1.png", "/IF-CC95K/IF-ddim-25-15K/1.png"])
def test_csv_paths_normalise_below_the_subset_folder(written: str) -> None:
    assert normalise_path(written, "IF-CC95K", "val") == "IF-ddim-25-15K/1.png"
