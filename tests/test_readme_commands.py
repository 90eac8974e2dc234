"""README.md as a contract: every command of its ``bash`` blocks runs, in order, in a folder laid out like a fresh
clone with ``../shared`` beside it (:mod:`tests.helpers.readme_commands`), and says what it says it does.

:data:`PLAN` is the one table of how each command is held to that: run as written; run with the overrides it
names appended (and why); only its last step run; or not runnable here, with the reason (printed, and in the
test id) and whatever static check still applies. A README command missing from the table, or a table entry no
longer in README, fails :func:`test_every_readme_command_is_planned`, so README cannot drift. Nothing is skipped.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers.paths import ROOT
from tests.helpers.readme_commands import Clone, Record, Runner, free_port, readme_commands

COMMANDS = readme_commands((ROOT / "README.md").read_text())
TIMEOUT_S = 300  # one command; a hang fails instead of holding CI


@dataclass(frozen=True)
class Plan:
    """How one README command is held to what it says.

    Attributes:
        how: ``run`` (as written), ``overrides`` (``extra`` appended), ``last-step`` (only what follows the
            last ``&&``), ``serve`` (started on a free port, asked for ``/`` and ``/api/v1/health``, stopped), or
            ``not-runnable``.
        extra: what is appended (``overrides``).
        why: the reason for anything but ``run``.
        writes: paths below the clone that must exist afterwards ("-" : the command's stdout must not be empty).
        rewrites: committed paths the command is told to replace (``--overwrite``).
        tag: why it is not runnable, in a word or three of the test id.
        broken: the command fails for a reason in code this test does not hold: why, naming the code (the test
            is then a strict xfail, so a fix makes it fail until this is emptied).
    """

    how: str
    extra: str = ""
    why: str = ""
    writes: tuple[str, ...] = ()
    rewrites: tuple[str, ...] = ()
    tag: str = ""
    broken: str = ""


PIP = Plan("not-runnable", why="installs from PyPI into .venv: CI's full install (.ci/run) holds every extra; the "
                               "extras it names are checked to exist", tag="pypi-install")
SLICE = "data.manifest=slice/manifest.csv"
TINY_PROBE = ("model.name=test_efficientnet_lite_tiny model.pretrained=null model.args.crop_size=64 "
              "model.args.resize_short=72 augment.views=1")
TINY_NPR = f"{SLICE} model.args.width=8 model.args.crop_size=32 optim.batch_size=8"
TINY_CNN = "model.config=../detectors/test_tiny_cnn.yaml optim.epochs=1 optim.batch_size=8"
TINY_FUSION = [SLICE, "folds=2", *(f"semantic.{o}" for o in TINY_PROBE.split()), "lowlevel.model=test_lowlevel_tiny",
               "lowlevel.epochs=2", "lowlevel.views=2", "lowlevel.tiles_per_view=4", "lowlevel.tiles_per_epoch=4"]
WHY_SLICE = "on a 60-image slice of the same manifest (8 sources per label): the 1,132 images take minutes"
CLUSTER = Plan("not-runnable", why="sets up or joins a Ray cluster (a head node, its token in ~/.ray): tests/scale "
                                   "covers token handling", tag="ray-cluster")
CURL = Plan("not-runnable", why="needs a running service, the admin's and a team's tokens ($TOKEN, $TEAM) and the "
                                "user's labels, images and predictions: tests/serve/test_serve_leaderboard.py drives "
                                "these endpoints", tag="needs-tokens")

PLAN: dict[str, Plan] = {
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/sentry-image detect ../shared/data/examples/":
        Plan("last-step", why="the virtualenv and install are CI's own (.ci/run); the detection runs in the clone's "
                              ".venv", writes=("-",)),
    "python3 -m venv .venv-core && .venv-core/bin/pip install -q -e '.[test]' && .venv-core/bin/python -m pytest -q "
    "-n 2 -m core && python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev,train,serve,scale]' && "
    ".venv/bin/pip install -q --no-deps invisible-watermark==0.2.0 && HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q "
    "-n 2": Plan("not-runnable", why="the test suite itself: .ci/run runs it (tests/test_readme.py keeps the two "
                                     "identical)", tag="the-suite-itself"),
    "sentry-image detect photo.jpg folder/ --recursive --format jsonl > verdicts.jsonl":
        Plan("run", writes=("verdicts.jsonl",)),
    "sentry-image detect folder/ -r --format csv --threshold 0.7": Plan("run", writes=("-",)),
    "sentry-image models": Plan("run", writes=("-",)),
    ".venv/bin/pip install -q -e '.[data]'": PIP,
    "sentry-image data fetch --subset SDv15-CC30K --subset Midjourneyv5-5K --to data/fake2m":
        Plan("run", writes=("data/fake2m/MetaData/val/SDv15-CC30K.csv",)),
    "sentry-image data extract --split val --root data/fake2m":
        Plan("run", writes=("data/fake2m/extracted/val/Midjourneyv5-5K",)),
    "sentry-image data verify --split val --root data/fake2m --report verify.json":
        Plan("run", writes=("verify.json",)),
    "sentry-image data scan my-images --label real=photos,ai=generated --out my.csv": Plan("run", writes=("my.csv",)),
    "sentry-image data split my.csv --by source --out my-split.csv": Plan("run", writes=("my-split.csv",)),
    "sentry-image data shard my-split.csv --out shards/": Plan("run", writes=("shards",)),
    "sentry-image data gallery my.csv --out gallery/": Plan("run", writes=("gallery/index.html",)),
    ".venv/bin/pip install -q -e '.[train]'": PIP,
    "sentry-image train configs/train/test_tiny.yaml": Plan("run", writes=("runs/test_tiny/model.onnx",)),
    "sentry-image train configs/train/semantic_probe.yaml":
        Plan("overrides", f"{SLICE} {TINY_PROBE}", f"a tiny random probe of the same family {WHY_SLICE}",
             writes=("runs/semantic_probe/model.onnx",)),
    "sentry-image train configs/train/npr_resnet.yaml optim.epochs=3":
        Plan("overrides", TINY_NPR, f"a narrow NPR on 32 px crops {WHY_SLICE}", writes=("runs/npr_resnet/model.onnx",)),
    "sentry-image eval --model runs/semantic_probe --benchmark configs/benchmarks/dev_test_split.yaml "
    "--out reports/probe": Plan("overrides", "--data slice/manifest.csv --suite configs/suites/quick.yaml",
                                f"the quick suite {WHY_SLICE}", writes=("reports/probe/report.json",)),
    "sentry-image eval --model runs/semantic_probe --data ../shared/data/manifest.csv --split test --suite "
    "robustness --out reports/p2": Plan("overrides", "--data slice/manifest.csv --suite configs/suites/quick.yaml",
                                        f"the quick suite {WHY_SLICE}", writes=("reports/p2/report.json",)),
    "sentry-image leaderboard reports/*/report.json --out reports/leaderboard":
        Plan("run", writes=("reports/leaderboard/leaderboard.md",)),
    "sentry-image train configs/train/npr_resnet.yaml --nproc-per-node 2 out=runs/npr_resnet_ddp":
        Plan("overrides", TINY_NPR, f"a narrow NPR on 32 px crops {WHY_SLICE}",
             writes=("runs/npr_resnet_ddp/model.onnx",)),
    "sentry-image data fetch --subset SDv15R-CC1M --to data/fake2m":
        Plan("run", writes=("data/fake2m/ImageData/train/SDv15R-CC1M",)),
    "sentry-image data extract --subset SDv15R-CC1M --root data/fake2m":
        Plan("run", writes=("data/fake2m/extracted/train/SDv15R-CC1M",)),
    "sentry-image train configs/train/fake2m_sd15_resnet50.yaml data.manifest= 'data.subsets=[SDv15R-CC1M]' "
    "data.root=data/fake2m data.real=data/cc3m":
        Plan("overrides", TINY_CNN, "the tiny CNN for the ResNet-50, whose ImageNet weights are a download",
             writes=("runs/fake2m_sd15_resnet50/model.onnx",)),
    "sentry-image data shard my-split.csv --out data/shards --max-samples 1000": Plan("run", writes=("data/shards",)),
    "sentry-image train configs/train/fake2m_sd15_resnet50.yaml data.manifest= data.shards=data/shards "
    "data.calibration=data/calib out=runs/fake2m_sd15_resnet50_shards":
        Plan("overrides", TINY_CNN, "the tiny CNN for the ResNet-50, whose ImageNet weights are a download",
             writes=("runs/fake2m_sd15_resnet50_shards/model.onnx",)),
    "sentry-image eval --model default --data SDv15-CC30K,Midjourneyv5-5K --root data/fake2m --real data/real "
    "--subset-key subset --out reports/mp": Plan("run", writes=("reports/mp/report.json",)),
    "sentry-image data fetch --split val --to data/fake2m && sentry-image data extract --split val --root data/fake2m":
        Plan("run", writes=("data/fake2m/extracted/val/stylegan3-60K",)),
    "sentry-image eval --model default --benchmark configs/benchmarks/mpbench.yaml --suite configs/suites/harsh.yaml "
    "--out reports/mp-harsh": Plan("run", writes=("reports/mp-harsh/report.json",)),
    "sentry-image import npr NPR.pth --out models/npr":
        Plan("run", writes=("models/npr/config.json", "models/npr/model.onnx")),
    "sentry-image import cnndetection blur_jpg_prob0.5.pth --out models/cnndetection-0.5":
        Plan("run", writes=("models/cnndetection-0.5/config.json", "models/cnndetection-0.5/model.onnx")),
    "sentry-image compare configs/comparisons/published.yaml data=subsets:SDv15-CC30K,Midjourneyv5-5K "
    "root=data/fake2m real=data/real":
        Plan("overrides", "suite=clean repeats=1", "the clean condition only, timed once: the robustness grid "
                                                   "over three networks at native resolution takes minutes",
             writes=("reports/published/leaderboard.json", "reports/published/README.md")),
    ".venv/bin/pip install -q -e '.[serve]'": PIP,
    "SENTRY_ADMIN_TOKEN=change-me SENTRY_SURVEY_POOL=../shared/data/manifest.csv .venv/bin/sentry-image serve":
        Plan("serve", why="serves until stopped: started on a free port (--port), asked for / and /api/v1/health, "
                          "then stopped"),
    'curl -H "X-Admin-Token: $TOKEN" -F slug=mine -F title="My set" -F labels=@labels.csv -F images=@a.png -F '
    "images=@b.jpg http://127.0.0.1:8000/api/v1/leaderboard/benchmarks": CURL,
    'curl -H "X-Admin-Token: $TOKEN" -H \'Content-Type: application/json\' -d \'{"name": "Lab A"}\' '
    "http://127.0.0.1:8000/api/v1/leaderboard/teams": CURL,
    'curl -H "X-Team-Token: $TEAM" -F file=@predictions.csv -F threshold=0.42 '
    "http://127.0.0.1:8000/api/v1/leaderboard/benchmarks/mine/submissions": CURL,
    ".venv/bin/pip install -q -e '.[scale]'": PIP,
    "sentry-image score-batch ../shared/data/examples/ --out scores/ --workers 2":
        Plan("run", writes=("scores/_sentry_score.json",)),
    "sentry-image export onnx --model runs/semantic_probe --out probe.onnx": Plan("run", writes=("probe.onnx",)),
    "sentry-image detect ../shared/data/examples/ --model probe.onnx": Plan("run", writes=("-",)),
    "sentry-image export hub-folder --model runs/semantic_probe --out upload/ --repo me/my-detector":
        Plan("run", writes=("upload/README.md", "upload/model.onnx")),
    "hf upload me/my-detector upload/ .": Plan("not-runnable", why="uploads to the Hugging Face hub with the user's "
                                                                  "account: tests/cli/test_cli_hub.py reads models "
                                                                  "back from a loopback hub", tag="hub-upload"),
    "ray get-auth-token --generate": CLUSTER,
    "chmod 600 ~/.ray/auth_token": CLUSTER,
    "RAY_AUTH_MODE=token ray start --head --port=6379": CLUSTER,
    "export RAY_AUTH_MODE=token": CLUSTER,
    "sentry-image score-batch INPUT --out OUT --address HEAD:6379 --workers 8": CLUSTER,
    "sentry-image train configs/train/default.yaml":
        Plan("overrides", " ".join(TINY_FUSION), f"the same recipe with tiny branches and 2 folds {WHY_SLICE} (the "
                                                 "full run is the time README states)",
             writes=("runs/default/config.json", "runs/default/semantic/model.onnx")),
    "sentry-image compare configs/comparisons/crossval.yaml --overwrite":
        Plan("overrides", "bootstrap=20 folds=2 schemes=[grouped] copies=[original] extra=[] "
                          f"'overrides=[{', '.join(TINY_FUSION)}]'",
             f"one fold scheme, one copy and tiny branches {WHY_SLICE}", writes=("results/crossval/report.json",),
             rewrites=("results/crossval/",)),
}


def _param(i: int, command: str) -> object:
    plan = PLAN.get(command, Plan("unplanned"))
    marks = [pytest.mark.core] if plan.how in ("not-runnable", "unplanned") else [pytest.mark.slow]
    if plan.broken:
        marks.append(pytest.mark.xfail(strict=True, reason=plan.broken))
    bases = [w.rstrip("/").rsplit("/", 1)[-1] for w in command.split(" && ")[-1].split() if "=" not in w]
    words = [w for w in bases if re.fullmatch(r"[A-Za-z0-9][\w.,:-]*", w) and w != "sentry-image"]
    tags = [plan.tag] if plan.tag else ["xfail"] if plan.broken else []
    return pytest.param(i, command, id="-".join([f"{i:02d}", plan.how, *tags, *words[:3]]), marks=marks)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.read()


def _serve(clone: Clone, command: str) -> Record:
    """Start the service as typed (plus ``--port``), ask for the demo page and the health probe, stop it."""
    typed = f"{command} --port {free_port()}"
    port = typed.rsplit(" ", 1)[-1]
    log = clone.root / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec env {typed}"], cwd=clone.root, env=clone.env, stdout=out,
                                stderr=subprocess.STDOUT)
    t0, problem = time.monotonic(), "the service never answered on /"
    try:
        while time.monotonic() - t0 < 120 and proc.poll() is None:
            try:
                status, page = _get(f"http://127.0.0.1:{port}/")
            except OSError:
                time.sleep(0.5)
                continue
            health = json.loads(_get(f"http://127.0.0.1:{port}/api/v1/health")[1])
            ok = status == 200 and b"<html" in page.lower() and bool(health.get("status"))
            problem = "" if ok else f"/ answered {status}; /api/v1/health answered {health}"
            break
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return Record(typed, 1 if problem else 0, "", problem + "\n" + log.read_text()[-2000:] if problem else "",
                  time.monotonic() - t0)


def _execute(k: int, clone: Clone) -> Record | None:
    """Command ``k`` as :data:`PLAN` says (None: not run here)."""
    command = COMMANDS[k].text
    plan = PLAN.get(command)
    if plan is None or plan.how == "not-runnable":
        return None
    if plan.how == "serve":
        return _serve(clone, command)
    typed = command.split(" && ")[-1] if plan.how == "last-step" else f"{command} {plan.extra}".strip()
    t0 = time.monotonic()
    try:
        done = clone.run(typed, TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Record(typed, 124, "", f"still running after {TIMEOUT_S} s", TIMEOUT_S)
    return Record(typed, done.returncode, done.stdout[-5000:], done.stderr[-5000:], time.monotonic() - t0)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Runner]:
    # one clone for the whole session: test processes of one xdist run share their base temp's parent
    base = tmp_path_factory.getbasetemp()
    run = Runner((base.parent if worker_id != "master" else base) / "readme-commands", _execute)
    yield run
    run.close()


@pytest.mark.core
def test_every_readme_command_is_planned() -> None:
    texts = [c.text for c in COMMANDS]
    unplanned = [t for t in texts if t not in PLAN]
    stale = [t for t in PLAN if t not in texts]
    assert not unplanned, f"README commands neither run nor listed in PLAN of {__name__}: {unplanned}"
    assert not stale, f"PLAN entries no longer in README: {stale}"
    assert all(p.why for p in PLAN.values() if p.how != "run"), "every command not run as written says why"


def _extras(command: str) -> set[str]:
    return {e for spec in command.split("'.[")[1:] for e in spec.split("]")[0].split(",")}


def _not_runnable(command: str, plan: Plan) -> None:
    print(f"not runnable here: {command}\n  because: {plan.why}")
    if "pip install" in command and "'.[" in command:
        declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        assert _extras(command) <= set(declared), f"{command}: extras not in pyproject.toml"
    if "pytest" in command:
        assert command in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(("k", "command"), [_param(k, c.text) for k, c in enumerate(COMMANDS)])
def test_readme_command(k: int, command: str, request: pytest.FixtureRequest) -> None:
    plan = PLAN.get(command)
    assert plan is not None, f"not in PLAN: {command}"
    if plan.how == "not-runnable":
        return _not_runnable(command, plan)
    clone, done = request.getfixturevalue("runner").record(k)
    assert done is not None
    print(f"{plan.how}: {done.typed}" + (f"\n  because: {plan.why}" if plan.why else "")
          + f"\nexit {done.returncode} in {done.seconds:.1f} s")
    assert done.returncode == 0, f"{done.typed}\nstderr:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    for path in plan.writes:
        if path == "-":
            assert done.stdout.strip(), f"{done.typed}: nothing on stdout"
        else:
            assert (clone.root / path).exists(), f"{done.typed}: wrote no {path}\nstderr:\n{done.stderr[-2000:]}"


@pytest.mark.slow
def test_no_command_changed_a_committed_file_unless_told_to(runner: Runner) -> None:
    clone, _ = runner.record(len(COMMANDS) - 1)  # every command has run
    allowed = tuple(r for p in PLAN.values() for r in p.rewrites)
    assert [c for c in clone.changed() if not c.startswith(allowed)] == []


__all__: list[str] = []
