"""Fetching through the real huggingface_hub client from a loopback server playing the hub."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentry_image.cli.data import data_app
from sentry_image.data.hub import FetchError, fetch
from sentry_image.data.subsets import select_subsets
from tests.helpers.data_helpers import COMMIT, HubServer, MiniDataset

VAL2 = ["IF-CC95K", "Midjourneyv5-5K"]


def _same_files(mini: MiniDataset, to: Path, prefix: str) -> None:
    want = {p.relative_to(mini.root).as_posix(): p.read_bytes() for p in (mini.root / prefix).rglob("*")
            if p.is_file()}
    got = {p.relative_to(to).as_posix(): p.read_bytes() for p in (to / prefix).rglob("*") if p.is_file()}
    assert got == want


def test_fetch_downloads_only_the_chosen_subsets_at_one_commit(hub: HubServer, mini: MiniDataset,
                                                               tmp_path: Path) -> None:
    result = fetch(select_subsets(VAL2), tmp_path, endpoint=hub.url)
    assert result.commit == COMMIT
    for name in VAL2:
        _same_files(mini, tmp_path, f"ImageData/val/{name}")
    assert sorted(p.name for p in (tmp_path / "MetaData" / "val").iterdir()) == sorted(f"{n}.csv" for n in VAL2)
    assert not (tmp_path / "ImageData" / "val" / "SDv15-CC30K").exists()
    # every file was asked for at the pinned commit, never at the moving branch
    resolves = [p for m, p, _ in hub.requests if "/resolve/" in p]
    assert resolves and all(f"/resolve/{COMMIT}/" in p for p in resolves)
    state = json.loads((tmp_path / ".sentry-fetch.json").read_text())
    assert state["commit"] == COMMIT and state["subsets"] == sorted(VAL2)


def test_train_subset_uses_its_renamed_csv(hub: HubServer, tmp_path: Path) -> None:
    fetch(select_subsets(["IFv1-CC1M"]), tmp_path, endpoint=hub.url)
    assert (tmp_path / "MetaData" / "train" / "IF-CC1M.csv").is_file()
    assert len(list((tmp_path / "ImageData" / "train" / "IFv1-CC1M").iterdir())) == 2


def test_an_interrupted_download_resumes_with_a_range_request(hub: HubServer, mini: MiniDataset,
                                                              tmp_path: Path) -> None:
    rel = "ImageData/val/Midjourneyv5-5K/Midjourneyv5-5K.tar.gz"
    data = (mini.root / rel).read_bytes()
    partial = tmp_path / (rel + ".incomplete")  # what a killed run leaves behind
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:1000])
    result = fetch(select_subsets(["Midjourneyv5-5K"]), tmp_path, endpoint=hub.url)
    assert (tmp_path / rel).read_bytes() == data and not partial.exists()
    csv_size = (mini.root / "MetaData/val/Midjourneyv5-5K.csv").stat().st_size
    assert result.bytes_downloaded == len(data) - 1000 + csv_size
    assert [r for m, p, r in hub.requests if m == "GET" and p.startswith("/cdn/")] == ["bytes=1000-"]


def test_a_dropped_connection_is_resumed_within_the_run(hub: HubServer, mini: MiniDataset, tmp_path: Path) -> None:
    rel = "ImageData/val/Midjourneyv5-5K/Midjourneyv5-5K.tar.gz"
    hub.cut_after[rel] = 500
    fetch(select_subsets(["Midjourneyv5-5K"]), tmp_path, endpoint=hub.url)
    assert (tmp_path / rel).read_bytes() == (mini.root / rel).read_bytes()
    assert len([p for m, p, _ in hub.requests if m == "GET" and p.startswith("/cdn/")]) == 2  # retried


def test_a_second_run_downloads_nothing(hub: HubServer, tmp_path: Path) -> None:
    fetch(select_subsets(["Midjourneyv5-5K"]), tmp_path, endpoint=hub.url)
    hub.requests.clear()
    result = fetch(select_subsets(["Midjourneyv5-5K"]), tmp_path, endpoint=hub.url)
    assert result.downloaded == [] and len(result.present) == 2
    assert not [p for m, p, _ in hub.requests if m == "GET" and ("/cdn/" in p or "/resolve/" in p)]


def test_a_partial_file_of_other_content_is_caught_by_the_hub_checksum(hub: HubServer, mini: MiniDataset,
                                                                       tmp_path: Path) -> None:
    rel = "ImageData/val/Midjourneyv5-5K/Midjourneyv5-5K.tar.gz"
    partial = tmp_path / (rel + ".incomplete")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\0" * 1000)
    with pytest.raises(FetchError, match="sha256 differs"):
        fetch(select_subsets(["Midjourneyv5-5K"]), tmp_path, endpoint=hub.url)
    assert not partial.exists()
    fetch(select_subsets(["Midjourneyv5-5K"]), tmp_path, endpoint=hub.url)  # and the rerun repairs it
    assert hashlib.sha256((tmp_path / rel).read_bytes()).digest() == \
        hashlib.sha256((mini.root / rel).read_bytes()).digest()


@pytest.mark.parametrize(("kwargs", "override", "message"), [
    ({"revision": "v9"}, None, "revision not found"),
    ({"repo_id": "someone/private"}, None, "401 unauthorized"),
    ({}, "IF-CC95K.tar.gz.03", "404 not found"),
])
def test_hub_errors_become_one_clear_line(hub: HubServer, tmp_path: Path, kwargs: dict[str, str],
                                          override: str | None, message: str) -> None:
    if override:
        hub.overrides[override] = 404
    with pytest.raises(FetchError, match=message) as info:
        fetch(select_subsets(["IF-CC95K"]), tmp_path, endpoint=hub.url, **kwargs)
    assert "\n" not in str(info.value)


def test_no_network_is_named(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"cannot reach http://127\.0\.0\.1:9.*no network"):
        fetch(select_subsets(["IF-CC95K"]), tmp_path, endpoint="http://127.0.0.1:9")


def test_no_disk_space_is_named_before_downloading(hub: HubServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10))
    with pytest.raises(FetchError, match="not enough disk space"):
        fetch(select_subsets(["IF-CC95K"]), tmp_path, endpoint=hub.url)
    assert not list((tmp_path / "ImageData").rglob("*.tar.gz*"))


def test_cli_fetch_exit_codes(hub: HubServer, tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(data_app, ["fetch", "--subset", "cogview2-22K", "--to", str(tmp_path),
                                  "--endpoint", hub.url])
    assert ok.exit_code == 0, ok.output
    assert len(list((tmp_path / "ImageData" / "val" / "cogview2-22K").iterdir())) == 3
    unknown = runner.invoke(data_app, ["fetch", "--subset", "Imagen-1K", "--to", str(tmp_path)])
    assert unknown.exit_code == 2 and "unknown subset 'Imagen-1K'" in unknown.output
    offline = runner.invoke(data_app, ["fetch", "--split", "val", "--to", str(tmp_path),
                                       "--endpoint", "http://127.0.0.1:9"])
    assert offline.exit_code == 1 and "cannot reach" in offline.output and "Traceback" not in offline.output


def test_a_second_concurrent_fetch_of_a_file_stops_instead_of_interleaving(hub: HubServer, tmp_path: Path) -> None:
    import hashlib as h

    from filelock import FileLock

    rel = "ImageData/val/Midjourneyv5-5K/Midjourneyv5-5K.tar.gz"
    (tmp_path / ".sentry-fetch-locks").mkdir()
    with FileLock(tmp_path / ".sentry-fetch-locks" / (h.sha1(rel.encode()).hexdigest() + ".lock")), \
            pytest.raises(FetchError, match="another fetch is downloading this file"):
        fetch(select_subsets(["Midjourneyv5-5K"]), tmp_path, endpoint=hub.url)
