"""The demo page's plain wording of provenance evidence, fed by the provenance readers' own output (no server).

The wording reads the readers' evidence sentences back into facts, so every case here goes through the real reader
(``interpret`` on a manifest store, ``read_c2pa`` / ``read_metadata`` / ``read_watermark`` on a file): a change of
the readers' sentences that the wording no longer understands fails here instead of showing a wrong sentence.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from sentry_image.imaging import load_image
from sentry_image.provenance import read_provenance
from sentry_image.provenance.c2pa import interpret, read_c2pa
from sentry_image.provenance.metadata import read_metadata
from sentry_image.serve.evidence_text import ABSENT, SAYS, c2pa_text, describe_evidence, describe_signal
from sentry_image.types import Hint, Signal, Strength
from tests.helpers.builders import image_bytes, noise_image
from tests.helpers.paths import SHARED

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
EXAMPLES = SHARED / "examples"
PROVENANCE = SHARED / "provenance"
INTACT = "the content hashes are intact (the image was not changed after signing)"
CHANGED = "changed after signing, so what the record claims cannot be relied on"


def store(state: str, failures: tuple[str, ...] = (), source: str = "trainedAlgorithmicMedia") -> dict[str, Any]:
    """A one-manifest store as ``c2pa.Reader.json()`` gives it: an AI claim signed by "Example Labs"."""
    action = {"action": "c2pa.created", "digitalSourceType": IPTC + source, "softwareAgent": {"name": "Dreamer 2"}}
    manifest = {"claim_generator_info": [{"name": "Example_Studio", "version": "3.1"}],
                "signature_info": {"issuer": "Example Labs"},
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}]}
    return {"active_manifest": "urn:a", "manifests": {"urn:a": manifest}, "validation_state": state,
            "validation_results": {"activeManifest": {"failure": [{"code": c} for c in failures]}}}


def shared(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared data not found: {path}")
    return path


def test_certificate_only_problems_say_the_hashes_are_intact() -> None:
    signal = interpret(store("Invalid", ("signingCredential.untrusted", "signingCredential.expired")))
    text = c2pa_text(signal.evidence)
    assert text.startswith("Signed by Example Labs with Dreamer 2;")
    assert "the signing certificate is not on this server's trust list and has expired" in text
    assert INTACT in text and "changed after signing," not in text
    assert "an AI generator made the image (Dreamer 2)" in text


@pytest.mark.parametrize(("code", "says"), [
    ("assertion.dataHash.mismatch", "the image's content has changed since it was signed"),
    ("assertion.bmffHash.mismatch", "the image's content has changed since it was signed"),
    ("claimSignature.mismatch", "the signature does not match the signed record"),
    ("assertion.hashedURI.mismatch", "a part of the record was altered"),
])
def test_an_integrity_failure_says_the_content_changed_and_never_intact(code: str, says: str) -> None:
    # the certificate problem beside it must not make the page call the content intact
    text = c2pa_text(interpret(store("Invalid", ("signingCredential.untrusted", code))).evidence)
    assert says in text and CHANGED in text
    assert "intact" not in text and "an AI generator made" not in text  # a tampered record's claim is not repeated


def test_a_trusted_record_and_a_valid_unchecked_one_are_told_apart() -> None:
    trusted = c2pa_text(interpret(store("Trusted")).evidence)
    assert "the signer is on this server's trust list and the content hashes are intact" in trusted
    assert "not on" not in trusted
    valid = c2pa_text(interpret(store("Valid")).evidence)
    assert "check out" in valid and "not checked against a trust list" in valid and "is on" not in valid


def test_a_capture_claim_and_a_silent_record_are_worded() -> None:
    capture = c2pa_text(interpret(store("Valid", ("signingCredential.untrusted",), "digitalCapture")).evidence)
    assert "a camera captured the image" in capture and INTACT in capture
    silent = c2pa_text(interpret(store("Valid", (), "algorithmicMedia")).evidence)
    assert "does not say whether a camera or an AI made the image; it lists these steps: created." in silent


def test_the_bing_example_reads_as_signed_by_microsoft_with_intact_hashes() -> None:
    data = shared(EXAMPLES / "provenance-ms_bing_image_creator.jpg").read_bytes()
    [signal] = read_c2pa(data, "JPEG")
    assert "validation Invalid" in signal.evidence  # what the raw sentence says and the page must explain
    finding = describe_signal(signal.to_dict())
    assert finding.text.startswith("Signed by Microsoft Corporation with Image Creator from Designer; the signing "
                                   "certificate is not on this server's trust list")
    assert INTACT in finding.text and "Invalid" not in finding.text
    assert (finding.says, finding.weight, finding.tone) == ("points to AI generation", "strong evidence", "ai")
    assert finding.details == signal.evidence  # the technical sentence stays available


@pytest.mark.parametrize(("name", "says"), [
    ("c2pa-invalid/c2pars_XCA_datahash_mismatch.jpg", "the image's content has changed since it was signed"),
    ("c2pa-invalid/c2pars_E-sig-CA_signature_mismatch.jpg", "the signature does not match the signed record"),
])
def test_tampered_files_read_as_changed_after_signing(name: str, says: str) -> None:
    [signal] = read_c2pa(shared(PROVENANCE / name).read_bytes(), "JPEG")
    text = describe_signal(signal.to_dict()).text
    assert says in text and CHANGED in text and "intact" not in text


def test_remote_and_unreadable_records_say_they_were_not_checked() -> None:
    remote = read_c2pa(shared(PROVENANCE / "c2pa/c2pars_cloud_remote_manifest.jpg").read_bytes(), "JPEG")
    assert "did not fetch them, so they were not checked" in describe_signal(remote[0].to_dict()).text
    unreadable = read_c2pa(shared(PROVENANCE / "c2pa-invalid/c2pars_no_alg_unreadable.jpg").read_bytes(), "JPEG")
    assert "could not read (Other: unknown algorithm)" in describe_signal(unreadable[0].to_dict()).text


def test_a_file_without_marks_gets_one_nothing_found_line_per_check() -> None:
    data = image_bytes(noise_image((64, 48), seed=2))
    assert read_c2pa(data, "PNG") == []  # no manifest at all
    findings = describe_evidence([])
    assert [(f.source, f.text, f.tone) for f in findings] == [
        ("Content Credentials (C2PA)", ABSENT["c2pa"], "absent"),
        ("Invisible watermark", ABSENT["watermark"], "absent"),
        ("File metadata", ABSENT["metadata"], "absent")]
    assert describe_evidence([], checked=False) == []  # provenance not read: silence is no finding


def test_comfyui_metadata_names_comfyui_and_says_metadata_is_forgeable() -> None:
    signals = read_provenance(load_image(shared(EXAMPLES / "provenance-comfy_sdxlturbo_512.png")))
    findings = describe_evidence([s.to_dict() for s in signals])
    assert findings[0].text == ("The file's metadata names ComfyUI as the software that made it; metadata is easy "
                                "to remove or forge.")
    assert [f.source for f in findings[1:]] == ["Content Credentials (C2PA)", "Invisible watermark"]  # found none


def test_a_prompt_that_mentions_a_product_is_not_taken_for_the_software() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat in the style of Midjourney\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    image = Image.open(io.BytesIO(image_bytes(noise_image((64, 48)), pnginfo=info)))
    [signal] = read_metadata(image)
    text = describe_signal(signal.to_dict()).text
    assert text.startswith("The file's metadata names a Stable Diffusion web UI as the software")
    assert "Midjourney" not in text


def test_camera_exif_names_the_device_and_is_weighed_as_weak() -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D"
    image = Image.open(io.BytesIO(image_bytes(noise_image((64, 48)), "JPEG", exif=exif)))
    [signal] = read_metadata(image)
    finding = describe_signal(signal.to_dict())
    assert finding.text.startswith("The file's camera fields name the device: Canon EOS 5D.")
    assert finding.weight == "weak evidence: easy to forge, never overrides the detector" and finding.tone == "real"


def test_a_decoded_watermark_reports_its_bit_agreement() -> None:
    signals = read_provenance(load_image(shared(PROVENANCE / "watermark/wm_sdv1_fox_512.png")))
    [mark] = [s for s in signals if s.name == "watermark"]
    text = describe_signal(mark.to_dict()).text
    assert "Stable Diffusion's reference code" in text and "136 of 136 bits match" in text


def test_an_unknown_sentence_is_shown_as_written_and_a_failed_reader_says_so() -> None:
    odd = "C2PA: a wording this page has never seen"
    assert c2pa_text(odd) == odd
    failed = Signal("watermark", Hint.NONE, "watermark reader failed: ValueError: boom", Strength.INFO)
    assert describe_signal(failed.to_dict()).text == "This check failed on this file, so it says nothing either way."


def test_a_partly_read_watermark_is_worded_as_context_with_its_bit_counts() -> None:
    from sentry_image.provenance.watermark import PAYLOADS, read_watermark
    from tests.helpers.provenance import embed, jpeg_weakened, synthetic_photo

    weakened = jpeg_weakened(embed(synthetic_photo(512, seed=1), "sdv1", "compvis"), PAYLOADS[0])
    assert weakened is not None, "no JPEG quality from 90 down to 76 left a partial mark"
    [signal] = read_watermark(weakened[0])
    assert "partly read" in signal.evidence
    finding = describe_signal(signal.to_dict())
    agree = signal.evidence.split("partly read (", 1)[1].split("/", 1)[0]
    assert finding.text.startswith("The pixels may hold a weakened copy of the watermark")
    assert f"{agree} of 136 bits match, more than the 68 an unmarked image matches on average but fewer than the " \
           "100 needed to count as evidence" in finding.text
    assert (finding.weight, finding.says, finding.details) == ("context only", SAYS["none"], signal.evidence)


def test_a_sidecar_record_is_worded_and_says_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentry_image.provenance.c2pa import TRUST_ANCHORS_ENV
    from tests.helpers.provenance import IPTC_SOURCE, ManifestSigner, c2pa_manifest

    monkeypatch.delenv(TRUST_ANCHORS_ENV, raising=False)
    created = {"action": "c2pa.created", "digitalSourceType": IPTC_SOURCE + "trainedAlgorithmicMedia"}
    image, sidecar = ManifestSigner().sign(c2pa_manifest(created), no_embed=True)
    [signal] = read_c2pa(image, "JPEG", sidecar=sidecar)
    text = describe_signal(signal.to_dict()).text
    assert text.startswith("Signed by ") and "The record states that an AI generator made the image" in text
    assert text.endswith("These Content Credentials come from a separate .c2pa file kept beside the image, not from "
                         "inside the image file.")
    assert "sidecar" not in text  # the reader's technical word stays in the details
    odd = "C2PA: a wording this page has never seen (manifest store from a .c2pa sidecar file)"
    assert c2pa_text(odd) == odd  # not understood: shown whole, never half-translated
