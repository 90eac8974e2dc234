"""The IPTC ``digitalSourceType`` found where older C2PA writers put it, in the action's ``parameters``: a manifest
that declares AI origin only there still gives the strong AI hint, down to the detector's verdict."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

import c2pa
import pytest

from sentry_image import VerdictLabel, load_detector
from sentry_image.imaging import load_image
from sentry_image.provenance import c2pa as c2pa_module
from sentry_image.provenance import read_provenance, summarize
from sentry_image.provenance.c2pa import interpret
from sentry_image.types import Hint, Strength
from tests.helpers.builders import image_bytes, noise_image
from tests.provenance.test_c2pa import IPTC, manifest, store

pytestmark = pytest.mark.core  # c2pa-python is part of the core install


def in_parameters(source: str, action: str = "c2pa.created", **top: Any) -> dict[str, Any]:
    """An action whose source type sits only in ``parameters`` (``top``: other top-level fields)."""
    return {"action": action, "parameters": {"digitalSourceType": source}, **top}


@pytest.mark.parametrize("source", [
    IPTC + "trainedAlgorithmicMedia",
    IPTC + "trainedAlgorithmicMedia/",  # a trailing slash on the IRI
    "trainedAlgorithmicMedia",  # the bare term
    IPTC + "compositeWithTrainedAlgorithmicMedia",
])
def test_ai_source_type_only_in_parameters_is_a_strong_ai_hint(source: str) -> None:
    signal = interpret(store(manifest(in_parameters(source))))
    assert (signal.name, signal.hint, signal.strength) == ("c2pa", Hint.AI, Strength.STRONG)
    assert "AI origin declared" in signal.evidence and "AlgorithmicMedia" in signal.evidence


def test_an_empty_top_level_field_does_not_hide_the_parameters() -> None:
    action = in_parameters(IPTC + "trainedAlgorithmicMedia", digitalSourceType="")
    assert interpret(store(manifest(action))).hint == Hint.AI


def test_the_parameters_of_an_ingredient_manifest_count() -> None:
    active = manifest({"action": "c2pa.opened"}, generator="Editor")
    parent = manifest(in_parameters(IPTC + "trainedAlgorithmicMedia"), generator="Generator")
    assert interpret(store(active, parent)).hint == Hint.AI


@pytest.mark.parametrize(("action", "hint"), [
    (in_parameters(IPTC + "algorithmicMedia"), Hint.NONE),  # made without training data: no hint
    (in_parameters(IPTC + "digitalCapture"), Hint.REAL),
    ({"action": "c2pa.created", "parameters": "trainedAlgorithmicMedia"}, Hint.NONE),  # not an object: ignored
    ({"action": "c2pa.created", "parameters": {"description": "no source type"}}, Hint.NONE),
])
def test_other_parameters_give_their_own_reading(action: dict[str, Any], hint: Hint) -> None:
    assert interpret(store(manifest(action))).hint == hint


class FakeReader:
    """Stands in for ``c2pa.Reader``: returns a fixed manifest store, as c2pa-python's ``json()`` does."""

    def __init__(self, found: dict[str, Any]) -> None:
        self.found = found

    def __enter__(self) -> FakeReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        return None

    def json(self) -> str:
        return json.dumps(self.found)


def test_a_parameters_only_ai_claim_decides_the_detector_verdict(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    claimed = store(manifest(in_parameters(IPTC + "trainedAlgorithmicMedia"), generator="Generator"))
    monkeypatch.setattr(c2pa, "Reader", lambda *_: FakeReader(claimed))
    monkeypatch.setattr(c2pa_module, "has_c2pa_store", lambda _: True)
    path = tmp_path / "claimed.png"
    path.write_bytes(image_bytes(noise_image((96, 80), seed=11)))
    detector = load_detector()
    verdict = detector.detect(path)
    assert verdict.verdict is VerdictLabel.AI and verdict.decided_by == "provenance:c2pa"
    read = [s for s in verdict.signals if s.name == "c2pa"]
    assert read and (read[0].hint, read[0].strength) == (Hint.AI, Strength.STRONG)
    assert summarize(read_provenance(load_image(path), readers=["c2pa"])) == Hint.AI
