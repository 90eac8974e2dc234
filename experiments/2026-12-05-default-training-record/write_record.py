"""Write ``training_images.sha256`` for the shipped default, which was trained before checkpoints recorded it.

The default's config says what it was fitted on: ``training.config.data`` (the manifest, no ``max_images`` cap),
``training_data_sha256`` (the hash of those rows) and ``split.train.groups`` (every source folder). This script
re-reads that manifest, refuses to write anything unless all three still match, checks each file's digest against
the manifest's ``sha256`` column, and writes the record beside the default's ``config.json``.

    .venv/bin/python experiments/2026-12-05-default-training-record/write_record.py [--manifest PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sentry_image.data.manifest import rows_hash
from sentry_image.data.sources import read_source
from sentry_image.data.splits import folder_key
from sentry_image.models.training_record import RECORD, image_digests, read_training_record, write_training_record

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "src" / "sentry_image" / "weights" / "default"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "manifest.csv")
    args = parser.parse_args()
    config = json.loads((DEFAULT / "config.json").read_text())
    data = config["training"]["config"]["data"]
    if data.get("max_images"):
        sys.exit(f"the default was trained on a sample (max_images={data['max_images']}): rows cannot be rebuilt")
    rows = read_source(args.manifest)
    if rows_hash(rows) != config["training_data_sha256"]:
        sys.exit(f"{args.manifest} is not the manifest the default was trained on (training_data_sha256 differs)")
    groups = sorted({folder_key(r) for r in rows})
    if groups != config["split"]["train"]["groups"]:
        sys.exit("the manifest's source folders differ from the default's split.train.groups")
    digests = image_digests(r.path for r in rows)
    listed = {r.fields.get("sha256", "") for r in rows}
    if len(digests) != len(rows) or digests != listed:
        sys.exit(f"{len(rows)} rows but {len(digests)} readable distinct files, or digests that differ from the "
                 "manifest's sha256 column")
    write_training_record(DEFAULT, digests)
    again = read_training_record(DEFAULT)
    assert again == frozenset(digests)
    print(f"{DEFAULT / RECORD}: {len(again)} images ({sum(int(r.label) for r in rows)} AI), "
          f"{(DEFAULT / RECORD).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
