"""Any folder and the project's own manifest: scan labels, verify facts, shards and datasets, gallery pages."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from sentry_image.cli.data import data_app
from sentry_image.data.datasets import ManifestDataset, ShardDataset
from sentry_image.data.degrade import jpeg
from sentry_image.data.gallery import build_gallery
from sentry_image.data.manifest import read_manifest
from sentry_image.data.preprocess import PreprocessConfig
from sentry_image.data.scan import LabelSpecError, match_path, parse_label_spec, save_manifest, scan_folder
from sentry_image.data.shard import ShardError, write_shards
from sentry_image.data.verify import verify_manifest
from sentry_image.types import Label
from tests.helpers.data_helpers import noise_bytes
from tests.helpers.paths import SHARED


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for i, rel in enumerate(["real/cam1/a.jpg", "real/cam2/b.jpg", "gen/sd/c.png", "gen/mj/d.png",
                             "gen/mj/e.png", "misc/f.png"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(noise_bytes(i, "JPEG" if rel.endswith("jpg") else "PNG"))
    (root / "gen" / "mj" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def test_labels_come_from_the_explicit_map_only(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    result = scan_folder(root, labels=parse_label_spec(["real=real", "ai=gen/*"]))
    got = {r["path"]: (r["label"], r["source"]) for r in result.rows}
    assert got == {"real/cam1/a.jpg": (Label.REAL, "cam1"), "real/cam2/b.jpg": (Label.REAL, "cam2"),
                   "gen/sd/c.png": (Label.FAKE, "sd"), "gen/mj/d.png": (Label.FAKE, "mj"),
                   "gen/mj/e.png": (Label.FAKE, "mj")}
    assert result.unlabelled == ["misc/f.png"]
    assert result.errors == [{"path": "gen/mj/broken.png", "error": result.errors[0]["error"]}]
    assert result.errors[0]["error"].startswith(("truncated", "not_an_image"))
    manifest = save_manifest(result, tmp_path / "elsewhere" / "m.csv")
    assert [r.path.resolve() for r in read_manifest(manifest)] == [(root / p).resolve() for p in got]


def test_a_file_claimed_by_both_labels_is_an_error() -> None:
    with pytest.raises(LabelSpecError, match="claimed by both labels"):
        match_path("gen/sd/x.png", parse_label_spec("ai=gen,real=gen/sd"))
    with pytest.raises(LabelSpecError, match="expected LABEL=FOLDER"):
        parse_label_spec("real")


def test_the_projects_manifest_verifies_against_its_files(tmp_path: Path) -> None:
    if not (SHARED / "manifest.csv").exists():
        pytest.skip("../shared/data is not present")
    with (SHARED / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    picked = [r for i, r in enumerate(rows) if i % 40 == 0]  # a spread of sources, real and ai, kept small
    for r in picked:
        r["path"] = str(SHARED / r["path"])
    bad = dict(picked[1], sha256="0" * 64)
    with (tmp_path / "m.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([*picked, bad])
    report = verify_manifest(tmp_path / "m.csv")
    assert report.decoded == report.images == len(picked) + 1
    counts = {k: f.count for k, f in report.findings.items() if f.count}
    assert counts == {"recorded_facts_differ": 1, "duplicates": 1, "repeated_rows": 1}
    out = CliRunner().invoke(data_app, ["gallery", str(tmp_path / "m.csv"), "--out", str(tmp_path / "g"),
                                        "--per-group", "2"])
    assert out.exit_code == 0, out.output
    assert len(list((tmp_path / "g").glob("*.png"))) == len({r["generator"] for r in picked})  # one per generator


def test_shard_dataset_spreads_shards_and_reshuffles_per_epoch(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    (root / "gen" / "mj" / "broken.png").unlink()
    manifest = save_manifest(scan_folder(root, labels=parse_label_spec("real=real,ai=gen,real=misc")),
                             tmp_path / "m.csv")
    rows = read_manifest(manifest)
    write_shards(rows, tmp_path / "s", max_samples=2, seed=3)
    cfg = PreprocessConfig(crop_size=16)
    ds = ShardDataset(tmp_path / "s", cfg, shuffle=True, seed=0, with_meta=True)
    first = [m["path"] for _, _, m in ds]
    ds.set_epoch(1)
    second = [m["path"] for _, _, m in ds]
    assert sorted(first) == sorted(second) == sorted(r.rel_path for r in rows) and first != second
    x, y = ManifestDataset(rows, cfg, transform=lambda im: jpeg(im, 50))[0]
    assert x.shape == (1, 3, 16, 16) and x.dtype == torch.float32 and y == int(rows[0].label)
    (root / "real" / "cam1" / "a.jpg").unlink()
    with pytest.raises(ShardError, match=r"photos/real/cam1/a\.jpg \(manifest line 6\): cannot read"):
        write_shards(rows, tmp_path / "s2", seed=None)
    assert not list((tmp_path / "s2").glob("*.tar.tmp"))


def test_gallery_escapes_names_and_shows_failures(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    root.mkdir()
    (root / "<img src=x onerror=alert(1)>.png").write_bytes(noise_bytes(1))
    (root / "bad.png").write_bytes(b"nope")
    (tmp_path / "m.csv").write_text("path,label,source,generator\n"
                                    "imgs/<img src=x onerror=alert(1)>.png,ai,<b>src</b>,gen\n"
                                    "imgs/bad.png,real,<b>src</b>,camera\n")
    result = build_gallery(read_manifest(tmp_path / "m.csv"), tmp_path / "g", by="source")
    page = (tmp_path / "g" / "index.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page and "<b>src" not in page
    assert result.failed == 1 and [p.name for p in result.sheets.values()] == ["b_src_b.png"]


def test_recorded_size_may_be_the_stored_one_of_a_rotated_photo(tmp_path: Path) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: displayed 32x48 for stored 48x32
    Image.frombytes("RGB", (48, 32), noise_bytes(3, "PNG")[:48 * 32 * 3].ljust(48 * 32 * 3, b"\0")).save(
        tmp_path / "r.jpg", exif=exif)
    (tmp_path / "m.csv").write_text("path,label,width,height\nr.jpg,real,48,32\nr.jpg,real,40,32\n")
    report = verify_manifest(tmp_path / "m.csv")
    bad = report.findings["recorded_facts_differ"]
    assert bad.count == 1 and "line 3: r.jpg: size is 32x48, the manifest says 40x32" in bad.examples[0]


def test_split_warns_when_the_group_key_is_per_image(tmp_path: Path) -> None:
    rows = "".join(f"real/cam{i % 2}/{i}.png,{'real' if i % 2 else 'ai'},url-{i}\n" for i in range(24))
    (tmp_path / "m.csv").write_text("path,label,source\n" + rows)
    runner = CliRunner()
    out = runner.invoke(data_app, ["split", str(tmp_path / "m.csv"), "--out", str(tmp_path / "s.csv")])
    assert out.exit_code == 0 and "24 source groups for 24 images: the key looks per-image" in out.output
    out = runner.invoke(data_app, ["split", str(tmp_path / "m.csv"), "--by", "folder", "--out",
                                   str(tmp_path / "s.csv")])
    assert out.exit_code == 0 and "per-image" not in out.output
    roles: dict[str, set[str]] = {}
    for r in csv.DictReader((tmp_path / "s.csv").open()):
        roles.setdefault(r["path"].split("/")[1], set()).add(r["split"])
    assert {k: len(v) for k, v in roles.items()} == {"cam0": 1, "cam1": 1}  # a folder never spans two splits
