"""Helpers for the provenance tests: shared-data location and the invisible-watermark test oracle.

The oracle (``invisible-watermark`` 0.2.0, installed ``--no-deps``) is never imported by the package. Its
package ``__init__`` imports torch through the RivaGAN module, so only ``imwatermark/maxDct.py`` (the dwtDct
embedder: numpy, cv2 and pywt) is loaded, straight from its file.
"""

from __future__ import annotations

import importlib.util
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def shared_data() -> Path:
    """``$SENTRY_SHARED_DATA`` if set, else ``../shared/data`` beside the repository."""
    env = os.environ.get("SENTRY_SHARED_DATA")
    return Path(env) if env else (REPO / ".." / "shared" / "data").resolve()


def _load_oracle() -> Any:
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "maxDct.py"
    try:
        module_spec = importlib.util.spec_from_file_location("_imwatermark_maxdct", path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    except Exception:  # cv2 missing or the file moved: the oracle tests skip
        return None
    return module


_ORACLE = _load_oracle()

PAYLOAD_BITS = {
    "sdv1": list(np.unpackbits(np.frombuffer(b"StableDiffusionV1", dtype=np.uint8))),
    "sdv2": list(np.unpackbits(np.frombuffer(b"SDV2", dtype=np.uint8))),
    "sdxl": list(np.unpackbits(np.frombuffer(bytes.fromhex("B3EC907BB19E"), dtype=np.uint8))),
}


def synthetic_photo(size: int = 512, seed: int = 0) -> np.ndarray:
    """A deterministic RGB uint8 image: smooth colour gradients, a few soft shapes and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([120 + 80 * x, 90 + 60 * np.sin(3 * y + x), 140 - 70 * y], axis=-1)
    for _ in range(4):
        cx, cy, r = rng.uniform(0.2, 0.8, 3)
        base += 30 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.05 * r))[..., None] * rng.uniform(-1, 1, 3)
    base += rng.normal(0, 3, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def embed(rgb: np.ndarray, kind: str, recipe: str) -> Image.Image:
    """Mark ``rgb`` (uint8) the way a real pipeline does, using the oracle embedder.

    Recipes: ``compvis`` (RGB->BGR uint8, SD 1.x/2.x scripts), ``diffusers`` (RGB float32 0-255, no flip,
    rounded back), ``sgm`` (Stability generative-models: BGR float32, truncated back to uint8).
    """
    if _ORACLE is None:
        pytest.skip("invisible-watermark test oracle (with opencv) is not installed")
    bits = PAYLOAD_BITS[kind]
    encoder = _ORACLE.EmbedMaxDct(watermarks=bits, wmLen=len(bits), scales=[0, 36, 36], block=4)
    if recipe == "compvis":
        out = encoder.encode(np.ascontiguousarray(rgb[:, :, ::-1]))[:, :, ::-1]
    elif recipe == "diffusers":
        out = np.clip(encoder.encode(rgb.astype(np.float32)), 0, 255).round()
    elif recipe == "sgm":
        out = np.clip(encoder.encode(np.ascontiguousarray(rgb[:, :, ::-1].astype(np.float32)))[:, :, ::-1], 0, 255)
    else:
        raise ValueError(recipe)
    return Image.fromarray(np.ascontiguousarray(out).astype(np.uint8), "RGB")


def reencode(image: Image.Image, fmt: str, **save: Any) -> Image.Image:
    """``image`` after a save/load round trip (JPEG compression, PNG with metadata, ...)."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    out = Image.open(io.BytesIO(buf.getvalue()))
    out.load()
    return out


def jpeg_weakened(marked: Image.Image, payload: Any) -> tuple[Image.Image, Any] | None:
    """The first 4:4:4 JPEG of ``marked``, from quality 90 down to 76, whose best-agreeing decode is ``payload``
    partly read (between the partial floor and the threshold), with that decode; None if no quality does.

    JPEG weakens the mark step by step (q80 left 91 of 136 SD 1.x bits); the quality is looked for rather than
    fixed, so a codec that rounds a little differently moves the step, not the tests."""
    from sentry_image.provenance.watermark import decode_watermarks

    for quality in range(90, 75, -1):
        degraded = reencode(marked, "JPEG", quality=quality, subsampling=0)
        best = max(decode_watermarks(degraded), key=lambda d: d.agree / len(d.payload.bits))
        if best.payload == payload and best.partial:
            return degraded, best
    return None


# --- C2PA: real manifests signed in the tests by a throwaway CA (ES256), so validation runs for real. ---

IPTC_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/"


class ManifestSigner:
    """A root CA and a leaf signing certificate made once per session; ``ca_pem`` is a trust list for them."""

    def __init__(self) -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                              x509.NameAttribute(NameOID.ORGANIZATION_NAME, cn)])

        now = datetime.datetime.now(datetime.UTC)
        day = datetime.timedelta(days=1)
        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca = (x509.CertificateBuilder().subject_name(name("Sentry Test Root")).issuer_name(name("Sentry Test Root"))
              .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - day)
              .not_valid_after(now + 3650 * day)
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        leaf = (x509.CertificateBuilder().subject_name(name("Sentry Test Signer")).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(2).not_valid_before(now - day)
                .not_valid_after(now + 365 * day)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                               critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        self.ca_pem = ca.public_bytes(pem).decode()
        self._chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
        self._key = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def sign(self, manifest: dict[str, Any], image: bytes | None = None, *, ingredients: tuple[tuple[str, str,
             bytes], ...] = (), no_embed: bool = False, remote_url: str | None = None) -> tuple[bytes, bytes]:
        """Sign ``image`` (default: a small JPEG); returns (the output JPEG, the manifest store bytes).

        ``ingredients``: (label, relationship, JPEG bytes) each, referenced by the actions' ``ingredientIds``.
        """
        import c2pa

        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, self._chain, self._key, None))
        builder = c2pa.Builder(manifest)
        for label, relationship, data in ingredients:
            builder.add_ingredient({"title": f"{label}.jpg", "relationship": relationship, "label": label},
                                   "image/jpeg", io.BytesIO(data))
        if no_embed:
            builder.set_no_embed()
        if remote_url:
            builder.set_remote_url(remote_url)
        if image is None:
            buf = io.BytesIO()
            Image.new("RGB", (64, 48), (100, 120, 140)).save(buf, "JPEG")
            image = buf.getvalue()
        out = io.BytesIO()
        store = builder.sign(signer, "image/jpeg", io.BytesIO(image), out)
        return out.getvalue(), store


def c2pa_manifest(*actions: dict[str, Any], generator: str = "Test_App") -> dict[str, Any]:
    """A manifest definition for ``ManifestSigner.sign`` with one ``c2pa.actions.v2`` assertion."""
    return {"claim_generator_info": [{"name": generator, "version": "1.0"}],
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": list(actions)}}]}
