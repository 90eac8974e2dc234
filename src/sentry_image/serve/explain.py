"""What the demo page says about a verdict: headline, the score bar's geometry, the evidence in plain words and a
note on how often the detector errs (the JSON stays the contract; this is for people)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .evidence_text import describe_evidence

HEADLINES = {
    "ai-generated": ("Likely AI-generated", "ai"),
    "real": ("Likely a real photo", "real"),
    "uncertain": ("Not sure", "uncertain"),
}
#: A verdict's ``decided_by`` signal, as "Decided by the file's ..." names it.
DECIDERS = {"c2pa": "Content Credentials (C2PA)", "watermark": "invisible watermark", "metadata": "metadata"}
#: The score bar's SVG user units across probability 0 to 1.
BAR_WIDTH = 1000
#: Recorded metrics, most telling first, and how each was measured, said for a lay reader.
MEASURED = (
    ("out_of_fold", "images it was not trained on",
     "Each was scored by a model fitted without that image's source, but the threshold was set on those same "
     "scores, so the figures are slightly optimistic."),
    ("test_split", "held-out test images it was neither trained nor calibrated on", ""),
    ("calibration_split", "the images its threshold was set on", "Those images set the threshold, so these "
     "figures flatter it."),
)
_SAME_BAND = 1e-3  # the record rounds bands to 4 decimals


@dataclass(frozen=True)
class ScoreBar:
    """The probability bar: x positions in SVG user units (0 to :data:`BAR_WIDTH`) and the words that go with it.

    Attributes:
        tone: the verdict's style (``ai``, ``real``, ``uncertain``): the bar takes the verdict's colour.
        value, threshold: x of the score and of the stored threshold.
        band_x, band_width: the uncertain band's extent (width 0 when the detector has no band).
        percent, threshold_percent, band_percent: the same as whole percentages, for the text beside the bar.
        label: one sentence saying all of it, for screen readers.
    """

    tone: str
    value: float
    threshold: float
    band_x: float
    band_width: float
    percent: int
    threshold_percent: int
    band_percent: tuple[int, int]
    label: str


def _pct(p: float) -> int:
    return round(100 * p)


def model_reading(prob: float, threshold: float, band: tuple[float, float]) -> str:
    """What the score alone says, by the rule :func:`sentry_image.detect.fuse` applies."""
    low, high = band
    if low < prob < high:
        return "uncertain"
    return "ai-generated" if prob >= threshold else "real"


def score_bar(prob: float, threshold: float, band: tuple[float, float], verdict: str) -> ScoreBar:
    """The bar of a scored verdict; ``band`` is the detector's uncertain band (``(t, t)`` when it has none)."""
    low, high = band
    headline, tone = HEADLINES.get(verdict, ("Result", "uncertain"))
    where = (f"inside the uncertain band from {_pct(low)}% to {_pct(high)}%" if low < prob < high
             else f"outside the uncertain band from {_pct(low)}% to {_pct(high)}%" if low < high
             else f"{'at or above' if prob >= threshold else 'below'} the threshold")
    label = (f"AI probability {_pct(prob)}%, {where}; threshold {_pct(threshold)}%. Verdict: {headline}.")
    return ScoreBar(tone=tone, value=prob * BAR_WIDTH, threshold=threshold * BAR_WIDTH, band_x=low * BAR_WIDTH,
                    band_width=max(0.0, high - low) * BAR_WIDTH, percent=_pct(prob),
                    threshold_percent=_pct(threshold), band_percent=(_pct(low), _pct(high)), label=label)


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _selective(record: Mapping[str, Any], band: tuple[float, float]) -> tuple[float, float] | None:
    """Coverage and accuracy outside the band, from the record's entry for this very band (figures recorded for
    another band, e.g. before a recalibration, would be wrong here)."""
    for entry in record.get("selective") or []:
        stored = entry.get("band") if isinstance(entry, Mapping) else None
        if not isinstance(stored, list | tuple) or len(stored) != 2:
            continue
        edges = [_number(v) for v in stored]
        coverage, right = _number(entry.get("coverage")), _number(entry.get("selective_accuracy"))
        if (all(e is not None and abs(e - b) <= _SAME_BAND for e, b in zip(edges, band, strict=True))
                and coverage is not None and right is not None):
            return coverage, right
    return None


def _measured(metrics: Mapping[str, Any] | None, threshold: float) -> tuple[Mapping[str, Any], str] | None:
    """The most telling recorded split with per-class accuracies, and the sentences that report them."""
    for key, how, caveat in MEASURED:
        record = (metrics or {}).get(key)
        accuracy = record.get("accuracy") if isinstance(record, Mapping) else None
        if not isinstance(record, Mapping) or not isinstance(accuracy, Mapping):
            continue
        real, fake = _number(accuracy.get("real")), _number(accuracy.get("fake"))
        if real is None or fake is None:
            continue
        at = _number(record.get("threshold"))
        cut = "its threshold alone" if at is None or abs(at - threshold) < 1e-6 else f"a threshold of {_pct(at)}%"
        counts = [f"{record[k]:,} {what}" for k, what in (("n_real", "real photos"), ("n_ai", "AI images"))
                  if isinstance(record.get(k), int)]
        size = f"{record['n']:,} " if isinstance(record.get("n"), int) else ""
        said = (f"Measured on {size}{how}{' (' + ', '.join(counts) + ')' if counts else ''}, deciding by {cut}, it "
                f"called {_pct(real)}% of the real photos real and {_pct(fake)}% of the AI images AI.")
        return record, f"{said} {caveat}".strip()
    return None


def reliability_note(metrics: Mapping[str, Any] | None, threshold: float, band: tuple[float, float]) -> list[str]:
    """Sentences on how often the detector errs, from the metrics its checkpoint records (``config.json``
    ``metrics``), and what "Not sure" means. Nothing is invented: a figure the record lacks is not said."""
    note = ["The detector is sometimes wrong, and new kinds of generators can fool it."]
    measured = _measured(metrics, threshold)
    note.append(measured[1] if measured else
                "Its checkpoint records no measured error rates, so how often it errs is not known.")
    low, high = band
    if low < high:
        note.append(f"\u201cNot sure\u201d means the score fell inside the uncertain band ({_pct(low)}% to "
                    f"{_pct(high)}%), where its mistakes are most common.")
        selective = _selective(measured[0], band) if measured else None
        if selective is not None:
            coverage, right = selective
            note[-1] += (f" {_pct(1 - coverage)}% of the measured images fell inside it; on the others the detector "
                         f"was right {_pct(right)}% of the time.")
    else:
        note.append("This detector has no uncertain band: every score gets a yes-or-no answer.")
    return note


def explain(verdict: dict[str, Any], *, band: tuple[float, float] | None = None,
            metrics: Mapping[str, Any] | None = None, provenance: bool = True) -> dict[str, Any]:
    """Everything the result view shows about one verdict row (``Verdict.to_dict()``).

    ``band`` is the detector's uncertain band (default: none), ``metrics`` its checkpoint's recorded metrics and
    ``provenance`` whether it read the file's marks at all (if not, finding none is no finding).
    """
    if verdict.get("error"):
        err = verdict["error"]
        return {"headline": "Could not check this file", "tone": "error", "meaning": f"{err['message']} (code "
                f"{err['code']}).", "evidence": [], "percent": None, "bar": None, "note": [], "model_says": None}
    headline, tone = HEADLINES.get(verdict["verdict"], ("Result", "uncertain"))
    prob, threshold = verdict["ai_probability"], verdict["threshold"]
    band = band or (threshold, threshold)
    percent = None if prob is None else _pct(prob)
    decided = verdict.get("decided_by") or "model"
    model_says = None
    if decided.startswith("provenance:"):
        meaning = ("The file itself carries a mark of its origin, and that mark settles the verdict. Such marks are "
                   "strong evidence, but their absence proves nothing: most sites strip them.")
        if prob is not None:
            source = DECIDERS.get(decided.removeprefix("provenance:"), "provenance marks")
            model_says = (f"Decided by the file's {source}; the detector's score alone would say "
                          f"\u201c{HEADLINES[model_reading(prob, threshold, band)][0]}\u201d.")
    elif verdict["verdict"] == "uncertain":
        meaning = ("The detector's score is in the range where it is often wrong. Treat the image as unverified and "
                   "look for its source.")
    else:
        meaning = (f"The detector looked only at the pixels and estimates a {percent}% chance that they were made by "
                   "an AI generator. It is a statistical judgement, not proof: check the source of the image too.")
    signals = verdict.get("signals", [])
    return {"headline": headline, "tone": tone, "meaning": meaning, "percent": percent,
            "evidence": describe_evidence(signals, checked=provenance) if signals else [],
            "bar": None if prob is None else score_bar(prob, threshold, band, verdict["verdict"]),
            "note": reliability_note(metrics, threshold, band), "model_says": model_says}


__all__ = ["BAR_WIDTH", "DECIDERS", "HEADLINES", "MEASURED", "ScoreBar", "explain", "model_reading", "reliability_note",
           "score_bar"]
