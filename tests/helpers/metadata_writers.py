"""Build image files the way each generator writes its metadata: the same containers, keys, encodings, byte orders.

Only Pillow and hand-built bytes are used (no piexif, no exiftool), so each builder states the exact layout: a
TIFF/EXIF block with a chosen byte order (piexif writes big-endian, ImageSharp little-endian), a JPEG APP13
Photoshop/IIM segment, XMP packets in the attribute and element forms, and LSB-hidden stealth payloads.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
from typing import Any

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

Written = tuple[Image.Image, bytes]  # the opened image and the file's bytes, as read_metadata takes them

ASCII, UNDEFINED = 2, 7
A1111 = ("photo of a duck\nNegative prompt: monochrome\nSteps: 15, Sampler: UniPC, CFG scale: 5, Seed: 235284042, "
         "Size: 512x400, Model hash: c0d1994c73, Model: realisticVision")
COMFY_PROMPT = {"3": {"inputs": {"seed": 1, "steps": 20, "model": ["4", 0]}, "class_type": "KSampler"},
                "4": {"inputs": {"ckpt_name": "sd15.safetensors"}, "class_type": "CheckpointLoaderSimple"},
                "9": {"inputs": {"images": ["8", 0]}, "class_type": "SaveImage"}}
COMFY_WORKFLOW = {"last_node_id": 9, "last_link_id": 9, "nodes": [{"id": 3, "type": "KSampler"}],
                  "links": [[1, 4, 0, 3, 0, "MODEL"]], "version": 0.4}
# A workflow using the 1.0 schema's nested graphs: subgraph nodes run as "<outer id>:<inner id>" in the prompt.
COMFY_NESTED_PROMPT = {"10:3": {"inputs": {"seed": 2}, "class_type": "KSampler"},
                       "10:4": {"inputs": {"ckpt_name": "flux.safetensors"}, "class_type": "CheckpointLoaderSimple"}}
COMFY_NESTED_WORKFLOW = {"version": 1, "state": {"lastNodeId": 10}, "nodes": [{"id": 10, "type": "a1b2-subgraph"}],
                         "links": [], "definitions": {"subgraphs": [{"id": "a1b2-subgraph", "nodes": [
                             {"id": 3, "type": "KSampler"}], "links": []}]}}


def base(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, (90, 120, 150)).convert(mode)


def open_bytes(data: bytes) -> Written:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image, data


def save(image: Image.Image, fmt: str, **options: Any) -> Written:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return open_bytes(buf.getvalue())


def tiff(ifd0: dict[int, tuple[int, bytes]], exif_ifd: dict[int, tuple[int, bytes]] | None = None,
         big_endian: bool = True) -> bytes:
    """An EXIF block (``Exif\\0\\0`` + TIFF) with IFD0 and an optional Exif IFD; values are (type, raw bytes)."""
    order = ">" if big_endian else "<"
    ifds = [dict(ifd0)]
    if exif_ifd:
        ifds[0][0x8769] = (4, b"")  # LONG offset, filled in below
        ifds.append(dict(exif_ifd))
    sizes = [2 + 12 * len(ifd) + 4 for ifd in ifds]
    starts = [8, 8 + sizes[0] + sum(len(v) for _, v in ifds[0].values() if len(v) > 4)]
    blocks = []
    for index, ifd in enumerate(ifds):
        data_at = starts[index] + sizes[index]
        entries, extra = b"", b""
        for tag in sorted(ifd):
            kind, value = ifd[tag]
            if tag == 0x8769:
                value = struct.pack(order + "I", starts[1])
            count = len(value) if kind in (ASCII, UNDEFINED, 1) else len(value) // 4
            if len(value) <= 4:
                field = value.ljust(4, b"\x00")
            else:
                field = struct.pack(order + "I", data_at + len(extra))
                extra += value
            entries += struct.pack(order + "HHI", tag, kind, count) + field
        blocks.append(struct.pack(order + "H", len(ifd)) + entries + b"\x00" * 4 + extra)
    return b"Exif\x00\x00" + (b"MM" if big_endian else b"II") + struct.pack(order + "HI", 42, 8) + b"".join(blocks)


def ascii_tag(text: str) -> tuple[int, bytes]:
    return ASCII, text.encode("utf-8") + b"\x00"


def user_comment(text: str, encoding: str = "utf-16-be", bom: bool = False) -> tuple[int, bytes]:
    """UserComment as piexif (``UNICODE\\0`` + UTF-16BE), ImageSharp (UTF-16LE) or a BOM-led writer stores it."""
    prefix = b"UNICODE\x00" + ((b"\xfe\xff" if encoding.endswith("be") else b"\xff\xfe") if bom else b"")
    return UNDEFINED, prefix + text.encode(encoding)


def jpeg(exif: bytes = b"", xmp: str = "", app13: bytes = b"", comment: bytes = b"") -> Written:
    options: dict[str, Any] = {"quality": 90}
    if exif:
        options["exif"] = exif
    if xmp:
        options["xmp"] = xmp.encode()
    if comment:
        options["comment"] = comment
    buf = io.BytesIO()
    base().save(buf, format="JPEG", **options)
    data = buf.getvalue()
    if app13:  # Pillow cannot write APP13: splice it in right after SOI
        segment = b"Photoshop 3.0\x00" + app13
        data = data[:2] + b"\xff\xed" + struct.pack(">H", len(segment) + 2) + segment + data[2:]
    return open_bytes(data)


def webp(exif: bytes = b"", xmp: str = "") -> Written:
    options: dict[str, Any] = {"quality": 90}
    if exif:
        options["exif"] = exif
    if xmp:
        options["xmp"] = xmp.encode()
    return save(base(), "WEBP", **options)


def png(texts: dict[str, str] | None = None, xmp: str = "", exif: bytes = b"",
        image: Image.Image | None = None) -> Written:
    info = PngInfo()
    for key, value in (texts or {}).items():
        info.add_text(key, value)
    if xmp:
        info.add_itxt("XML:com.adobe.xmp", xmp)
    options: dict[str, Any] = {"pnginfo": info}
    if exif:
        options["exif"] = exif
    return save(image if image is not None else base(), "PNG", **options)


def xmp_packet(attributes: dict[str, str] | None = None, elements: str = "") -> str:
    """An XMP packet: simple properties as attributes of one rdf:Description, structured ones as elements."""
    attrs = "".join(f' {k}="{_escape(v)}"' for k, v in (attributes or {}).items())
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
            'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
            'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" '
            f'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"{attrs}>{elements}'
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def alt(prop: str, text: str) -> str:
    """A language-alternative element (dc:description, dc:title, ...), as Adobe's XMP toolkit writes it."""
    return f'<{prop}><rdf:Alt><rdf:li xml:lang="x-default">{_escape(text)}</rdf:li></rdf:Alt></{prop}>'


def iim(datasets: list[tuple[int, str]]) -> bytes:
    """A Photoshop image-resource block holding one IIM resource (0x0404) with record-2 datasets."""
    records = b"\x1c\x02\x00\x00\x02\x00\x04"  # 2:00 RecordVersion 4
    for dataset, text in datasets:
        raw = text.encode("utf-8")
        records += bytes([0x1C, 2, dataset]) + struct.pack(">H", len(raw)) + raw
    padded = records + b"\x00" * (len(records) % 2)
    return b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(records)) + padded


def stealth(image: Image.Image, payload: bytes, magic: bytes = b"stealth_pngcomp") -> Written:
    """NovelAI's layout: alpha set to 255, then magic + 32-bit bit length + payload in the alpha LSBs, columns first."""
    arr = np.array(image.convert("RGBA"))
    bits = np.unpackbits(np.frombuffer(magic + (len(payload) * 8).to_bytes(4, "big") + payload, dtype=np.uint8))
    alpha = arr[:, :, 3].T.reshape(-1).copy()
    alpha[:] = 0xFF
    alpha[: bits.size] = 0xFE | bits
    arr[:, :, 3] = alpha.reshape(arr.shape[1], arr.shape[0]).T
    return save(Image.fromarray(arr, "RGBA"), "PNG")


def novelai_texts(prompt: str = "1girl, lighthouse, dusk") -> dict[str, str]:
    """The PNG text chunks NovelAI writes (Title, Description, Software, Source, Generation time, Comment)."""
    comment = {"prompt": prompt, "steps": 28, "height": 832, "width": 1216, "scale": 5.0, "uncond_scale": 0.0,
               "cfg_rescale": 0.0, "seed": 123456789, "n_samples": 1, "noise_schedule": "karras",
               "sampler": "k_euler_ancestral", "sm": False, "sm_dyn": False, "uc": "lowres, bad anatomy",
               "request_type": "PromptGenerateRequest", "signed_hash": "c2lnbmVk"}
    return {"Title": "NovelAI generated image", "Description": prompt, "Software": "NovelAI",
            "Source": "NovelAI Diffusion V4.5 4BDE2A90", "Generation time": "5.1", "Comment": json.dumps(comment)}


def novelai_stealth_payload(compress: bool = True) -> bytes:
    texts = {k: v for k, v in novelai_texts().items() if k != "Title"}  # NovelAI drops the static Title
    raw = json.dumps(texts).encode()
    return gzip.compress(raw) if compress else raw
