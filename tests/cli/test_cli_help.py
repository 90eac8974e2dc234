"""``--help`` as users read it: a placeholder only where a value is taken, and examples that actually parse."""

from __future__ import annotations

import re
import shlex

import pytest
import typer
from typer import _click as click  # Typer 0.2x parses with its own copy of click
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from sentry_image.cli import app
from sentry_image.cli._help import examples

pytestmark = pytest.mark.core


def _help(*args: str) -> str:
    res = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}, terminal_width=200)
    assert res.exit_code == 0, res.output
    return res.output


def _command(argv: list[str]) -> tuple[click.Command, list[str]]:
    cmd: click.Command = typer.main.get_command(app)
    while isinstance(cmd, TyperGroup):
        name, *argv = argv
        found = cmd.get_command(click.Context(cmd), name)
        assert found is not None, f"no command {name!r}"
        cmd = found
    return cmd, argv


def _argv(example: str) -> list[str]:
    words = shlex.split(example.split(" > ")[0])
    words = [w for w in words if not re.fullmatch(r"[A-Z_]+=.*", w)]  # leading VAR=value assignments
    assert words[0] == "sentry-image"
    return words[1:]


def test_flags_show_no_value_placeholder_and_lists_read_as_values() -> None:
    text = _help("detect")
    assert "<bool>" not in text and "list[" not in text
    assert re.search(r"--recursive\s+-r\s+Descend", text)  # nothing between the flag and its help
    assert "<str>..." in text  # the paths argument: one or more
    assert "<int range>" in text  # options that take a value keep theirs
    for group in (["data", "verify"], ["score-batch"], ["train"], ["eval"]):
        assert "<bool>" not in _help(*group), group


@pytest.mark.parametrize("command", sorted(examples()))
def test_every_help_example_parses_against_its_command(command: str) -> None:
    for example in examples()[command]:
        argv = _argv(example)
        assert " ".join(argv).startswith(command), (command, example)
        cmd, rest = _command(argv)
        cmd.make_context(command, rest)  # raises on an unknown option, a missing required one or a bad value


def test_each_command_help_ends_with_examples_and_exit_codes() -> None:
    for command in sorted(examples()):
        text = _help(*command.split())
        assert "Examples" in text and "Exit codes" in text, command
        assert examples()[command][0] in text.replace("\n", " ") or examples()[command][0][:60] in text, command


def test_top_level_help_lists_detect_first() -> None:
    names = [n for n in re.findall(r"^│ ([a-z-]+)\s{2,}", _help(), flags=re.M) if not n.startswith("-")]
    assert names[:2] == ["detect", "models"], names


def test_every_option_says_what_it_does() -> None:
    """An option whose help is only its default leaves the user guessing (``--batch-size`` once did)."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)

    def walk(group: TyperGroup, path: list[str]) -> list[str]:
        silent = []
        for name in group.list_commands(click.Context(group)):
            cmd = group.get_command(click.Context(group), name)
            if isinstance(cmd, TyperGroup):
                silent += walk(cmd, [*path, name])
            elif cmd is not None:
                silent += [f"{' '.join([*path, name])} {p.name}" for p in cmd.params
                           if isinstance(p, TyperOption) and not p.hidden and not (p.help or "").strip()]
        return silent

    assert walk(root, []) == []
