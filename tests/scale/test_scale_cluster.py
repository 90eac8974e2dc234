"""score-batch on a real Ray cluster with token authentication, as README's "On a cluster" sets one up.

One head node on loopback (``ray start --head`` with ``RAY_AUTH_MODE=token`` and the token in ``~/.ray/auth_token``
of a temporary HOME, Ray's files in a temporary folder), started once for these tests. It is stopped by killing
the session it was started in, not by ``ray stop``: that stops every Ray on the machine, other runs' included.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.scale_helpers import image_folder, read_rows
from tests.scale.processes import kill_all, score_batch

pytestmark = pytest.mark.xdist_group("ray")  # one test Ray at a time on the machine, as in test_scale_ray

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")
START_TIMEOUT_S = 300.0  # bounds a failing start only (a loaded machine starts Ray slowly)


@dataclass
class Cluster:
    address: str
    home: Path  # a HOME whose ~/.ray/auth_token holds the cluster's token

    def env(self, **extra: str) -> dict[str, str]:
        """A client's environment: this HOME (so ~/.ray/auth_token is the cluster's token) and ``extra``."""
        return {**{k: v for k, v in os.environ.items() if k not in AUTH_VARS}, "HOME": str(self.home), **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A one-node Ray cluster on loopback with token authentication on; stopped, whatever happens, at the end."""
    home = tmp_path_factory.mktemp("home")
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))  # what `ray get-auth-token --generate` does
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Unix socket paths are limited to 107 bytes
    port = _free_port()
    log = tmp_path_factory.mktemp("cluster") / "ray-start.txt"
    cluster = Cluster(f"127.0.0.1:{port}", home)
    ray = str(Path(sys.executable).with_name("ray"))
    # Every port it would take by default a second Ray on this machine could hold: free ones instead.
    cmd = [ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", f"--temp-dir={folder}",
           "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
           f"--dashboard-agent-listen-port={_free_port()}"]
    with log.open("wb") as out:
        # Its own session: the head's processes (and the workers they start) are then exactly that session.
        start = subprocess.Popen(cmd, env=cluster.env(RAY_AUTH_MODE="token"), start_new_session=True,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        assert start.wait(timeout=START_TIMEOUT_S) == 0, log.read_text()
        yield cluster
    finally:
        if start.poll() is None:
            start.kill()
            start.wait()
        kill_all(set(), session=start.pid, grace=2.0)
        shutil.rmtree(folder, ignore_errors=True)


def _run(args: list[str], err: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run score-batch to its end; its exit code and its non-blank stderr lines."""
    with score_batch(args, err, env) as run:
        code = run.proc.wait(timeout=START_TIMEOUT_S)
    return code, [line for line in err.read_text().splitlines() if line.strip()]


def test_score_batch_joins_a_token_cluster_scores_and_resumes(token_cluster: Cluster, tiny_ckpt: Path,
                                                              tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 6)
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_ckpt), "--batch-size", "4",
            "--address", token_cluster.address]
    env = token_cluster.env(RAY_AUTH_MODE="token")  # the token itself: ~/.ray/auth_token, as on a node
    code, err = _run(args, tmp_path / "first.txt", env)
    assert code == 0, err
    assert Counter(Counter(r["path"] for r in read_rows(out)).values()) == {1: 6}
    image_folder(tmp_path / "in" / "later", 2)  # the second run joins again for these two only
    code, err = _run(args, tmp_path / "second.txt", env)
    assert code == 0, err
    assert any(line.startswith(f"2 scored this run (6 were already in {out})") for line in err), err
    assert Counter(Counter(r["path"] for r in read_rows(out)).values()) == {1: 8}


def test_a_missing_or_wrong_token_is_one_line_saying_what_to_set(token_cluster: Cluster, tiny_ckpt: Path,
                                                                 tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 1)
    args = [str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model", str(tiny_ckpt),
            "--address", token_cluster.address]
    address = repr(token_cluster.address)
    cases = {
        # The token is there, but Ray sends none to a given address unless told to: README's failure.
        "no-mode": (token_cluster.env(),
                    f"error: the Ray cluster at {address} requires token authentication: set RAY_AUTH_MODE=token"),
        "wrong": (token_cluster.env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64),
                  f"error: the Ray cluster at {address} refused the token from RAY_AUTH_TOKEN: set RAY_AUTH_TOKEN to"),
        "none": ({**token_cluster.env(RAY_AUTH_MODE="token"), "HOME": str(tmp_path)},
                 f"error: RAY_AUTH_MODE=token but no token was found: put the cluster's token in "
                 f"{tmp_path / '.ray' / 'auth_token'} or in RAY_AUTH_TOKEN"),
    }
    for name, (env, expected) in cases.items():
        code, err = _run(args, tmp_path / f"{name}.txt", env)
        assert (code, len(err)) == (2, 1) and err[0].startswith(expected), (name, err)
