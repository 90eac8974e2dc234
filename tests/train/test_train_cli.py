"""``sentry-image train`` as a user sees it: what it will do first, one summary line last, a folder it may not
write refused before any work, and errors that are one line from one process under DDP."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentry_image.cli import app
from sentry_image.config import ConfigError
from sentry_image.train.launch import worker_env
from sentry_image.train.outdir import OutMode, out_mode


def _args(manifest: Path, out: Path, *extra: str) -> list[str]:
    return ["train", f"data.manifest={manifest}", f"out={out}", "model.args={width: 4}", "optim.batch_size=8", *extra]


def _digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()


def test_out_modes(tmp_path: Path) -> None:
    assert out_mode(tmp_path / "new", overwrite=False, resumable=True) is OutMode.fresh
    (tmp_path / "empty").mkdir()
    assert out_mode(tmp_path / "empty", overwrite=False, resumable=True) is OutMode.fresh
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "train_state.pt").write_bytes(b"state")
    assert out_mode(killed, overwrite=False, resumable=True) is OutMode.resume
    with pytest.raises(ConfigError, match="no unfinished run to resume"):
        out_mode(killed, overwrite=False, resumable=False)  # resume: false, or a fusion run
    (killed / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"already holds a trained checkpoint .*--overwrite"):
        out_mode(killed, overwrite=False, resumable=True)
    assert out_mode(killed, overwrite=True, resumable=True) is OutMode.overwrite
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="a file, not a folder"):
        out_mode(tmp_path / "file", overwrite=True, resumable=True)


def test_says_what_it_does_then_one_summary_line(tiny_manifest: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, _args(tiny_manifest, tmp_path / "run"))
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("training test_tiny_cnn (from scratch) on ") and "held out by source folder" in lines[0]
    assert lines[0].endswith(f"-> {tmp_path / 'run'}")
    assert lines[-1].startswith("trained test_tiny_cnn@1 in ") and "AUC" in lines[-1]
    assert lines[-1].endswith(f"checkpoint: {tmp_path / 'run'}")


def test_a_finished_checkpoint_is_never_replaced_unless_asked(tiny_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(app, _args(tiny_manifest, out)).exit_code == 0
    before = _digest(out)
    again = runner.invoke(app, _args(tiny_manifest, out))
    assert again.exit_code == 2 and again.output.count("\n") == 1, again.output
    assert "already holds a trained checkpoint" in again.output and "--overwrite" in again.output
    assert _digest(out) == before
    forced = runner.invoke(app, [*_args(tiny_manifest, out, "optim.epochs=2"), "--overwrite"])
    assert forced.exit_code == 0, forced.output
    assert "resuming" not in forced.output and _digest(out) != before


def test_a_folder_of_other_files_is_refused(tiny_manifest: Path, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    result = CliRunner().invoke(app, _args(tiny_manifest, tmp_path / "notes"))
    assert result.exit_code == 2 and "is not empty (todo.txt)" in result.output
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["todo.txt"]


def test_workers_get_what_torchrun_would_give_them() -> None:
    env = worker_env(1, 2, 29555, base={"PATH": "/bin"})
    assert (env["RANK"], env["LOCAL_RANK"], env["WORLD_SIZE"], env["MASTER_PORT"]) == ("1", "1", "2", "29555")
    assert env["MASTER_ADDR"] == "127.0.0.1" and int(env["OMP_NUM_THREADS"]) >= 1
    assert worker_env(0, 2, 1, base={"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"  # the user's choice stays


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=240)


def test_missing_data_is_one_line_before_any_process_starts(tmp_path: Path) -> None:
    done = _cli("-m", "sentry_image.cli", "train", f"data.manifest={tmp_path / 'nothing.csv'}",
                f"out={tmp_path / 'run'}", "--nproc-per-node", "2")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "data.manifest" in done.stderr


@pytest.mark.slow
def test_under_torchrun_only_rank_0_reports_a_data_error(tmp_path: Path) -> None:
    """torchrun adds its own failure report after the processes exit; the processes' own error is one line."""
    done = _cli("-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "sentry_image.cli",
                "train", f"data.manifest={tmp_path / 'nothing.csv'}", f"out={tmp_path / 'run'}")
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(ours) == 1 and "data.manifest" in ours[0], done.stderr[-3000:]
    assert "on rank 0" not in done.stderr  # rank 1's copy of the same error stays silent


@pytest.mark.slow
def test_two_processes_on_this_machine_train_without_torchrun(tiny_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    done = _cli("-m", "sentry_image.cli", *_args(tiny_manifest, out, "calibration.enabled=false"),
                "--nproc-per-node", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("training test_tiny_cnn") == 1 and ", 2 processes" in done.stderr
    assert (out / "model.safetensors").is_file() and done.stderr.count("checkpoint: ") == 1


def test_without_a_terminal_a_long_stage_says_how_far_it_got(tiny_manifest: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sentry_image.cli.train.HEARTBEAT_S", 0.0)  # every stage is "long"
    result = CliRunner().invoke(app, _args(tiny_manifest, tmp_path / "run"))
    assert result.exit_code == 0, result.output
    beats = [line for line in result.output.splitlines() if line.startswith("epoch 1/1: ") and "/s" in line]
    assert beats and all(re.match(r"epoch 1/1: \d+/\d+ \(\d+\.\d/s", b) for b in beats), result.output
