"""Mutation testing on demand (never in CI): how many small faults in the core modules do their tests catch?

mutmut 3 (``pip install -e '.[dev]'``) mutates one module at a time and runs, for each mutant, only the tests that
call the mutated function; a mutant no test fails on "survived": a fault the tests would let through. Each module
runs alone, on its own fast tests, in a scratch folder outside the repository (the tool writes a ``mutants/`` tree
there), so a score never depends on which other modules ran with it.

Writes ``results/mutation/report.json`` and ``report.md``: per module the mutants, killed, survived, timeout, the
score, every survivor (file:line and the mutation) and the survivors explained as equivalent (a mutation that
cannot change behaviour, with the reason: see ``benchmarks/mutation_equivalents/``). A run of some modules
updates their rows and keeps the others'.

Usage: python benchmarks/mutation.py [MODULE ...] [--max-children 2] [--keep] [--shared-data ../shared/data]
       python benchmarks/mutation.py --list
Modules: detect, metrics, calibrate, provenance/ file by file (provenance for its __init__, c2pa, c2pa_gate,
metadata, metadata_writers, iptc, stealth, watermark), decode (its byte/pixel caps only), scoring.
A module takes 1-5 minutes on two cores. ``--keep`` leaves the scratch folder, for ``mutmut show NAME`` there.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from contextlib import chdir
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mutation_equivalents import equivalents  # beside this script: its folder is first on sys.path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "mutation"
KILLED = {"killed", "timeout"}  # a mutant that hangs the tests is caught by the time limit


@dataclass(frozen=True)
class Target:
    """One module under mutation: its source file, the tests that judge it and, optionally, the functions mutated."""

    path: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()  # empty: every function of the file
    select: tuple[str, ...] = ()  # more pytest arguments of the selection, e.g. a marker expression


_PROV = ("tests/provenance/",)
MODULES: dict[str, Target] = {
    # The core tests only: the torch-backed "tiny" detector adds seconds of setup to every mutant's run and reaches
    # no line of detect.py that the shipped ONNX default and the stub model of test_detect_mutants.py do not.
    "detect": Target("src/sentry_image/detect.py", ("tests/test_detect.py", "tests/test_detect_boundaries.py",
                                                    "tests/test_detect_mutants.py"), select=("-m", "core")),
    "metrics": Target("src/sentry_image/evaluate/metrics.py", (
        "tests/evaluate/test_metrics.py", "tests/evaluate/test_ece_oracle.py",
        "tests/evaluate/test_metrics_mutants.py")),
    # Not the checks' training run: seconds of torch per mutant, and it reaches fit_calibration as the others do.
    "calibrate": Target("src/sentry_image/evaluate/calibrate.py", (
        "tests/evaluate/test_calibrate.py", "tests/evaluate/test_calibration_checks.py",
        "tests/evaluate/test_calibration_isotonic.py", "tests/evaluate/test_calibrate_mutants.py",
        "tests/evaluate/test_calibrate_band_mutants.py"),
        select=("-k", "not training_run")),
    # provenance/, file by file: its tests are fast (18 s in all) and mutmut runs only those reaching the function.
    "provenance": Target("src/sentry_image/provenance/__init__.py", _PROV),
    "c2pa": Target("src/sentry_image/provenance/c2pa.py", _PROV),
    "c2pa_gate": Target("src/sentry_image/provenance/c2pa_gate.py", _PROV),
    "metadata": Target("src/sentry_image/provenance/metadata.py", _PROV),
    "metadata_writers": Target("src/sentry_image/provenance/metadata_writers.py", _PROV),
    "iptc": Target("src/sentry_image/provenance/iptc.py", _PROV),
    "stealth": Target("src/sentry_image/provenance/stealth.py", _PROV),
    "watermark": Target("src/sentry_image/provenance/watermark.py", _PROV),
    # The caps only: the stat and bounded read, the upload byte cap, the header's pixel cap, the minimum side.
    "decode": Target("src/sentry_image/imaging/decode.py", (
        "tests/imaging/test_caps_boundaries.py", "tests/imaging/test_decode.py",
        "tests/imaging/test_decode_mutants.py"),
        ("read_image_bytes", "_check_regular", "decode_image", "decode_pil", "_open", "load_image",
         "check_model_size")),
    # The scoring functions' own tests; the service's leaderboard tests (PostgreSQL, HTTP) cost seconds a mutant.
    "scoring": Target("src/sentry_image/serve/scoring.py", (
        "tests/serve/test_leaderboard_boundaries.py", "tests/serve/test_scoring_mutants.py")),
}


def module_name(path: str) -> str:
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def mutant_globs(target: Target) -> list[str]:
    """mutmut's names of the mutants to run: ``pkg.module.x_function__mutmut_N``."""
    return [f"{module_name(target.path)}.x_{fn}__mutmut_*" for fn in target.functions]


def tool_config(target: Target) -> str:
    """The repository's ``[tool.mutmut]`` with this module's file and tests (only the tests that exist yet)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    config["only_mutate"] = [target.path]
    config["pytest_add_cli_args_test_selection"] = [t for t in target.tests if (ROOT / t).exists()] + [*target.select]
    return "[tool.mutmut]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items())


def prepare(work: Path, target: Target, shared: Path) -> None:
    """A scratch project: links to src/, tests/ and configs/, the pyproject with this module's mutmut section, and
    ``shared/data`` beside the ``mutants/`` copy where the tests look for the shared data (``../shared/data``)."""
    for name in ("src", "tests", "configs"):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    text = (ROOT / "pyproject.toml").read_text()
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)  # replaced, not merged: TOML has no override
    (work / "pyproject.toml").write_text(text.rstrip() + "\n\n" + tool_config(target))
    (work / "shared").mkdir()
    (work / "shared" / "data").symlink_to(shared, target_is_directory=True)


def run_mutmut(work: Path, target: Target, max_children: int) -> float:
    """Run mutmut in ``work``; its progress (a spinner per mutant) goes to ``work/mutmut.log``. Seconds taken."""
    start = time.perf_counter()
    env = {**os.environ, "SENTRY_SHARED_DATA": str(work / "shared" / "data"), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *mutant_globs(target)]
    with open(work / "mutmut.log", "w") as log:
        done = subprocess.run(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = (work / "mutmut.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed on {target.path} (exit {done.returncode}):\n{tail}")
    return time.perf_counter() - start


def _function_start(source: str, function: str, cls: str | None) -> int:
    """First line of ``function`` (of class ``cls``) in ``source``, decorators included; 0 if not found."""
    for node in ast.walk(ast.parse(source)):
        body = node.body if isinstance(node, ast.ClassDef) and node.name == cls else None
        if cls is None and isinstance(node, ast.Module):
            body = node.body
        for item in body or ():
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == function:
                return min([item.lineno, *(d.lineno for d in item.decorator_list)])
    return 0


def describe(work: Path, target: Target, key: str) -> dict[str, Any]:
    """Where a mutant sits (``file:line``) and what it changed (``old -> new``), read from mutmut's diff."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    with chdir(work):
        diff = get_diff_for_mutant(key, path=target.path)
    function, cls = orig_function_and_class_names_from_key(key)
    start = _function_start((ROOT / target.path).read_text(), function, cls)
    old: list[str] = []
    new: list[str] = []
    line, offset = 0, 1
    for text in diff.splitlines():
        hunk = re.match(r"@@ -(\d+)", text)
        if hunk:
            offset = int(hunk.group(1))
        elif text.startswith(("---", "+++")):
            continue
        elif text.startswith(("-", "+")):
            line = line or start + offset - 1
            (old if text[0] == "-" else new).append(text[1:].strip())
        elif text.startswith(" ") and not line:
            offset += 1
    return {"name": key.rpartition(".")[2], "where": f"{target.path}:{line}",
            "function": f"{cls}.{function}" if cls else function,
            "mutation": " / ".join(old) + " -> " + (" / ".join(new) or "(removed)")}


def collect(work: Path, name: str, seconds: float) -> dict[str, Any]:
    """The module's row: counts by status, the score, survivors and the survivors explained as equivalent."""
    from mutmut.stats import status_by_exit_code

    target = MODULES[name]
    meta = json.loads((work / "mutants" / (target.path + ".meta")).read_text())
    globs = mutant_globs(target)
    codes = {k: v for k, v in meta["exit_code_by_key"].items()
             if not globs or any(fnmatch.fnmatch(k, g) for g in globs)}
    status = {k: status_by_exit_code[v] for k, v in codes.items()}
    counts = {s: sum(1 for v in status.values() if v == s) for s in sorted(set(status.values()))}
    rows = [describe(work, target, key) | {"status": status[key]}
            for key in sorted((k for k, s in status.items() if s not in KILLED), key=_natural)]
    survivors, explained = judge(name, rows)
    caught = sum(1 for s in status.values() if s in KILLED)
    judged = len(status) - len(explained)
    return {"file": target.path, "functions": list(target.functions) or "all", "tests": list(target.tests),
            "mutants": len(status), "killed": counts.get("killed", 0), "survived": counts.get("survived", 0),
            "timeout": counts.get("timeout", 0), "no_tests": counts.get("no tests", 0),
            "other": len(status) - sum(counts.get(s, 0) for s in ("killed", "survived", "timeout", "no tests")),
            "explained_equivalent": len(explained), "killed_pct": round(100 * caught / max(1, len(status)), 1),
            "score_pct": round(100 * caught / max(1, judged), 1), "seconds": round(seconds),
            "survivors": survivors, "explained": explained}


def judge(name: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a module's surviving mutants into survivors and those explained as equivalent."""
    known = equivalents(name)
    survivors, explained = [], []
    for row in rows:
        entry = known.get(row["name"])
        if entry and entry[0] in row["mutation"]:  # the same mutation as when it was judged equivalent
            explained.append({k: v for k, v in row.items() if k != "reason"} | {"reason": entry[1]})
        else:
            survivors.append({k: v for k, v in row.items() if k != "reason"})
    return survivors, explained


def rejudge(row: dict[str, Any], name: str) -> dict[str, Any]:
    """A stored row judged again against today's equivalents, without running anything: the counts of killed
    mutants stay as measured, only the split of the survivors (and so the score) follows the explanations."""
    survivors, explained = judge(name, row["survivors"] + row["explained"])
    caught = row["killed"] + row["timeout"]
    return row | {"survivors": survivors, "explained": explained, "explained_equivalent": len(explained),
                  "score_pct": round(100 * caught / max(1, row["mutants"] - len(explained)), 1)}


def _natural(key: str) -> tuple[str, int]:
    head, _, number = key.rpartition("__mutmut_")
    return head, int(number)


def write_report(rows: dict[str, Any]) -> None:
    """Merge ``rows`` into the stored report (other modules keep their last run) and render the Markdown."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "report.json"
    report = json.loads(path.read_text()) if path.exists() else {"modules": {}}
    report["modules"].update(rows)
    report["modules"] = {k: report["modules"][k] for k in MODULES if k in report["modules"]}
    report["tool"] = f"mutmut {_version()}"
    report["score"] = ("(killed + timeout) / (mutants - explained equivalents); survivors include 'no tests' "
                       "mutants (code no selected test reaches)")
    path.write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Mutation testing", "", f"Generated by `python benchmarks/mutation.py` ({report['tool']}); do not edit.",
             f"Score: {report['score']}.", "",
             "| module | mutants | killed | survived | timeout | no tests | explained | score % | run s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in report["modules"].items():
        lines.append(f"| {name} | {r['mutants']} | {r['killed']} | {r['survived']} | {r['timeout']} | {r['no_tests']} "
                     f"| {r['explained_equivalent']} | {r['score_pct']} | {r['seconds']} |")
    for name, r in report["modules"].items():
        lines += ["", f"## {name}: `{r['file']}`", "", f"Functions: {r['functions']}. Tests: "
                  + ", ".join(f"`{t}`" for t in r["tests"]) + ".", ""]
        lines += [f"- survivor `{s['where']}` ({s['function']}, {s['status']}): `{s['mutation']}`"
                  for s in r["survivors"]] or ["No survivor left unexplained."]
        if r["explained"]:
            lines += ["", "Equivalent (cannot change behaviour):", ""]
            lines += [f"- `{s['where']}` `{s['mutation']}`: {s['reason']}" for s in r["explained"]]
    (OUT / "report.md").write_text("\n".join(lines) + "\n")


def _version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", metavar="MODULE", help=f"default: all of {', '.join(MODULES)}")
    ap.add_argument("--max-children", type=int, default=2, help="parallel mutants (default 2: the cores)")
    ap.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folders (printed) for mutmut show/browse")
    ap.add_argument("--list", action="store_true", help="list the modules, their files and tests")
    ap.add_argument("--rejudge", action="store_true",
                    help="run nothing: apply today's equivalents to the stored survivors and rewrite the report")
    args = ap.parse_args()
    if args.list:
        for name, t in MODULES.items():
            print(f"{name:16} {t.path} {' '.join(t.functions)}\n{'':16} tests: {' '.join(t.tests)}")
        return
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    if args.rejudge:
        stored = json.loads((OUT / "report.json").read_text())["modules"] if (OUT / "report.json").exists() else {}
        names = [n for n in (args.modules or list(stored)) if n in stored]
        if not names:
            ap.error("no stored run of those modules to judge again; run them first")
        write_report({n: rejudge(stored[n], n) for n in names})
        for n in names:
            print(f"{n:16} score {stored[n]['score_pct']:5.1f} % -> {rejudge(stored[n], n)['score_pct']:5.1f} %")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still removes its scratch folder
    rows: dict[str, Any] = {}
    for name in args.modules or list(MODULES):
        target = MODULES[name]
        work = Path(tempfile.mkdtemp(prefix=f"sentry-mutation-{name}-"))
        try:
            prepare(work, target, args.shared_data.resolve())
            seconds = run_mutmut(work, target, args.max_children)
            rows[name] = collect(work, name, seconds)
        finally:
            if args.keep:
                print(f"  scratch folder kept: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
        r = rows[name]
        print(f"{name:16} {r['mutants']:4} mutants  {r['killed']:4} killed  {r['survived']:4} survived  "
              f"{r['timeout']:3} timeout  {r['no_tests']:3} no tests  {r['explained_equivalent']:3} explained  "
              f"score {r['score_pct']:5.1f} %  ({r['seconds']} s)", flush=True)
        write_report(rows)  # after each module, so an interrupted run keeps what it measured
    print(f"report: {OUT / 'report.md'}")


if __name__ == "__main__":
    main()
