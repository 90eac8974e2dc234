"""How ``--help`` reads: value placeholders only where a value is taken, and each command's examples and exit codes.

Typer (0.2x) prints a type placeholder beside every parameter, flags included (``--recursive <bool>``) and lists
as Python annotations (``<list[Path]>``). A flag takes no value, so showing one misleads; a list argument is "one or
more values", which is how ``git`` and ``click`` write it. :func:`install_help_style` keeps Typer's ``<type>``
convention for everything else.
"""

from __future__ import annotations

from typing import Any, get_args

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperOption

_typer_display_type = TyperOption.display_type


def _display_type(self: Any, ctx: Any) -> str | None:
    if self.metavar is not None:
        return str(self.metavar)
    if getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None  # a flag takes no value
    desc = self.type_descriptor
    if desc.is_list and not desc.is_choice:
        (element,) = get_args(desc.annotation) or (str,)
        # an argument takes one or more values; a list option takes one value per use (its help says repeatable)
        more = "..." if isinstance(self, TyperArgument) else ""
        return f"<{self._bare_type(element).lower()}>{more}"
    return str(_typer_display_type(self, ctx)).lower()


def install_help_style() -> None:
    """Point Typer's help at :func:`_display_type` (once, before the first ``--help`` renders)."""
    TyperOption.display_type_rich = _display_type  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _display_type  # type: ignore[method-assign]


_EXIT_CODES = {
    "detect": "0 every input got a verdict; 1 some inputs failed (each one a row, and a line on stderr); 2 usage "
              "error (bad option, unknown model, nothing to score)",
    "data": "0 done; 1 the data has a problem (verify found one, a part is corrupt, a download failed); 2 usage error",
    "score-batch": "0 every image scored; 1 some images are error rows in the output; 2 usage error",
    "default": "0 done; 1 the work ran but found a problem it reports; 2 usage error (bad option, missing file or "
               "extra). Errors are one line on stderr.",
}

_EXAMPLES = {
    "detect": ["sentry-image detect photo.jpg", "sentry-image detect pictures/ -r --format jsonl > verdicts.jsonl",
               "sentry-image detect https://example.org/image.png --format json",
               "sentry-image detect img.png --model hf-hub:owner/detector --explain maps/"],
    "models": ["sentry-image models", "sentry-image models --json"],
    "train": ["sentry-image train configs/train/test_tiny.yaml",
              "sentry-image train configs/train/npr_resnet.yaml optim.epochs=3 out=runs/npr3"],
    "eval": ["sentry-image eval --model default --data ../shared/data/manifest.csv --out reports/default",
             "sentry-image eval --model runs/x --benchmark configs/benchmarks/dev_test_split.yaml --out reports/x"],
    "leaderboard": ["sentry-image leaderboard reports/*/report.json --out reports/leaderboard"],
    "calibrate": ["sentry-image calibrate --model default --data my-labelled/ --out runs/recalibrated"],
    "compare": ["sentry-image compare configs/comparisons/default.yaml"],
    "import": ["sentry-image import cnndetection blur_jpg_prob0.5.pth --out models/cnndetection-0.5",
               "sentry-image import npr NPR.pth --out models/npr --protocol resize256",
               "sentry-image import univfd fc_weights.pth --backbone ViT-L-14.pt --out models/univfd"],
    "score-batch": ["sentry-image score-batch images/ --out scores.parquet --workers 2",
                    "sentry-image score-batch shards/ --out scores.parquet --address auto"],
    "serve": ["SENTRY_ADMIN_TOKEN=change-me sentry-image serve --port 8000"],
    "data fetch": ["sentry-image data fetch --subset SDv15-CC30K --to fake2m"],
    "data extract": ["sentry-image data extract --split val --root fake2m"],
    "data verify": ["sentry-image data verify --split val --root fake2m --report verify.json",
                    "sentry-image data verify --manifest ../shared/data/manifest.csv"],
    "data scan": ["sentry-image data scan my-images --label real=photos,ai=generated --out my.csv"],
    "data split": ["sentry-image data split my.csv --by source --out my-split.csv"],
    "data shard": ["sentry-image data shard my-split.csv --out shards/"],
    "data gallery": ["sentry-image data gallery my.csv --out gallery/"],
    "export onnx": ["sentry-image export onnx --model runs/x --out x.onnx"],
    "export hub-folder": ["sentry-image export hub-folder --model runs/x --out upload/ --repo me/my-detector"],
}


def add_epilogs(group: typer.Typer, prefix: str) -> None:
    """Give each command of a sub-app (``data``, ``export``) its epilog, looked up as ``"<prefix> <name>"``."""
    for info in group.registered_commands:
        name = info.name or getattr(info.callback, "__name__", "").removesuffix("_cmd").replace("_", "-")
        info.epilog = info.epilog or epilog(f"{prefix} {name}")


def epilog(command: str) -> str:
    """The help's closing lines for ``command``: examples, then exit codes (escaped: brackets are literal)."""
    lines = []
    if examples := _EXAMPLES.get(command):
        lines += ["[b]Examples[/b]", *(f"  {escape(e)}" for e in examples), ""]
    codes = _EXIT_CODES.get(command.split()[0], _EXIT_CODES["default"])
    lines += ["[b]Exit codes[/b]", f"  {escape(codes)}"]
    return "\n".join(lines)


def examples() -> dict[str, list[str]]:
    """Every command's examples (the help shows them; a test parses each against its command)."""
    return {name: list(lines) for name, lines in _EXAMPLES.items()}


__all__ = ["add_epilogs", "epilog", "examples", "install_help_style"]
