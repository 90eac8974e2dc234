"""score-batch without Ray: what INPUT is, the Parquet parts, resume bookkeeping, and the common failures."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sentry_image.data.manifest import read_manifest
from sentry_image.data.shard import write_shards
from sentry_image.scale.batch_inputs import ScaleError, chunks, file_items, open_input, shard_samples
from sentry_image.scale.parquet_out import (
    SCHEMA,
    check_run_record,
    completed_paths,
    count_rows,
    part_name,
    parts,
    remove_temporaries,
    write_part,
)
from sentry_image.scale.ray_cluster import check_reachable, check_token_settings, refused_message, token_source
from sentry_image.scale.ray_setup import import_ray
from sentry_image.types import Verdict
from tests.helpers.scale_helpers import image_folder


def test_input_kind_is_decided_by_what_input_is(tmp_path: Path) -> None:
    image_folder(tmp_path / "imgs", 3)
    (tmp_path / "m.csv").write_text("path,label\nimgs/img0000.jpg,real\n")
    assert open_input(tmp_path / "imgs").kind == "folder"
    assert open_input(tmp_path / "m.csv").kind == "manifest"
    rows = read_manifest(tmp_path / "m.csv")
    shards = open_input(write_shards(rows, tmp_path / "shards").out)
    assert shards.kind == "shards" and shards.samples == 1 and len(shards.shards) == 1
    with pytest.raises(ScaleError, match="no such"):
        open_input(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ScaleError, match="expected a folder"):
        open_input(tmp_path / "notes.txt")


def test_names_are_absolute_so_a_resume_from_elsewhere_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image_folder(tmp_path / "imgs", 4)
    monkeypatch.chdir(tmp_path)
    names = list(file_items(open_input("imgs")))
    assert len(names) == 4 and all(isinstance(n, str) and Path(n).is_absolute() for n in names)


def test_shard_samples_are_named_by_their_recorded_path(tmp_path: Path) -> None:
    image_folder(tmp_path / "imgs", 2)
    (tmp_path / "m.csv").write_text("path,label\nimgs/img0000.jpg,real\nimgs/nested/img0001.jpg,ai\n")
    shard = write_shards(read_manifest(tmp_path / "m.csv"), tmp_path / "shards").shards[0]
    samples = list(shard_samples(shard))
    assert sorted(s["path"] for s in samples) == ["imgs/img0000.jpg", "imgs/nested/img0001.jpg"]
    assert all(s["data"][:2] == b"\xff\xd8" and s["error"] == "" for s in samples)
    shard.write_bytes(shard.read_bytes()[:700])  # cut inside the first sample
    broken = list(shard_samples(shard))
    assert broken[-1]["error"].startswith("unreadable shard")


def _row(path: str, *, failed: bool = False) -> dict[str, object]:
    if failed:
        return Verdict.failed(path, "not_an_image", "nope", model="m@1").to_dict()
    return {"path": path, "ai_probability": 0.5, "verdict": "uncertain", "threshold": 0.5, "model": "m@1",
            "signals": [{"name": "exif", "hint": "real", "evidence": "Canon", "strength": "weak"}],
            "decided_by": "model", "reasons": ["r"], "error": None,
            "image": {"format": "PNG", "width": 2, "height": 2, "mode": "RGB", "frames": 1, "bytes": 9,
                      "jpeg_quality": None, "orientation": None}}


def test_parts_keep_one_schema_and_are_named_by_their_content(tmp_path: Path) -> None:
    first = write_part(tmp_path, [_row("a"), _row("b", failed=True)])
    only_errors = write_part(tmp_path, [_row("c", failed=True)])
    assert pq.read_schema(only_errors).equals(SCHEMA) and pq.read_schema(first).equals(SCHEMA)
    assert first.name == part_name(["a", "b"])
    assert write_part(tmp_path, [_row("a"), _row("b", failed=True)]) == first  # a retried batch overwrites itself
    assert completed_paths(tmp_path) == {"a", "b", "c"}
    assert count_rows(tmp_path) == (3, 2)
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_a_broken_part_or_temporary_is_dropped_so_its_images_are_scored_again(tmp_path: Path) -> None:
    write_part(tmp_path, [_row("a")])
    bad = tmp_path / "part-0000.parquet"
    bad.write_bytes(b"PAR1 half written")
    (tmp_path / ".part-x.parquet.123.tmp").write_bytes(b"half")
    assert remove_temporaries(tmp_path) == 1
    assert completed_paths(tmp_path) == {"a"} and not bad.exists()


def test_a_part_a_killed_runs_worker_writes_after_the_resume_started_is_not_counted_twice(tmp_path: Path) -> None:
    # A killed run's actor may finish its batch after the run is restarted. The restart groups the images as the
    # first run did (same batch size, by position), so it scores that batch into the same part: overwritten once
    # more, never added beside it.
    names = [f"img{i:02d}" for i in range(24)]
    write_part(tmp_path, [_row(n) for n in names[:8]])  # what the killed run finished
    done = completed_paths(tmp_path)
    todo = list(chunks(names, 8, done))  # the restart's work, decided now
    write_part(tmp_path, [_row(n) for n in names[8:16]])  # the killed run's actor, late
    skipped = count_rows(tmp_path)[0] - 8  # as the restart counted at its start: 8 rows
    for batch in todo:
        write_part(tmp_path, [_row(n) for n in batch])
    assert todo == [names[8:16], names[16:]] and len(parts(tmp_path)) == 3
    assert count_rows(tmp_path) == (24, 0) and completed_paths(tmp_path) == set(names)
    assert (skipped, count_rows(tmp_path)[0] - 8) == (8, 16)  # the restart's summary: 8 skipped, 16 scored


def test_resuming_with_another_model_is_refused(tmp_path: Path) -> None:
    check_run_record(tmp_path, {"model": "z@9", "backend": "torch", "batch_size": 8})  # nothing scored: replaced
    check_run_record(tmp_path, {"model": "a@1", "backend": "torch", "batch_size": 4})
    write_part(tmp_path, [_row("a")])
    # The same model on onnxruntime gives the same scores; the first run's batches are kept (same part names).
    resumed = check_run_record(tmp_path, {"model": "a@1", "backend": "onnx", "batch_size": 32})
    assert resumed == {"model": "a@1", "backend": "onnx", "batch_size": 4}
    with pytest.raises(ValueError, match="another --out"):
        check_run_record(tmp_path, {"model": "b@2", "backend": "torch", "batch_size": 4})


def test_unreachable_address_and_missing_ray_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ScaleError, match=r"cannot reach a Ray cluster at '127\.0\.0\.1:1'"):
        check_reachable("127.0.0.1:1", timeout=2)
    with pytest.raises(ScaleError, match="cannot reach"):
        check_reachable("ray://127.0.0.1:1", timeout=2)
    with pytest.raises(ScaleError, match="bad Ray address"):
        check_reachable("not an address")
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the scale extra looks like
    with pytest.raises(ScaleError, match=r"sentry-image\[scale\]"):
        import_ray()


@pytest.fixture
def no_ray_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME without ~/.ray/auth_token and no Ray token setting in the environment; returns the HOME."""
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_token_settings_ray_would_abort_on_are_one_line_errors(no_ray_token: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    check_token_settings()  # no token and no token mode: nothing to check
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    home_token = no_ray_token / ".ray" / "auth_token"
    with pytest.raises(ScaleError, match=re.escape(f"RAY_AUTH_MODE=token but no token was found: put the cluster's "
                                                   f"token in {home_token} or in RAY_AUTH_TOKEN")):
        check_token_settings()
    check_token_settings(joining=False)  # a local Ray makes its own token
    empty = no_ray_token / "empty"
    empty.write_text("\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(empty))
    with pytest.raises(ScaleError, match=re.escape(f"RAY_AUTH_TOKEN_PATH names {empty}, which cannot be read")):
        check_token_settings(joining=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN", " abc \n")  # first in Ray's order, white space stripped
    check_token_settings()
    assert token_source() == ("RAY_AUTH_TOKEN", "abc")


def test_a_refused_token_names_what_to_set(no_ray_token: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "requires token authentication: set RAY_AUTH_MODE=token" in refused_message("h:6379")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    (no_ray_token / ".ray").mkdir()
    (no_ray_token / ".ray" / "auth_token").write_text("abc")
    home_token = no_ray_token / ".ray" / "auth_token"
    assert f"refused the token from {home_token}: put the cluster's token in" in refused_message("h:6379")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "abc")
    assert "refused the token from RAY_AUTH_TOKEN: set RAY_AUTH_TOKEN to the" in refused_message("h:6379")
