"""The C2PA signal's exact wording and its edge rules, on hand-made manifest stores and stubbed readers.

Covered: the evidence sentence (manifest count, claim generator v1/v2 with its version, signer, every action with
its source type, the validation state with its certificate-only or integrity failures, the fallbacks when a field
is missing); where failure codes come from; which part of the image an AI claim covers (a region, an ingredient
placed as a component, an unlinked manifest, the depth of the shortest path); the order manifests are walked in;
the format hint handed to c2pa-python; unreadable and remote stores; and the offline, trust-list settings.
Expected strings follow the module docstring and C2PA's manifest store JSON, worked out by hand.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import c2pa
import pytest

from sentry_image.provenance import c2pa as c2pa_module
from sentry_image.provenance.c2pa import TRUST_ANCHORS_ENV, interpret, read_c2pa
from sentry_image.types import Hint, Signal, Strength

pytestmark = pytest.mark.core  # c2pa-python is part of the core install

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI = {"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}
CAPTURE = {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}
NOTHING = "actions: none; validation unknown. No origin statement"


def actions(*acts: dict[str, Any], label: str = "c2pa.actions.v2") -> dict[str, Any]:
    return {"label": label, "data": {"actions": list(acts)}}


def man(*acts: dict[str, Any], ingredients: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A manifest with one actions assertion, the given ingredients and any other top-level fields."""
    return {"assertions": [actions(*acts)], "ingredients": ingredients or [], **fields}


def ingredient(label: str, title: str | None = None, relationship: str = "parentOf") -> dict[str, Any]:
    return {"active_manifest": label, "relationship": relationship, **({"title": title} if title else {})}


def declared(store: dict[str, Any]) -> str:
    """The part after "AI origin declared: " of an AI signal (checked to be strong AI from c2pa)."""
    signal = interpret(store)
    assert (signal.name, signal.hint, signal.strength) == ("c2pa", Hint.AI, Strength.STRONG), signal
    return signal.evidence.split(". AI origin declared: ", 1)[1]


# -- the evidence sentence -------------------------------------------------------------------------------------------
def test_a_store_with_no_fields_says_what_is_unknown() -> None:
    assert interpret({"manifests": {"urn:a": {}}}) == Signal(
        "c2pa", Hint.NONE, "C2PA: 1 manifest(s), claim generator unknown, signer unknown signer; " + NOTHING)
    assert interpret({"manifests": {}}) == Signal(
        "c2pa", Hint.NONE, "C2PA: 0 manifest(s), claim generator unknown, signer unknown signer; " + NOTHING)


def test_each_action_is_named_once_with_its_source_type_and_agent() -> None:
    vendor = {"action": "c2pa.created", "digitalSourceType": "https://vendor.example/terms/renderX"}
    edit = {"action": "c2pa.edited", "softwareAgent": {"name": "Editor 2"}}
    signal = interpret({"active_manifest": "urn:a", "validation_state": "Valid", "manifests": {"urn:a": man(
        {"action": "c2pa.opened"}, vendor, edit, {"action": "c2pa.opened"},
        claim_generator_info=[{"name": "Editor", "version": "2.1"}], signature_info={"issuer": "Signer Inc."})}})
    assert signal == Signal("c2pa", Hint.NONE, "C2PA: 1 manifest(s), claim generator Editor/2.1, signer Signer Inc.; "
                            "actions: c2pa.opened; c2pa.created renderX; c2pa.edited (softwareAgent Editor 2); "
                            "validation Valid. No origin statement")


def test_v1_claim_generator_comes_first_and_odd_info_entries_are_skipped() -> None:
    info = ["junk", {"version": "9"}, {"name": "Tool", "version": "3"}, {"name": "Lib"}]
    only_info = interpret({"manifests": {"urn:a": man(claim_generator_info=info)}})
    assert only_info.evidence.startswith("C2PA: 1 manifest(s), claim generator Tool/3, signer")
    both = interpret({"manifests": {"urn:a": man(claim_generator="Old App 1.0", claim_generator_info=info)}})
    assert both.evidence.startswith("C2PA: 1 manifest(s), claim generator Old App 1.0, signer")


def test_capture_evidence_names_the_action_and_every_certificate_problem() -> None:
    failures = [{"code": "signingCredential.untrusted"}, {"code": "timeStamp.untrusted"}]
    signal = interpret({"manifests": {"urn:a": man(CAPTURE)}, "validation_state": "Valid",
                        "validation_results": {"activeManifest": {"failure": failures}}})
    assert signal == Signal("c2pa", Hint.REAL, "C2PA: 1 manifest(s), claim generator unknown, signer unknown signer; "
                            "actions: c2pa.created digitalCapture; validation Valid (certificate problems only: "
                            "signingCredential.untrusted, timeStamp.untrusted). Capture declared: c2pa.created "
                            "digitalCapture", Strength.WEAK)


# -- failure codes ---------------------------------------------------------------------------------------------------
def test_tampering_lists_every_integrity_code_once_from_status_and_results() -> None:
    store = {"manifests": {"urn:a": man(AI)}, "validation_state": "Invalid",
             "validation_status": [{"code": "assertion.dataHash.mismatch"}, "junk"],
             "validation_results": {"activeManifest": {"failure": [
                 {"code": "signingCredential.untrusted"}, {"code": "claimSignature.mismatch"},
                 {"code": "assertion.dataHash.mismatch"}]}}}
    assert interpret(store) == Signal(
        "c2pa", Hint.NONE, "C2PA: 1 manifest(s), claim generator unknown, signer unknown signer; actions: "
        "c2pa.created trainedAlgorithmicMedia; validation Invalid. Tampered: assertion.dataHash.mismatch, "
        "claimSignature.mismatch")


def test_an_integrity_code_only_in_the_validation_status_is_tampering() -> None:
    store = {"manifests": {"urn:a": man(AI)}, "validation_status": [{"code": "assertion.hashedURI.mismatch"}]}
    assert interpret(store).evidence.endswith("validation unknown. Tampered: assertion.hashedURI.mismatch")


# -- generator rules and actions assertions --------------------------------------------------------------------------
def test_a_generator_only_claim_generator_counts_on_any_action() -> None:
    store = {"manifests": {"urn:a": man({"action": "c2pa.opened"}, claim_generator="Adobe_Firefly 1.0")}}
    assert declared(store) == "c2pa.opened: claim_generator 'Adobe_Firefly 1.0'"


def test_a_description_inside_the_parameters_states_ai_origin() -> None:
    act = {"action": "c2pa.created", "parameters": {"description": "AI generated image"}}
    assert declared({"manifests": {"urn:a": man(act)}}) == "c2pa.created: description 'AI generated image'"


def test_every_actions_assertion_of_a_manifest_is_read() -> None:
    manifest = {"assertions": [actions(AI, label="c2pa.actions"), actions({"action": "c2pa.edited"})]}
    signal = interpret({"manifests": {"urn:a": manifest}})
    assert "actions: c2pa.created trainedAlgorithmicMedia; c2pa.edited; validation" in signal.evidence
    assert signal.hint == Hint.AI


# -- which part of the image is AI -----------------------------------------------------------------------------------
def test_an_ai_manifest_the_active_one_does_not_link_is_named_as_such() -> None:
    store = {"active_manifest": "urn:a", "manifests": {"urn:a": man({"action": "c2pa.opened"}), "urn:b": man(AI)}}
    assert declared(store) == ("contains an AI-generated ingredient 'untitled' (not linked from the active "
                               "manifest): c2pa.created trainedAlgorithmicMedia")


def test_an_ai_component_placed_into_a_non_capture_is_a_composite() -> None:
    placed = {"action": "c2pa.placed"}
    store = {"active_manifest": "urn:a", "manifests": {
        "urn:a": man(placed, ingredients=[ingredient("urn:b", "sticker.png", "componentOf")]), "urn:b": man(AI)}}
    assert declared(store) == ("composite: contains an AI-generated ingredient 'sticker.png' (1 level(s) down) "
                               "placed into the image: c2pa.created trainedAlgorithmicMedia")


def test_an_ai_parent_of_a_capture_is_a_composite_and_of_an_edit_is_not() -> None:
    links = [ingredient("urn:b", "gen.png")]
    capture = {"active_manifest": "urn:a", "manifests": {"urn:a": man(CAPTURE, ingredients=links), "urn:b": man(AI)}}
    assert declared(capture) == ("composite: contains an AI-generated ingredient 'gen.png' (1 level(s) down) "
                                 "placed into the image: c2pa.created trainedAlgorithmicMedia")
    edit = {"active_manifest": "urn:a", "manifests": {"urn:a": man({"action": "c2pa.edited"}, ingredients=links),
                                                      "urn:b": man(AI)}}
    assert declared(edit) == "contains an AI-generated ingredient 'gen.png' (1 level(s) down): " \
                             "c2pa.created trainedAlgorithmicMedia"


def test_odd_ingredients_are_skipped_and_an_untitled_one_is_named_untitled() -> None:
    odd = ["junk", None, {"title": "no manifest"}, {"active_manifest": "urn:missing"}, ingredient("urn:b")]
    store = {"active_manifest": "urn:a", "manifests": {"urn:a": man({"action": "c2pa.opened"}, ingredients=odd),
                                                       "urn:b": man(AI)}}
    assert declared(store) == ("contains an AI-generated ingredient 'untitled' (1 level(s) down): c2pa.created "
                               "trainedAlgorithmicMedia")


def test_an_ingredient_reached_twice_keeps_its_shortest_depth() -> None:
    # urn:a -> urn:b -> urn:c and urn:a -> urn:c: the AI image is directly inside the active one.
    store = {"active_manifest": "urn:a", "manifests": {
        "urn:a": man({"action": "c2pa.opened"}, ingredients=[ingredient("urn:b", "b"), ingredient("urn:c", "c")]),
        "urn:b": man({"action": "c2pa.opened"}, ingredients=[ingredient("urn:c", "c again")]), "urn:c": man(AI)}}
    assert declared(store).startswith("contains an AI-generated ingredient 'c' (1 level(s) down)")


def test_a_cycle_of_ingredients_is_walked_once() -> None:
    store = {"active_manifest": "urn:a", "manifests": {
        "urn:a": man({"action": "c2pa.opened"}, ingredients=[ingredient("urn:b", "b")]),
        "urn:b": man(AI, ingredients=[ingredient("urn:a", "a")])}}
    assert declared(store).startswith("contains an AI-generated ingredient 'b' (1 level(s) down)")


def test_the_active_manifest_comes_first_then_the_others_by_label() -> None:
    # Inserted m, c, b; the labels sort b before c; the manifests' own text would sort c (Alpha) before b (Zed).
    store = {"active_manifest": "urn:m", "manifests": {"urn:m": man({"action": "c2pa.opened"}),
                                                       "urn:c": man({**AI, "softwareAgent": "Alpha"}),
                                                       "urn:b": man({**AI, "softwareAgent": "Zed"})}}
    signal = interpret(store)
    assert ("actions: c2pa.opened; c2pa.created trainedAlgorithmicMedia (softwareAgent Zed); c2pa.created "
            "trainedAlgorithmicMedia (softwareAgent Alpha); validation") in signal.evidence
    assert signal.evidence.endswith("(softwareAgent Zed)")  # the first AI claim found is the one explained


# -- read_c2pa: the format hint, unreadable and remote stores --------------------------------------------------------
NOT_A_CONTAINER = b"c2pa" * 100  # passes the gate's byte search; c2pa-python recognises no container in it


@pytest.mark.parametrize("fmt", ["PNG", "image/png", "GIF", "image/webp"])
def test_bytes_unlike_their_declared_format_are_unreadable(fmt: str) -> None:
    # c2pa-python takes the declared format as a hint when it recognises no container: it reports a parse error.
    [signal] = read_c2pa(NOT_A_CONTAINER, fmt)
    assert (signal.name, signal.hint, signal.strength) == ("c2pa", Hint.NONE, Strength.INFO)
    assert signal.evidence.startswith("C2PA: unreadable manifest: Other: asset could not be parsed: ")


@pytest.mark.parametrize("fmt", ["JPEG", "BMP", "unknown"])
def test_bytes_of_no_format_c2pa_defines_give_no_signal(fmt: str) -> None:
    assert read_c2pa(NOT_A_CONTAINER, fmt) == []


class FakeReader:
    """Stands in for ``c2pa.Reader``: raises ``error`` when built, else reads as a store whose JSON is ``text``."""

    def __init__(self, text: str = "", error: Exception | None = None) -> None:
        self.text, self.error = text, error

    def __call__(self, *_: object) -> FakeReader:
        if self.error is not None:
            raise self.error
        return self

    def __enter__(self) -> FakeReader:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def json(self) -> str:
        return self.text


@pytest.mark.parametrize(("error", "evidence"), [
    (ValueError(), "C2PA: unreadable manifest: ValueError"),
    (OSError("disk gone"), "C2PA: unreadable manifest: disk gone"),
    (c2pa.C2paError("Remote: manifest elsewhere"),
     "C2PA: remote manifest not fetched (offline): URL unknown (Remote: manifest elsewhere)"),
    (c2pa.C2paError("Remote: the url https://m.example/x.c2pa is not fetched"),
     "C2PA: remote manifest not fetched (offline): URL https://m.example/x.c2pa (Remote: the url "
     "https://m.example/x.c2pa is not fetched)"),
])
def test_reader_errors_become_one_info_signal(error: Exception, evidence: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c2pa, "Reader", FakeReader(error=error))
    assert read_c2pa(NOT_A_CONTAINER, "JPEG") == [Signal("c2pa", Hint.NONE, evidence, Strength.INFO)]


def test_a_store_that_is_not_a_json_object_reads_as_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c2pa, "Reader", FakeReader("[1, 2]"))
    assert read_c2pa(NOT_A_CONTAINER, "JPEG") == [Signal(
        "c2pa", Hint.NONE, "C2PA: 0 manifest(s), claim generator unknown, signer unknown signer; " + NOTHING)]


# -- trust list and offline settings ---------------------------------------------------------------------------------
PEM = "Issuer: Zürich Test Root\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_trust_list_text_comes_from_the_parameter_or_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(PEM, encoding="utf-8")
    caplog.set_level(logging.WARNING, logger=c2pa_module.__name__)
    monkeypatch.delenv(TRUST_ANCHORS_ENV, raising=False)
    assert c2pa_module._anchors(None) == ""
    assert c2pa_module._anchors(anchors) == PEM
    monkeypatch.setenv(TRUST_ANCHORS_ENV, "")
    assert c2pa_module._anchors(None) == ""
    monkeypatch.setenv(TRUST_ANCHORS_ENV, str(anchors))
    assert c2pa_module._anchors(None) == PEM
    assert caplog.records == []  # no list, or a readable one: nothing to warn about


def test_trust_list_is_utf8_whatever_the_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine whose locale is not UTF-8: text opened without an explicit encoding would be read as Latin-1.
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(PEM, encoding="utf-8")
    text_encoding = io.text_encoding
    monkeypatch.setattr(io, "text_encoding", lambda enc, *a: "latin-1" if enc is None else text_encoding(enc, *a))
    assert c2pa_module._anchors(anchors) == PEM


@pytest.mark.parametrize("content", [None, b"\xff\xfe not utf-8"])
def test_an_unreadable_trust_list_is_dropped_with_a_warning(content: bytes | None, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "anchors.pem"
    if content is not None:
        path.write_bytes(content)
    caplog.set_level(logging.WARNING, logger=c2pa_module.__name__)
    assert c2pa_module._anchors(str(path)) == ""
    [record] = caplog.records
    why = (f"[Errno 2] No such file or directory: '{path}'" if content is None else
           "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte")
    assert record.getMessage() == f"C2PA trust anchors {path} unreadable ({why}): reading without a trust list"


def test_reader_settings_never_fetch_and_trust_only_the_given_list(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    from_dict = c2pa.Settings.from_dict

    def record(config: dict[str, Any]) -> Any:
        seen.append(json.loads(json.dumps(config)))
        return from_dict(config)

    monkeypatch.setattr(c2pa.Settings, "from_dict", record)
    monkeypatch.setattr(c2pa_module, "_contexts", {})
    untrusted = c2pa_module._offline_context("")
    assert c2pa_module._offline_context("") is untrusted  # one context per trust list, made once
    c2pa_module._offline_context(PEM)
    offline = {"remote_manifest_fetch": False, "ocsp_fetch": False}
    assert seen == [{"verify": offline},
                    {"verify": {**offline, "verify_trust": True}, "trust": {"trust_anchors": PEM}}]
