"""C2PA interpretation rules on hand-made manifest stores, and the reader's behaviour on bad input."""

from __future__ import annotations

from typing import Any

import pytest

from sentry_image.provenance.c2pa import interpret, read_c2pa
from sentry_image.types import Hint, Strength

pytestmark = pytest.mark.core  # runs on the core install too (no torch, no extras)

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def manifest(*actions: dict[str, Any], generator: str = "Tool/1.0", issuer: str = "Signer Inc.") -> dict[str, Any]:
    return {"claim_generator_info": [{"name": generator}], "signature_info": {"issuer": issuer},
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": list(actions)}}]}


def store(*manifests: dict[str, Any], state: str = "Valid", failures: tuple[str, ...] = ()) -> dict[str, Any]:
    labels = [f"urn:c2pa:{i}" for i in range(len(manifests))]
    return {"active_manifest": labels[0], "manifests": dict(zip(labels, manifests, strict=True)),
            "validation_state": state,
            "validation_results": {"activeManifest": {"failure": [{"code": c} for c in failures]}}}


def created(source: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"action": "c2pa.created", **({"digitalSourceType": IPTC + source} if source else {}), **extra}


def test_ai_claim_in_an_ingredient_manifest_counts() -> None:
    active = manifest({"action": "c2pa.opened"}, generator="Photoshop")
    parent = manifest(created("trainedAlgorithmicMedia", softwareAgent={"name": "GPT-4o"}), generator="ChatGPT")
    signal = interpret(store(active, parent))
    assert (signal.hint, signal.strength) == (Hint.AI, Strength.STRONG)
    assert "GPT-4o" in signal.evidence and "Photoshop" in signal.evidence and "Signer Inc." in signal.evidence


def test_composite_edit_counts_as_ai() -> None:
    edit = {"action": "c2pa.edited", "digitalSourceType": IPTC + "compositeWithTrainedAlgorithmicMedia"}
    assert interpret(store(manifest(edit))).hint == Hint.AI


def test_plain_algorithmic_media_is_not_ai() -> None:
    signal = interpret(store(manifest(created("algorithmicMedia"))))
    assert (signal.hint, signal.strength) == (Hint.NONE, Strength.INFO)


def test_certificate_only_failures_keep_the_claim() -> None:
    failures = ("signingCredential.untrusted", "signingCredential.expired", "timeStamp.untrusted")
    signal = interpret(store(manifest(created("trainedAlgorithmicMedia")), state="Invalid", failures=failures))
    assert (signal.hint, signal.strength) == (Hint.AI, Strength.STRONG)
    assert "certificate problems only" in signal.evidence


@pytest.mark.parametrize("code", ["assertion.dataHash.mismatch", "claimSignature.mismatch",
                                  "assertion.hashedURI.mismatch", "ingredient.manifest.missing"])
def test_integrity_failure_means_tampered(code: str) -> None:
    signal = interpret(store(manifest(created("trainedAlgorithmicMedia")), state="Invalid",
                             failures=("signingCredential.untrusted", code)))
    assert (signal.hint, signal.strength) == (Hint.NONE, Strength.INFO)
    assert "Tampered" in signal.evidence and code in signal.evidence


def test_failure_in_an_ingredient_delta_is_seen() -> None:
    data = store(manifest(created("trainedAlgorithmicMedia")))
    data["validation_results"]["ingredientDeltas"] = [
        {"validationDeltas": {"failure": [{"code": "assertion.dataHash.mismatch"}]}}]
    assert interpret(data).hint == Hint.NONE


def test_capture_claim_is_weak_unless_trusted() -> None:
    untrusted = interpret(store(manifest(created("digitalCapture")), failures=("signingCredential.untrusted",)))
    assert (untrusted.hint, untrusted.strength) == (Hint.REAL, Strength.WEAK)
    trusted = interpret(store(manifest(created("digitalCapture")), state="Trusted"))
    assert (trusted.hint, trusted.strength) == (Hint.REAL, Strength.STRONG)


def test_ai_beats_capture_in_the_same_store() -> None:
    composite = store(manifest(created("digitalCapture")), manifest(created("trainedAlgorithmicMedia")))
    assert interpret(composite).hint == Hint.AI


def test_bing_image_creator_rule_without_source_type() -> None:
    bing = manifest(created(softwareAgent="Image Creator from Designer", description="AI Generated Image"),
                    generator="Microsoft_Responsible_AI/1.0")
    signal = interpret(store(bing, state="Invalid", failures=("signingCredential.invalid",)))
    assert (signal.hint, signal.strength) == (Hint.AI, Strength.STRONG)
    assert "Microsoft_Responsible_AI" in signal.evidence


def test_description_rule_needs_a_creation_action() -> None:
    # A note on an edit ("AI generated image removed") is not a statement of origin.
    edit = {"action": "c2pa.edited", "description": "AI generated image"}
    assert interpret(store(manifest(edit))).hint == Hint.NONE
    assert interpret(store(manifest(created(description="AI generated image")))).hint == Hint.AI


def test_empty_or_odd_store_never_raises() -> None:
    assert interpret({}).hint == Hint.NONE
    odd = {"manifests": {"x": {"assertions": [None, {"label": "c2pa.actions", "data": "junk"}]}},
           "validation_status": [None, {"code": "general.error"}]}
    assert interpret(odd).hint == Hint.NONE


def test_files_without_manifest_give_no_signal() -> None:
    assert read_c2pa(b"\xff\xd8\xff\xe0 plain jpeg bytes", "JPEG") == []


@pytest.mark.parametrize(("data", "fmt", "count"), [
    (b"\xff\xd8\xff\xeb\x00\x10JP\x00\x00c2pa garbage jumbf" + bytes(64), "JPEG", 1),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x10caBXc2pa" + bytes(40), "image/png", 1),
    # The gate's byte search lets these through; c2pa-python then finds no store it can read: nothing to say.
    (b"not an image at all but mentions c2pa", "BMP", 0),
    (b"c2pa" * 100, "unknown", 0),
])
def test_garbage_manifest_is_a_clean_info_signal(data: bytes, fmt: str, count: int) -> None:
    signals = read_c2pa(data, fmt)
    assert len(signals) == count, signals  # a vacuous all() below would pass on no signal at all
    assert all((s.name, s.hint, s.strength) == ("c2pa", Hint.NONE, Strength.INFO) for s in signals)
    assert all(s.evidence.startswith("C2PA: unreadable manifest") for s in signals)


def test_evidence_does_not_depend_on_manifest_order() -> None:
    # c2pa-python returns the manifests in a different order from one read to the next.
    active = manifest({"action": "c2pa.opened"}, generator="Editor")
    parent = manifest(created("trainedAlgorithmicMedia"), generator="Generator")
    forward = store(active, parent)
    backward = dict(forward, manifests=dict(reversed(list(forward["manifests"].items()))))
    assert interpret(forward) == interpret(backward)
    assert interpret(forward).evidence.index("c2pa.opened") < interpret(forward).evidence.index("c2pa.created")
