"""``sentry-image serve`` as a user runs it: a real process, real HTTP on loopback, settings from the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.helpers.builders import image_bytes, noise_image
from tests.helpers.serve_helpers import ADMIN, free_port


def test_serve_command_starts_the_service(tiny_model: Path, pool_manifest: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SENTRY_ADMIN_TOKEN": ADMIN, "SENTRY_SURVEY_POOL": str(pool_manifest),
           "SENTRY_DATA_DIR": str(tmp_path / "data"), "SENTRY_SURVEY_LENGTH": "4"}
    cmd = [sys.executable, "-m", "sentry_image.cli", "serve", "--port", str(port), "--model", str(tiny_model),
           "--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                health = httpx2.get(base + "/api/v1/health", timeout=2)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
        assert health.json()["model"] == "tiny@t1" and health.json()["database"] == "ok"
        verdict = httpx2.post(base + "/api/v1/detect", files={"file": ("a.png", image_bytes(noise_image()))}).json()
        assert verdict["verdicts"][0]["error"] is None
        assert httpx2.post(base + "/api/v1/survey/sessions").json()["item_count"] == 4  # SENTRY_* were read
        assert httpx2.get(base + "/api/v1/survey/totals", headers={"X-Admin-Token": ADMIN}).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0 and "Uvicorn running on" in output
    assert (tmp_path / "cli.db").is_file()


def test_serve_command_names_a_missing_checkpoint_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "sentry_image.cli", "serve", "--model", str(tmp_path / "none"),
                             "--port", str(free_port())], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    said = " ".join(result.stderr.split())  # Rich wraps long messages at the terminal width
    assert result.returncode == 2 and "not a checkpoint folder" in said and "Traceback" not in said
