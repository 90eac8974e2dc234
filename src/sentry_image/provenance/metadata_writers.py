"""Recognise one text field as a generation record, and name the tool that wrote it.

Each writer has its own containers and keys (listed in the README's provenance table); what they share is that the
text is recognised by its content, never by its key alone: Fooocus writes JSON under A1111's ``parameters`` key,
ComfyUI custom nodes put their graphs in EXIF Make/ImageDescription, and a camera may write anything into a
UserComment. Product names count only in fields that name software (Software, Source, CreatorTool, Credit), so a
prompt that mentions a product ("in the style of Midjourney") is not that product.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Software / CreatorTool / Source / Credit strings that name an image generator (matched case-insensitively).
KNOWN_GENERATORS: tuple[str, ...] = (
    "NovelAI", "Stable Diffusion", "stable-diffusion-webui", "AUTOMATIC1111", "ComfyUI", "InvokeAI", "Fooocus",
    "Midjourney", "DALL-E", "DALL·E", "DALLE", "Adobe Firefly", "Imagen", "Gemini", "Leonardo.Ai", "Ideogram",
    "Draw Things", "DiffusionBee", "NightCafe", "Craiyon", "Dream by WOMBO", "Image Creator from Designer",
    "Bing Image Creator", "Microsoft Designer", "Stability AI", "DreamStudio", "SDXL", "FLUX.1", "Kandinsky",
    "Playground AI", "SwarmUI", "StableSwarmUI", "Easy Diffusion", "Made with Google AI", "SD.Next", "ChatGPT",
    "OpenAI", "Imagined with AI", "Meta AI", "Civitai",
)
#: Fields whose value is a statement about the producing software, so a product name there is a claim.
SOFTWARE_FIELDS = frozenset({"software", "source", "creatortool", "credit", "originatingprogram", "aisystemused"})

GENERATOR_RE = re.compile(r"\b(?:" + "|".join(re.escape(g) for g in KNOWN_GENERATORS) + r")\b", re.I)
MAX_SCAN = 1 << 20  # regexes look at the first MiB: a generation record's markers sit well inside it
MAX_JSON = 16 << 20  # ComfyUI workflows reach a few MiB; anything far larger is not metadata

_A1111_RE = re.compile(r"(?:^|\n)\s*Steps: \d+, (?:Sampler|CFG scale|Seed|Size|Model)\b")
_MIDJOURNEY_RE = re.compile(r"\bJob ID: [0-9a-f]{8}-[0-9a-f]{4}-", re.I)  # Midjourney's "Description"
_PREFIXED_RE = re.compile(r"^\s*([A-Za-z_][\w\-]{0,39}):\s*(?=[\[{])")  # ComfyUI's "<key>:{json}" EXIF form
_GEN_KEYS = frozenset({"seed", "steps", "sampler", "sampler_name", "cfg", "cfg_scale", "guidance_scale", "scale",
                       "negative_prompt", "uc", "scheduler", "base_model", "positive_prompt", "generation_mode",
                       "denoising_strength", "full_prompt", "noise_seed", "cfgscale", "negativeprompt"})
_NOVELAI_KEYS = frozenset({"uc", "n_samples", "noise_schedule", "request_type", "signed_hash", "sm", "sm_dyn",
                           "uncond_scale", "cfg_rescale", "v4_prompt", "legacy_v3_extend"})
_INVOKEAI_KEYS = frozenset({"invokeai_metadata", "invokeai_workflow", "invokeai_graph", "sd-metadata"})
#: A1111-family infotext markers that name the fork (checked in order; the first match names the tool).
_A1111_FORKS = (("App: SD.Next", "SD.Next"), ("Version: f", "Forge"), ("Civitai resources:", "Civitai"),
                ("Version: Fooocus", "Fooocus"), ("Fooocus", "Fooocus"))


def short(text: str, n: int = 100) -> str:
    """``text`` on one line, at most ``n`` characters."""
    text = " ".join(str(text)[: 4 * n].split())
    return text if len(text) <= n else text[: n - 3] + "..."


def parse_json(text: str) -> Any:
    """``text`` as JSON, or ``None``: not JSON, too large, or nested deeper than the parser's recursion limit."""
    text = text.strip()
    if not text.startswith(("{", "[")) or len(text) > MAX_JSON:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _is_prompt_graph(data: dict[str, Any]) -> bool:
    """ComfyUI's API graph: node id -> {class_type, inputs}; subgraph nodes keep ids like ``"12:5"``."""
    nodes = [v for v in data.values() if isinstance(v, dict)]
    return bool(nodes) and len(nodes) == len(data) and all("class_type" in v for v in nodes)


def _is_workflow(data: dict[str, Any]) -> bool:
    """ComfyUI's UI graph (0.4 and 1.0 schemas; nested graphs live under ``definitions.subgraphs``)."""
    return isinstance(data.get("nodes"), list) and any(k in data for k in ("links", "last_node_id", "definitions"))


def _describe_json(key: str, data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if _is_prompt_graph(data):
        return f"ComfyUI prompt graph in {key}"
    if _is_workflow(data):
        return f"ComfyUI workflow in {key}"
    if key.lower() in _INVOKEAI_KEYS or str(data.get("app_id", "")).startswith("invoke-ai"):
        return f"InvokeAI {key} record"
    if isinstance(data.get("sui_image_params"), dict):
        return f"SwarmUI sui_image_params in {key}"
    if str(data.get("version", "")).startswith("Fooocus"):
        return f"Fooocus generation settings in {key} (version '{short(str(data['version']), 30)}')"
    keys = {str(k).lower() for k in data}
    if "c" in keys and ("v2" in keys or {"sampler", "model", "size"} <= keys):
        return f"Draw Things generation settings in {key}"
    if len(_NOVELAI_KEYS & keys) >= 2 and ("scale" in keys or "steps" in keys):
        return f"NovelAI generation settings in {key}"
    nested = {str(k).lower() for v in data.values() if isinstance(v, dict) for k in v}
    hits = sorted(_GEN_KEYS & (keys | nested))
    if len(hits) >= 3:  # "seed" or "steps" alone occur in unrelated JSON
        return f"generation settings JSON in {key} ({', '.join(hits[:5])})"
    return None


def _dream(text: str) -> bool:
    """InvokeAI 2.x ``Dream`` command: a quoted prompt followed by ``-s <steps>`` and ``-S <seed>`` switches."""
    head = text[:4096]
    return head.lstrip().startswith('"') and bool(re.search(r"\s-s\s*\d+", head)) and bool(
        re.search(r"\s-S\s*\d+", head))


def describe_generation_text(key: str, text: str) -> str | None:
    """Why ``text`` (stored under ``key``) is an image-generation record, naming its writer; else ``None``."""
    if not isinstance(text, str) or not text.strip():
        return None
    scan = text[:MAX_SCAN]
    prefixed = _PREFIXED_RE.match(scan)
    if prefixed:  # ComfyUI: "prompt:{...}" / "workflow:{...}" (any case, any extra_pnginfo key) in EXIF strings
        name, data = prefixed.group(1), parse_json(text[prefixed.end():])
        if isinstance(data, dict) and (name.lower() in ("prompt", "workflow") or _describe_json(name, data)):
            return f"ComfyUI {name.lower()} graph in {key}"
    if _A1111_RE.search(scan):
        fork = next((tool for marker, tool in _A1111_FORKS if marker in scan), "")
        by = f" ({fork})" if fork else ""
        return f"A1111-style generation parameters{by} in {key}: {short(text)}"
    if _MIDJOURNEY_RE.search(scan):
        return f"Midjourney job in {key}: {short(text)}"
    if _dream(scan):
        return f"InvokeAI dream command in {key}: {short(text)}"
    found = _describe_json(key, parse_json(text))
    if found:
        return found
    if key.lower().split()[-1] in SOFTWARE_FIELDS and GENERATOR_RE.search(scan[:4096]):
        return f"{key} '{short(text, 60)}'"
    return None


__all__ = ["GENERATOR_RE", "KNOWN_GENERATORS", "SOFTWARE_FIELDS", "describe_generation_text", "parse_json", "short"]
