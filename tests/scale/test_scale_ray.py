"""score-batch on a local Ray: one row per image, errors as rows, every input kind (a killed run: test_scale_kill)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sentry_image.data.manifest import read_manifest
from sentry_image.data.shard import write_shards
from sentry_image.scale.batch_inputs import ScaleError
from sentry_image.scale.parquet_out import parts
from sentry_image.scale.ray_batch import ScoreOptions, score_batch_run
from tests.helpers.scale_helpers import image_folder, read_rows

# One process runs these (with `-n 2 --dist loadgroup`), so the machine holds one test Ray at a time.
pytestmark = pytest.mark.xdist_group("ray")


def test_folder_gets_one_row_per_image_with_errors_as_rows_then_resume_scores_nothing(
        local_ray: Any, tiny_ckpt: Path, tmp_path: Path) -> None:
    images = image_folder(tmp_path / "in", 9, broken=2)
    out = tmp_path / "out"
    seen: list[tuple[int, int | None, int]] = []
    summary = score_batch_run(tmp_path / "in", out, ScoreOptions(model=str(tiny_ckpt), batch_size=4),
                              on_progress=lambda *a: seen.append(a))
    rows = {r["path"]: r for r in read_rows(out)}
    assert set(rows) == {str(p.absolute()) for p in images}
    broken = {p for p, r in rows.items() if r["error"] is not None}
    assert broken == {str(p.absolute()) for p in images if p.name.startswith("broken")}
    assert all(rows[p]["error"]["code"] == "not_an_image" and rows[p]["ai_probability"] is None for p in broken)
    good = [r for p, r in rows.items() if p not in broken]
    assert all(0 <= r["ai_probability"] <= 1 and r["model"] == "tiny@t1" and r["image"]["format"] == "JPEG"
               for r in good)
    assert (summary.scored, summary.skipped, summary.failed, summary.total_rows) == (11, 0, 2, 11)
    assert seen[-1] == (11, 11, 2) and len(parts(out)) == 3  # 11 images in batches of 4
    again = score_batch_run(tmp_path / "in", out, ScoreOptions(model=str(tiny_ckpt)))
    assert (again.scored, again.skipped, again.total_rows) == (0, 11, 11)


def test_a_lost_part_is_rescored_alone_and_new_images_are_added(local_ray: Any, tiny_ckpt: Path,
                                                               tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 8)
    out = tmp_path / "out"
    score_batch_run(tmp_path / "in", out, ScoreOptions(model=str(tiny_ckpt), batch_size=4))
    lost = parts(out)[0]
    lost.unlink()
    image_folder(tmp_path / "in" / "later", 3)
    summary = score_batch_run(tmp_path / "in", out, ScoreOptions(model=str(tiny_ckpt), batch_size=4))
    assert (summary.skipped, summary.scored, summary.total_rows) == (4, 7, 11)
    counts = Counter(r["path"] for r in read_rows(out))
    assert len(counts) == 11 and set(counts.values()) == {1}


def test_manifest_and_shards_are_scored_like_folders(local_ray: Any, tiny_ckpt: Path, tmp_path: Path) -> None:
    image_folder(tmp_path / "imgs", 5)
    lines = ["path,label"] + [f"imgs/{'nested/' if i % 2 else ''}img{i:04d}.jpg,real" for i in range(5)]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    options = ScoreOptions(model=str(tiny_ckpt), backend="onnx", batch_size=2, provenance=False)
    by_manifest = score_batch_run(tmp_path / "m.csv", tmp_path / "out-m", options)
    assert by_manifest.total_rows == 5 and by_manifest.failed == 0
    write_shards(read_manifest(tmp_path / "m.csv"), tmp_path / "shards", max_samples=2)
    by_shards = score_batch_run(tmp_path / "shards", tmp_path / "out-s", options)
    shard_rows = {r["path"]: r["ai_probability"] for r in read_rows(tmp_path / "out-s")}
    file_rows = {Path(r["path"]).relative_to(tmp_path).as_posix(): r["ai_probability"]
                 for r in read_rows(tmp_path / "out-m")}
    assert by_shards.total_rows == 5 and shard_rows == pytest.approx(file_rows, abs=1e-6)
    resumed = score_batch_run(tmp_path / "shards", tmp_path / "out-s", options)
    assert (resumed.scored, resumed.total_rows) == (0, 5)


def test_bad_model_or_other_models_output_fail_before_scoring(local_ray: Any, tiny_ckpt: Path,
                                                             tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 2)
    with pytest.raises(ScaleError, match="not a checkpoint"):
        score_batch_run(tmp_path / "in", tmp_path / "out", ScoreOptions(model=str(tmp_path / "nothing")))
    score_batch_run(tmp_path / "in", tmp_path / "out", ScoreOptions(model=str(tiny_ckpt)))
    with pytest.raises(ScaleError, match="another --out"):
        score_batch_run(tmp_path / "in", tmp_path / "out", ScoreOptions(model=None))
