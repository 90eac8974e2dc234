"""How much the questionnaire's shown image gives away without looking at its content.

For a balanced sample of ``--data``'s manifest (as many photos as AI images, like a questionnaire session, so
chance is 50 %), every image is rendered the way the questionnaire shows it, and for each cue of the shown PNG
(width, height, longest side, aspect ratio, PNG byte size, sharpness) the best single-threshold rule ("cue >= t
-> AI", or "<") is fitted on the sample itself: its balanced accuracy (chance: 50 %) is an upper bound of what
that cue alone tells. ``--sample 0`` takes every image (then unbalanced; the figure stays balanced accuracy).

Renderings compared:

- ``before``: the earlier rendering (aspect kept, longest side down to at most 1024 px);
- ``square-N``: the questionnaire's rendering (``display_png``) at side N (``--sides``: the service's setting,
  then 384 and 512 px, which upscale most photos of the development data).

Sharpness is the mean absolute Laplacian of the grey image: an image upscaled to the shown side looks soft, so a
side larger than most photos makes softness a cue of its own; the table shows it for each side.

Usage: python benchmarks/survey_cues.py [--data ../shared/data] [--sample 200] [--sides 256,384,512] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from sentry_image.imaging import load_image
from sentry_image.serve.questionnaire import display_png
from sentry_image.serve.settings import Settings

CUES = ("width", "height", "longest side", "aspect ratio", "PNG bytes", "sharpness")


def before(path: str) -> bytes:
    """The rendering the questionnaire used first: aspect kept, longest side at most 1024 px."""
    rgb = load_image(path).rgb
    rgb.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def cues(png: bytes) -> list[float]:
    img = Image.open(io.BytesIO(png))
    grey = np.asarray(img.convert("L"), dtype=np.float64)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return [img.width, img.height, max(img.size), img.width / img.height, len(png), float(np.abs(lap).mean())]


def best_rule(values: Sequence[float] | np.ndarray, labels: Sequence[int]) -> tuple[float, str]:
    """Balanced accuracy (mean of the two classes' hit rates; plain accuracy on a balanced sample) of the best
    "value >= t -> AI" or "value < t -> AI" rule, and the rule."""
    x, y = np.asarray(values, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if x.min() == x.max():
        return 0.5, "one value for all"
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    weight = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum()))
    ai_below = np.concatenate([[0.0], np.cumsum(weight * y)])  # weight of AI images strictly below cut k
    real_below = np.concatenate([[0.0], np.cumsum(weight * (1 - y))])
    # "x >= t -> AI" with the cut at k: right are the reals below and the AI images from k on
    upper = real_below + (ai_below[-1] - ai_below)
    valid = np.r_[True, x[1:] != x[:-1], True]  # a cut between two equal values is no threshold
    upper = np.where(valid, upper, -1.0)
    lower = np.where(valid, 1.0 - upper, -1.0)
    k_up, k_low = int(upper.argmax()), int(lower.argmax())
    if upper[k_up] >= lower[k_low]:
        t = x[k_up] if k_up < len(x) else np.inf
        return float(upper[k_up]), f">= {t:.4g} -> AI"
    t = x[k_low] if k_low < len(x) else np.inf
    return float(lower[k_low]), f"< {t:.4g} -> AI"


def sample(manifest: Path, n: int, seed: int) -> list[tuple[str, int]]:
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = [(str(manifest.parent / r["path"]), int(r["label"] == "ai")) for r in csv.DictReader(fh)]
    if n <= 0:
        return rows
    rng = random.Random(seed)
    half = n // 2
    by_label = [[r for r in rows if r[1] == label] for label in (0, 1)]
    return rng.sample(by_label[0], min(half, len(by_label[0]))) + rng.sample(by_label[1], min(half, len(by_label[1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sample", type=int, default=200)
    # the service's side first, then larger ones that upscale most photos (to show what softness then tells)
    parser.add_argument("--sides", default=",".join(dict.fromkeys(str(s) for s in (Settings().survey_side, 384, 512))))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = sample(args.data / "manifest.csv", args.sample, args.seed)
    labels = [label for _, label in rows]
    renderings: dict[str, Callable[[str], bytes]] = {"before": before}
    for side in (int(s) for s in args.sides.split(",")):
        renderings[f"square-{side}"] = partial(display_png, side=side)
    print(f"{len(rows)} images ({sum(labels)} AI, {len(rows) - sum(labels)} photos) from {args.data}. Balanced "
          "accuracy (chance 50 %) of the best single-threshold rule per cue of the shown PNG:")
    table = {}
    for name, render in renderings.items():
        values = np.array([cues(render(path)) for path, _ in rows])
        table[name] = [best_rule(values[:, i], labels) for i in range(len(CUES))]
        shown = {(int(w), int(h)) for w, h in values[:, :2]}
        print(f"  {name}: {len(shown)} distinct shown sizes")
    print("| cue | " + " | ".join(table) + " |")
    print("|---|" + "---|" * len(table))
    for i, cue in enumerate(CUES):
        cells = [f"{acc:.1%} ({rule})" for acc, rule in (table[name][i] for name in table)]
        print(f"| {cue} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
