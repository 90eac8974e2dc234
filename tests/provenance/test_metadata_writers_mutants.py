"""One text field judged exactly: which writer a generation record names, the words of the finding, and what is
not a record.

Each case is a field as its writer stores it (A1111 infotext and its forks, ComfyUI's API and UI graphs, InvokeAI,
SwarmUI, Fooocus, Draw Things, NovelAI, Midjourney) or a near miss that must say nothing, with the finding worked
out from the recognition rules: a record is known by its content, a product name counts only in a field that names
software, and the scan, JSON and one-line limits are bounds a user can rely on. The cases come from faults the other
provenance tests let through (``benchmarks/mutation.py``).
"""

from __future__ import annotations

import json

import pytest

from sentry_image.provenance.metadata_writers import MAX_JSON, MAX_SCAN, describe_generation_text, parse_json, short

pytestmark = pytest.mark.core

INFOTEXT = "a duck\nNegative prompt: blur\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"
ONE_LINE = "a duck Negative prompt: blur Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"
GRAPH = {"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}


def describe(key: str, data: object) -> str | None:
    return describe_generation_text(key, json.dumps(data))


# --- short: one line, at most n characters -----------------------------------------------------------------------

def test_short_joins_whitespace_and_cuts_with_an_ellipsis() -> None:
    assert short(" a\n\tb  c ") == "a b c"
    assert short("x" * 100) == "x" * 100
    assert short("x" * 101) == "x" * 97 + "..."
    assert short("abcdef", 5) == "ab..." and short("abcde", 5) == "abcde"
    assert short(12345, 4) == "1..."  # type: ignore[arg-type]  # any value is shown as its text


def test_short_looks_at_four_times_n_characters() -> None:
    assert short("a" + " " * 38 + "b", 10) == "a b"  # 40 characters: all looked at
    assert short("a" + " " * 39 + "b", 10) == "a"  # the "b" is the 41st


# --- parse_json ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ('  {"a": 1}\n', {"a": 1}), ("[1, 2]", [1, 2]), ("1", None), ('"text"', None), ("{broken", None),
    ("nul", None), ("[" * 100_000 + "]" * 100_000, None),
])
def test_parse_json(text: str, expected: object) -> None:
    assert parse_json(text) == expected


def test_parse_json_size_limit() -> None:
    assert parse_json("[" + " " * (MAX_JSON - 2) + "]") == []
    assert parse_json("[" + " " * (MAX_JSON - 1) + "]") is None


# --- A1111 infotext and its forks ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "fork"), [
    ("", ""), (", Version: v1.10.1", ""), (", Version: f2.0.1v1.10.1", " (Forge)"),
    (", App: SD.Next, Version: f0e1d2", " (SD.Next)"),  # SD.Next is named before the "Version: f" of its hash
    (", Version: f2.0.1, Civitai resources: []", " (Forge)"), (", Civitai resources: []", " (Civitai)"),
    (', Version: Fooocus v2.5.5', " (Fooocus)"), (", Styles: Fooocus V2", " (Fooocus)"),
])
def test_a1111_infotext_names_its_fork(extra: str, fork: str) -> None:
    text = "a duck\nSteps: 20, Sampler: Euler a" + extra
    assert describe_generation_text("parameters", text) == (
        f"A1111-style generation parameters{fork} in parameters: a duck Steps: 20, Sampler: Euler a{extra}")


@pytest.mark.parametrize("line", ["Steps: 20, Sampler: x", "Steps: 5, CFG scale: 7", "  Steps: 1, Seed: 2",
                                  "Steps: 30, Size: 1x1", "Steps: 30, Model: m"])
def test_a1111_steps_line_starts_a_line(line: str) -> None:
    assert describe_generation_text("parameters", "prompt\n" + line) is not None
    assert describe_generation_text("parameters", line) is not None


@pytest.mark.parametrize("text", ["prompt, Steps: 20, Sampler: x", "Steps: many, Sampler: x", "Steps: 20 Sampler: x",
                                  "Steps: 20, Samplers: x", "Steps: 20, Scheduler: x", "steps: 20, sampler: x"])
def test_a1111_near_misses_say_nothing(text: str) -> None:
    assert describe_generation_text("parameters", text) is None


def test_a1111_marker_is_looked_for_in_the_first_mib() -> None:
    inside = "x" * (MAX_SCAN - 30) + "\nSteps: 20, Sampler: Euler a"  # 28 characters: ends at MAX_SCAN - 2
    outside = "x" * MAX_SCAN + "\nSteps: 20, Sampler: Euler a"
    assert (describe_generation_text("parameters", inside) or "").startswith("A1111-style generation parameters in")
    assert describe_generation_text("parameters", outside) is None


# --- Midjourney and InvokeAI's dream command -----------------------------------------------------------------------

def test_midjourney_job_id() -> None:
    text = "a lighthouse --v 6 Job ID: 2a1e4f0c-9b7d-4c1e-8f00-1"
    assert describe_generation_text("Description", text) == f"Midjourney job in Description: {text}"
    assert describe_generation_text("Description", text.upper()) is not None
    assert describe_generation_text("Description", "Job ID: 2a1e4f0c9b7d") is None


@pytest.mark.parametrize(("text", "found"), [
    ('"a castle" -s 50 -S 1234', True), ('  "a castle" -s50 -S1234 -W 512', True),
    ('"a castle" -S 1234 -s 50', True), ('a castle -s 50 -S 1234', False), ('"a castle" -s 50', False),
    ('"a castle" -S 1234', False), ('"a castle"-s 50 -S 1234', False), ('"a castle" -s x -S 1234', False),
])
def test_invokeai_dream_command(text: str, found: bool) -> None:
    expected = f"InvokeAI dream command in Dream: {short(text)}" if found else None
    assert describe_generation_text("Dream", text) == expected


def test_dream_switches_are_looked_for_in_the_first_4096_characters() -> None:
    head = '"' + "x" * 4080 + '" -s 5'  # 4087 characters
    assert describe_generation_text("Dream", head + " " * 4 + " -S 9") is not None  # the seed's digit is the 4096th
    assert describe_generation_text("Dream", head + " " * 5 + " -S 9") is None  # ... the 4097th


# --- ComfyUI -------------------------------------------------------------------------------------------------------

def test_comfyui_prompt_graph_and_workflow() -> None:
    assert describe("prompt", GRAPH) == "ComfyUI prompt graph in prompt"
    assert describe("prompt", {"10:3": {"class_type": "KSampler"}, "10:4": {"class_type": "VAEDecode"}}) == (
        "ComfyUI prompt graph in prompt")
    for extra in ({"links": []}, {"last_node_id": 3}, {"definitions": {}}):
        assert describe("workflow", {"nodes": [], **extra}) == "ComfyUI workflow in workflow"


@pytest.mark.parametrize("data", [
    {}, {"3": {"class_type": "KSampler"}, "version": 1}, {"3": {"class_type": "KSampler"}, "4": {"inputs": {}}},
    {"nodes": []}, {"nodes": {}, "links": []}, {"nodes": "x", "last_node_id": 1},
])
def test_comfyui_lookalikes_are_not_graphs(data: dict[str, object]) -> None:
    assert describe("prompt", data) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("prompt:" + json.dumps(GRAPH), "ComfyUI prompt graph in Model"),
    ("Workflow: " + json.dumps({"nodes": [], "links": []}), "ComfyUI workflow graph in Model"),
    ("  PROMPT:{}", "ComfyUI prompt graph in Model"),  # the prompt/workflow keys name a graph whatever it holds
    ("Workflow:{}", "ComfyUI workflow graph in Model"),
    ("extra:" + json.dumps(GRAPH), "ComfyUI extra graph in Model"),  # any key, if its JSON is a record
    ('notes:{"a": 1}', None), ("prompt:[1, 2]", None), ("prompt: not json", None), ("1prompt:{}", None),
    ("p" * 40 + ':{"a": 1}', None), ("p" * 41 + ":" + json.dumps(GRAPH), None),
])
def test_comfyui_prefixed_exif_strings(text: str, expected: str | None) -> None:
    assert describe_generation_text("Model", text) == expected


def test_prefixed_key_may_be_forty_characters() -> None:
    assert describe_generation_text("Make", "k" * 40 + ":" + json.dumps(GRAPH)) == f"ComfyUI {'k' * 40} graph in Make"


# --- the other JSON records ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "data", "expected"), [
    ("invokeai_metadata", {"a": 1}, "InvokeAI invokeai_metadata record"),
    ("InvokeAI_Graph", {"a": 1}, "InvokeAI InvokeAI_Graph record"),
    ("sd-metadata", {"a": 1}, "InvokeAI sd-metadata record"),
    ("Comment", {"app_id": "invoke-ai/InvokeAI"}, "InvokeAI Comment record"),
    ("Comment", {"app_id": "my-invoke-ai"}, None),
    ("parameters", {"sui_image_params": {"prompt": "a"}}, "SwarmUI sui_image_params in parameters"),
    ("parameters", {"sui_image_params": "a"}, None),
    ("parameters", {"version": "Fooocus v2.5.5"},
     "Fooocus generation settings in parameters (version 'Fooocus v2.5.5')"),
    ("parameters", {"version": "Fooocus " + "x" * 40}, "Fooocus generation settings in parameters (version 'Fooocus "
                                                       + "x" * 19 + "...')"),
    ("parameters", {"version": "v2 Fooocus"}, None),
    ("Comment", {"C": "a fox", "v2": {}}, "Draw Things generation settings in Comment"),
    ("Comment", {"c": "a fox", "sampler": 1, "model": 2, "size": 3}, "Draw Things generation settings in Comment"),
    ("Comment", {"c": "a fox", "sampler": 1, "model": 2}, None),
    ("Comment", {"sampler": 1, "model": 2, "size": 3, "v2": {}}, None),
    ("Comment", {"uc": "x", "sm": True, "scale": 5}, "NovelAI generation settings in Comment"),
    ("Comment", {"UC": "x", "n_samples": 1, "Steps": 28}, "NovelAI generation settings in Comment"),
    ("Comment", {"uc": "x", "scale": 5}, None),
    ("Comment", {"sm": True, "sm_dyn": True, "width": 5}, None),
])
def test_json_records_name_their_writer(key: str, data: dict[str, object], expected: str | None) -> None:
    assert describe(key, data) == expected


@pytest.mark.parametrize(("data", "expected"), [
    ({"seed": 1, "steps": 2, "cfg": 3}, "generation settings JSON in Comment (cfg, seed, steps)"),
    ({"Seed": 1, "STEPS": 2, "note": "x"}, None),  # two settings are not enough
    ({"image": {"seed": 1, "steps": 2}, "scheduler": "k"}, "generation settings JSON in Comment (scheduler, seed, "
                                                            "steps)"),  # one level of nesting counts
    ({"a": {"b": {"seed": 1, "steps": 2, "cfg": 3}}}, None),  # two levels do not
    ({k: 1 for k in ("seed", "steps", "cfg", "scale", "sampler", "uc", "scheduler")},
     "generation settings JSON in Comment (cfg, sampler, scale, scheduler, seed)"),  # the first five, sorted
])
def test_generic_generation_settings(data: dict[str, object], expected: str | None) -> None:
    assert describe("Comment", data) == expected


def test_json_that_is_not_an_object_says_nothing() -> None:
    assert describe("parameters", [{"seed": 1, "steps": 2, "cfg": 3}]) is None
    assert describe_generation_text("parameters", "   ") is None
    assert describe_generation_text("parameters", None) is None  # type: ignore[arg-type]


# --- product names: only in fields that name software --------------------------------------------------------------

@pytest.mark.parametrize(("key", "text", "expected"), [
    ("Software", "NovelAI", "Software 'NovelAI'"),
    ("EXIF Software", "made by ComfyUI", "EXIF Software 'made by ComfyUI'"),
    ("XMP CreatorTool", "Adobe Firefly", "XMP CreatorTool 'Adobe Firefly'"),
    ("IPTC Credit", "Made with Google AI", "IPTC Credit 'Made with Google AI'"),
    ("Source", "midjourney", "Source 'midjourney'"),
    ("IPTC OriginatingProgram", "DALL-E 3", "IPTC OriginatingProgram 'DALL-E 3'"),
    ("XMP AISystemUsed", "FLUX.1 [dev]", "XMP AISystemUsed 'FLUX.1 [dev]'"),
    ("Description", "made with NovelAI", None), ("Software", "NovelAIx", None), ("Software", "GIMP", None),
])
def test_generator_names_count_only_in_software_fields(key: str, text: str, expected: str | None) -> None:
    assert describe_generation_text(key, text) == expected


def test_software_value_is_shown_on_sixty_characters_and_searched_in_4096() -> None:
    text = "Stable Diffusion " + "v" * 60
    assert describe_generation_text("Software", text) == f"Software '{text[:57]}...'"
    assert describe_generation_text("Software", "x" * 4091 + " SDXL") == f"Software '{'x' * 57}...'"  # 4096 long
    assert describe_generation_text("Software", "x" * 4092 + " SDXL") is None  # "SDXL" ends past 4096
