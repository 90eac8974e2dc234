"""Each generator's metadata, written the way that writer writes it, reads as one strong AI signal naming the tool."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sentry_image.provenance import summarize
from sentry_image.provenance.metadata import read_metadata
from sentry_image.types import Hint, Strength
from tests.helpers import metadata_writers as w

pytestmark = pytest.mark.core

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
PROMPT, WORKFLOW = json.dumps(w.COMFY_PROMPT), json.dumps(w.COMFY_WORKFLOW)


def comfyui_webp_core() -> w.Written:  # SaveAnimatedWEBP: prompt in Model, extra_pnginfo keys from Make downwards
    return w.webp(exif=w.tiff({0x0110: w.ascii_tag("prompt:" + PROMPT), 0x010F: w.ascii_tag("workflow:" + WORKFLOW)},
                              big_endian=False))


def comfyui_webp_third_key() -> w.Written:  # a third extra_pnginfo key pushes the workflow down to 0x010D
    return w.webp(exif=w.tiff({0x0110: w.ascii_tag("prompt:" + PROMPT), 0x010F: w.ascii_tag('notes:{"a": 1}'),
                               0x010E: w.ascii_tag('extra:{"b": 2}'), 0x010D: w.ascii_tag("workflow:" + WORKFLOW)}))


def comfyui_saveimgadv_webp() -> w.Written:  # Save-as-WebP nodes: raw JSON in Make and ImageDescription
    return w.webp(exif=w.tiff({0x010F: w.ascii_tag(PROMPT), 0x010E: w.ascii_tag(WORKFLOW)}))


def comfyui_saver_jpeg() -> w.Written:  # image-saver nodes: "Prompt:"/"Workflow:" prefixes + A1111 UserComment
    return w.jpeg(exif=w.tiff({0x010F: w.ascii_tag("Prompt:" + PROMPT), 0x010E: w.ascii_tag("Workflow:" + WORKFLOW)},
                              {0x9286: w.user_comment(w.A1111)}))


def fooocus_jpeg() -> w.Written:  # Fooocus get_exif(): UserComment, Software and MakerNote, all in IFD0
    record = json.dumps({"full_prompt": ["a fox"], "base_model": "juggernautXL", "sampler": "dpmpp_2m_sde_gpu",
                         "guidance_scale": 4, "seed": "1", "version": "Fooocus v2.5.5"})
    return w.jpeg(exif=w.tiff({0x9286: w.ascii_tag(record), 0x0131: w.ascii_tag("Fooocus v2.5.5"),
                               0x927C: w.ascii_tag("fooocus")}, big_endian=False))


def drawthings_png() -> w.Written:  # Draw Things: XMP with CreatorTool, dc:description text, exif:UserComment JSON
    record = json.dumps({"c": "a red fox", "uc": "blurry", "seed": 7, "steps": 20, "sampler": "DPM++ 2M Karras",
                         "model": "sd_xl_base_1.0_f16.ckpt", "scale": 5, "size": "1024x1024", "v2": {"seed": 7}})
    packet = w.xmp_packet({"xmp:CreatorTool": "Draw Things"}, w.alt("dc:description", "a red fox\n-blurry\nSteps: 20, "
                          "Sampler: DPM++ 2M Karras, Guidance Scale: 5, Seed: 7") + w.alt("exif:UserComment", record))
    return w.png(xmp=packet)


WRITERS: dict[str, tuple[Callable[[], w.Written], str]] = {
    "comfyui-png": (lambda: w.png({"prompt": PROMPT, "workflow": WORKFLOW}), "ComfyUI"),
    "comfyui-png-nested": (lambda: w.png({"prompt": json.dumps(w.COMFY_NESTED_PROMPT),
                                          "workflow": json.dumps(w.COMFY_NESTED_WORKFLOW)}), "ComfyUI"),
    "comfyui-webp-core": (comfyui_webp_core, "ComfyUI"),
    "comfyui-webp-third-key": (comfyui_webp_third_key, "ComfyUI"),
    "comfyui-saveimgadv-webp": (comfyui_saveimgadv_webp, "ComfyUI"),
    "comfyui-saver-jpeg": (comfyui_saver_jpeg, "ComfyUI"),
    "a1111-png": (lambda: w.png({"parameters": w.A1111}), "A1111"),
    "a1111-jpeg-piexif": (lambda: w.jpeg(exif=w.tiff({}, {0x9286: w.user_comment(w.A1111)})), "A1111"),
    "a1111-webp-piexif": (lambda: w.webp(exif=w.tiff({}, {0x9286: w.user_comment(w.A1111)})), "A1111"),
    "a1111-jpeg-le": (lambda: w.jpeg(exif=w.tiff({}, {0x9286: w.user_comment(w.A1111, "utf-16-le")}, False)), "A1111"),
    "a1111-jpeg-bom": (lambda: w.jpeg(exif=w.tiff({}, {0x9286: w.user_comment(w.A1111, "utf-16-le", True)})),
                       "A1111"),
    "forge-png": (lambda: w.png({"parameters": w.A1111 + ", Version: f2.0.1v1.10.1-previous-313"}), "Forge"),
    "sdnext-jpeg": (lambda: w.jpeg(exif=w.tiff({}, {0x9286: w.user_comment(
        w.A1111 + ", Backend: Diffusers, App: SD.Next, Version: 2f1a3c4")})), "SD.Next"),
    "civitai-jpeg": (lambda: w.jpeg(exif=w.tiff({}, {0x9286: w.user_comment(
        w.A1111 + ', Civitai resources: [{"type":"checkpoint","modelVersionId":128713}]')})), "Civitai"),
    "invokeai-v3": (lambda: w.png({"invokeai_metadata": json.dumps({"generation_mode": "txt2img", "seed": 3,
                                                                     "positive_prompt": "a cat", "cfg_scale": 7}),
                                   "invokeai_workflow": json.dumps({"name": "", "nodes": [], "edges": []})}),
                    "InvokeAI"),
    "invokeai-v4-graph": (lambda: w.png({"invokeai_graph": json.dumps({"id": "g", "nodes": {}, "edges": []})}),
                          "InvokeAI"),
    "invokeai-v2": (lambda: w.png({"Dream": '"a castle [blurry]" -s 50 -S 1234 -W 512 -H 512 -C 7.5 -A k_lms',
                                   "sd-metadata": json.dumps({"app_id": "invoke-ai/InvokeAI", "app_version": "2.3.5",
                                                              "image": {"prompt": "a castle", "seed": 1234}})}),
                    "InvokeAI"),
    "novelai-png": (lambda: w.png(w.novelai_texts()), "NovelAI"),
    "novelai-stealth-gzip": (lambda: w.stealth(w.base("RGBA", (96, 80)), w.novelai_stealth_payload()), "NovelAI"),
    "novelai-stealth-plain": (lambda: w.stealth(w.base("RGBA", (96, 80)), w.novelai_stealth_payload(False),
                                                b"stealth_pnginfo"), "NovelAI"),
    "a1111-stealth-alpha": (lambda: w.stealth(w.base("RGBA", (96, 80)), w.A1111.encode(), b"stealth_pnginfo"),
                            "A1111"),
    "fooocus-png": (lambda: w.png({"parameters": json.dumps({"full_prompt": ["a fox"], "base_model": "juggernautXL",
                                                              "version": "Fooocus v2.5.5"}),
                                   "fooocus_scheme": "fooocus"}), "Fooocus"),
    "fooocus-a1111-scheme-png": (lambda: w.png({"parameters": w.A1111 + ', Version: "Fooocus v2.5.5"',
                                                "fooocus_scheme": "a1111"}), "Fooocus"),
    "fooocus-jpeg": (fooocus_jpeg, "Fooocus"),
    "swarmui-png": (lambda: w.png({"parameters": json.dumps({"sui_image_params": {"prompt": "a cat", "seed": 1,
                                                                                  "cfgscale": 7, "model": "sdxl"}})}),
                    "SwarmUI"),
    "swarmui-jpeg": (lambda: w.jpeg(exif=w.tiff({}, {0x9286: w.user_comment(json.dumps(
        {"sui_image_params": {"prompt": "a cat", "steps": 20}}), "utf-16-le")}, big_endian=False)), "SwarmUI"),
    "drawthings-png": (drawthings_png, "Draw Things"),
    "midjourney-png": (lambda: w.png({"Author": "someone", "Creation Time": "2024-05-01T10:00:00",
                                      "Description": "a lighthouse --ar 3:2 --v 6 Job ID: 2a1e4f0c-9b7d-4c1e-8f00-1",
                                      "XML:com.adobe.xmp": w.xmp_packet({
                                          "Iptc4xmpExt:DigitalSourceType": DST + "trainedAlgorithmicMedia",
                                          "Iptc4xmpExt:DigImageGUID": "2a1e4f0c-9b7d-4c1e-8f00-1"})}), "Midjourney"),
    "midjourney-webp-xmp": (lambda: w.webp(xmp=w.xmp_packet(
        {"Iptc4xmpExt:DigitalSourceType": DST + "trainedAlgorithmicMedia"},
        w.alt("dc:description", "a lighthouse --v 6 Job ID: 2a1e4f0c-9b7d-4c1e-8f00-1"))), "Midjourney"),
    "gemini-png": (lambda: w.png(xmp=w.xmp_packet({"Iptc4xmpExt:DigitalSourceType": DST + "trainedAlgorithmicMedia",
                                                   "photoshop:Credit": "Made with Google AI"})), "Made with Google AI"),
    "meta-ai-jpeg": (lambda: w.jpeg(xmp=w.xmp_packet({"photoshop:Credit": "Imagined with AI"}, (
        f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{DST}trainedAlgorithmicMedia"/>'))), "Imagined with AI"),
    "firefly-jpeg": (lambda: w.jpeg(xmp=w.xmp_packet({
        "xmp:CreatorTool": "Adobe Firefly", "Iptc4xmpExt:DigitalSourceType": DST + "trainedAlgorithmicMedia"})),
        "Adobe Firefly"),
    "iptc-ai-system-used": (lambda: w.jpeg(xmp=w.xmp_packet({"Iptc4xmpExt:AISystemUsed": "DALL-E 3"})), "DALL-E"),
    "iptc-iim-jpeg": (lambda: w.jpeg(app13=w.iim([(110, "Made with Google AI"),
                                                  (115, DST + "trainedAlgorithmicMedia")])), "Made with Google AI"),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_writer_reads_as_ai_naming_the_tool(writer: str) -> None:
    build, tool = WRITERS[writer]
    image, data = build()
    signals = read_metadata(image, data)
    ai = [s for s in signals if s.hint == Hint.AI]
    assert len(ai) == 1 and ai[0].name == "metadata" and ai[0].strength == Strength.STRONG, signals
    assert tool in ai[0].evidence
    assert not [s for s in signals if s.hint == Hint.REAL]  # a graph in Make is not a camera
    assert summarize(signals) == Hint.AI


@pytest.mark.parametrize("form", [
    f'<Iptc4xmpExt:DigitalSourceType>{DST}trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>',
    f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{DST}compositeWithTrainedAlgorithmicMedia"/>',
    "<Iptc4xmpExt:DigitalSourceType>trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>",
])
def test_digital_source_type_in_every_xmp_form(form: str) -> None:
    image, data = w.webp(xmp=w.xmp_packet(elements=form))
    signals = read_metadata(image, data)
    assert summarize(signals) == Hint.AI and "AlgorithmicMedia" in signals[0].evidence


@pytest.mark.parametrize(("term", "expected"), [
    ("trainedAlgorithmicMedia", Hint.AI), ("compositeWithTrainedAlgorithmicMedia", Hint.AI),
    ("algorithmicMedia", Hint.NONE), ("digitalCapture", Hint.REAL),
])
def test_digital_source_type_in_iim(term: str, expected: Hint) -> None:
    image, data = w.jpeg(app13=w.iim([(25, "landscape"), (115, DST + term)]))
    assert summarize(read_metadata(image, data)) == expected
