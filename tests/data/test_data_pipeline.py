"""The user's path, through the CLI: fetch -> extract -> verify -> scan -> split -> shard -> gallery, and loading."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from sentry_image.cli.data import data_app
from sentry_image.data.datasets import ManifestDataset, ShardDataset
from sentry_image.data.manifest import read_manifest
from sentry_image.data.preprocess import PreprocessConfig
from sentry_image.data.shard import read_shard
from tests.helpers.data_helpers import HubServer, MiniDataset, noise_bytes

runner = CliRunner()
SUBSETS = ["IF-CC95K", "Midjourneyv5-5K", "SDv15-CC30K"]


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(data_app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture(scope="module")
def root(mini: MiniDataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three val subsets fetched from the loopback hub and extracted with the CLI (shared, read-only)."""
    root = tmp_path_factory.mktemp("fake2m")
    from huggingface_hub import constants

    with HubServer(mini.root) as hub, pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_OFFLINE", False)  # module scope: runs before the autouse fixture
        run("fetch", *[a for s in SUBSETS for a in ("--subset", s)], "--to", str(root), "--endpoint", hub.url)
    out = run("extract", "--split", "val", "--root", str(root))  # the fetched ones of the split
    assert "skipping subsets not fetched: SDv21-CC15K, cogview2-22K, stylegan3-60K" in out
    assert "error" not in run("extract", "--subset", "IF-CC95K", "--root", str(root))
    assert "unknown split 'test'" in run("extract", "--split", "test", "--root", str(root), code=2)
    assert "not found" in run("extract", "--subset", "cogview2-22K", "--root", str(root), code=2)
    yield root


def test_extract_lays_out_every_member_and_a_rerun_skips_them(root: Path, mini: MiniDataset) -> None:
    for s in SUBSETS:
        base = root / "extracted" / "val" / s / s
        got = {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}
        assert got == mini.members[s]
    out = run("extract", "--subset", "IF-CC95K", "--root", str(root))
    assert "0 files written, 6 already extracted" in out
    out = run("verify", "--split", "val", "--root", str(root))
    assert "skipping subsets not extracted: SDv21-CC15K" in out and "subset SDv15-CC30K: ok" in out


def test_verify_passes_and_reports_the_known_wrong_labels(root: Path, tmp_path: Path) -> None:
    out = run("verify", *[a for s in SUBSETS for a in ("--subset", s)], "--root", str(root),
              "--report", str(tmp_path / "r.json"))
    assert "known: label_disagreements: 4" in out  # Midjourneyv5-5K's CSV says 0 on every row
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] is True
    by = {r["kind"]: r for r in report["reports"]}
    assert by["subset IF-CC95K"]["images"] == by["subset IF-CC95K"]["decoded"] == 6
    assert by["subset Midjourneyv5-5K"]["findings"]["label_disagreements"]["fails"] is False


def test_verify_finds_broken_missing_duplicate_and_mislabelled(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "fake2m"
    shutil.copytree(root / "extracted" / "val" / "SDv15-CC30K", copy / "extracted" / "val" / "SDv15-CC30K")
    shutil.copytree(root / "MetaData", copy / "MetaData")
    base = copy / "extracted" / "val" / "SDv15-CC30K" / "SDv15-CC30K"
    files = sorted(base.rglob("*.png"))
    files[0].write_bytes(files[0].read_bytes()[:200])  # truncated image
    files[1].unlink()  # listed but missing
    shutil.copy(files[2], base / "SDv15R-dpmsolver-25-15K" / "copy.png")  # duplicate, and not in the CSV
    csv_path = copy / "MetaData" / "val" / "SDv15-CC30K.csv"
    lines = csv_path.read_text().splitlines()
    lines[3] = lines[3][:-1] + "0"  # a generated image labelled real
    lines.append("broken-row-without-label")
    csv_path.write_text("\n".join(lines) + "\n")
    out = run("verify", "--subset", "SDv15-CC30K", "--root", str(copy), "--report", str(tmp_path / "r.json"),
              code=1)
    findings = json.loads((tmp_path / "r.json").read_text())["reports"][0]["findings"]
    counts = {k: v["count"] for k, v in findings.items() if v["count"]}
    assert counts == {"undecodable": 1, "missing_files": 1, "duplicates": 1, "unlisted_files": 1,
                      "label_disagreements": 1, "csv_bad_rows": 1}
    assert "SDv15-CC30K.csv:4:" in findings["label_disagreements"]["examples"][0]
    assert f"SDv15-CC30K.csv:{len(lines)}: expected 'path label'" in out.replace("\n", "")


def test_scan_split_shard_gallery_and_the_torch_datasets(root: Path, tmp_path: Path) -> None:
    # the user's own real photos beside the generated subsets, labelled by an explicit map
    real = root / "extracted" / "real-photos"
    if not real.exists():
        for i, src in enumerate(("coco", "ffhq")):
            for j in range(3):
                (real / src).mkdir(parents=True, exist_ok=True)
                (real / src / f"{j}.jpg").write_bytes(noise_bytes(100 + 10 * i + j, "JPEG", (48, 40)))
    folder = root / "extracted"
    manifest = tmp_path / "manifest.csv"
    out = run("scan", str(folder), "--label", "real=real-photos,ai=val/*", "--out", str(manifest))
    assert "20 images (6 real, 14 ai)" in out
    rows = list(csv.DictReader(manifest.open()))
    assert {r["source"] for r in rows} == {"coco", "ffhq", "IF-ddim-25-15K", "IF-dpmsolver++-10-15K",
                                           "Midjourneyv5-5K", "SDv15-dpmsolver-25-15K", "SDv15R-dpmsolver-25-15K"}
    # generated files inside a published subset get its generator from the table; the label stays the user's
    mj = next(r for r in rows if r["subset"] == "Midjourneyv5-5K")
    assert (mj["label"], mj["generator"], mj["family"]) == ("ai", "midjourney-v5", "diffusion")
    jpeg = next(r for r in rows if r["source"] == "coco")
    assert (jpeg["format"], jpeg["width"], jpeg["height"], jpeg["jpeg_quality"]) == ("JPEG", "48", "40", "90")
    assert all(len(r["sha256"]) == 64 for r in rows)

    split = tmp_path / "split.csv"
    run("split", str(manifest), "--out", str(split), "--by", "source")
    again = tmp_path / "again" / "split.csv"
    run("split", str(manifest), "--out", str(again), "--by", "source")
    first = {r["sha256"]: (r["split"], r["source"]) for r in csv.DictReader(split.open())}
    assert first == {r["sha256"]: (r["split"], r["source"]) for r in csv.DictReader(again.open())}
    by_source: dict[str, set[str]] = {}
    for s, src in first.values():
        by_source.setdefault(src, set()).add(s)
    assert all(len(v) == 1 for v in by_source.values())  # a source never spans two splits
    assert len(read_manifest(again)) == 20  # paths rebased to the new manifest's folder

    shards = tmp_path / "shards"
    run("shard", str(split), "--out", str(shards), "--max-samples", "8")
    index = json.loads((shards / "index.json").read_text())
    assert [s["samples"] for s in index["shards"]] == [8, 8, 4]
    run("shard", str(split), "--out", str(tmp_path / "shards2"), "--max-samples", "8")
    assert (shards / "shard-000000.tar").read_bytes() == (tmp_path / "shards2" / "shard-000000.tar").read_bytes()
    samples = [s for p in sorted(shards.glob("*.tar")) for s in read_shard(p)]
    originals = {r.fields["sha256"]: r.path.read_bytes() for r in read_manifest(split)}
    import hashlib
    assert {hashlib.sha256(b).hexdigest() for b, _ in samples} == set(originals)  # bytes stored as they were

    cfg = PreprocessConfig(crop_size=32)
    ds = ShardDataset(shards, cfg, shuffle=True, buffer=4, seed=1)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2)
    labels = torch.cat([y for _, y in loader])
    assert len(labels) == 20 and int(labels.sum()) == 14  # each sample once across both workers
    x, y = ManifestDataset(split, cfg)[0]
    assert x.shape == (1, 3, 32, 32) and y in (0, 1)

    gallery = tmp_path / "gallery"
    out = run("gallery", str(split), "--out", str(gallery), "--per-group", "4")
    page = (gallery / "index.html").read_text()
    assert "IF-ddim-25-15K" in page and "<script" not in page
    sheet = Image.open(gallery / "coco.png")
    assert sheet.width > 100 and np.asarray(sheet).std() > 10


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    assert "give PATH, --subset NAME" in run("extract", code=2)
    assert "bad label" in run("scan", str(tmp_path), "--label", "maybe=x", "--out", str(tmp_path / "m.csv"), code=2)
    (tmp_path / "m.csv").write_text("path,label\na.png,unsure\n")
    assert "m.csv:2: unknown label" in run("shard", str(tmp_path / "m.csv"), "--out", str(tmp_path / "s"),
                                           code=2).replace("\n", "")


def test_a_corrupt_fetched_part_is_named_from_the_hub_checksums(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "fake2m"
    shutil.copytree(root / "ImageData" / "val" / "SDv15-CC30K", copy / "ImageData" / "val" / "SDv15-CC30K")
    shutil.copy(root / ".sentry-fetch.json", copy)
    part = copy / "ImageData" / "val" / "SDv15-CC30K" / "SDv15-CC30K.tar.gz.2"
    data = bytearray(part.read_bytes())
    data[50:300] = bytes(250)  # inside stored deflate blocks: the gzip stream itself would not notice here
    part.write_bytes(bytes(data))
    out = run("extract", "--subset", "SDv15-CC30K", "--root", str(copy), code=1)
    assert "SDv15-CC30K.tar.gz.2: sha256 differs from the hub's listing" in out
