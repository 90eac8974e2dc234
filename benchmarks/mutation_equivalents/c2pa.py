"""provenance/c2pa.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import CODEC_CASE, INFO_DEFAULT, LAST_PIECE

_NO_LABEL = ("an assertion without a label reads as '', 'None' or 'XXXX': none starts with 'c2pa.actions', so the "
             "assertion is skipped alike")
_NO_ACTION = ("an action without an 'action' name reads as '', 'None' or 'XXXX': none starts with 'c2pa.created', "
              "so it counts as no creation alike")
_NO_RELATIONSHIP = ("a missing relationship is only ever compared with 'componentOf' (_ai_part): '' and 'XXXX' both "
                    "differ from it, and the relationship appears in no evidence")
_NO_DESCRIPTION = ("a missing description is only matched against the description rule's pattern (never shown): "
                   "neither '' nor 'XXXX' matches it, so no rule hits alike")
_ENV_UNSET = ("os.environ.get gives None for an unset variable instead of '': 'not path' is true for both, so the "
              "trust list is '' alike")
_NO_MANIFESTS = ("the fallback label is only taken when the store has no manifest at all: then manifests.get of any "
                 "label is {}, there is nothing to sort and no AI claim, so the label is never used")

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__actions__mutmut_10": ('get("label", None)', _NO_LABEL),
    "x__actions__mutmut_12": ('get("label", )', _NO_LABEL),
    "x__actions__mutmut_15": ('get("label", "XXXX")', _NO_LABEL),
    "x__ai_part__mutmut_14": ('(0, "untitled", "XXXX")', _NO_RELATIONSHIP),
    "x__ingredient_links__mutmut_39": ('get("relationship") or "XXXX"', _NO_RELATIONSHIP),
    "x__anchors__mutmut_6": ("get(TRUST_ANCHORS_ENV, None)", _ENV_UNSET),
    "x__anchors__mutmut_8": ("get(TRUST_ANCHORS_ENV, )", _ENV_UNSET),
    "x__anchors__mutmut_15": ('encoding="UTF-8"', CODEC_CASE),
    "x__description__mutmut_15": ('isinstance(params, dict) else "XXXX")', _NO_DESCRIPTION),
    "x__description__mutmut_18": ('str(desc or "XXXX")', _NO_DESCRIPTION),
    "x__offline_context__mutmut_1": ('anchors: str = "XXXX"', "the default is never used: the only caller "
                                     "(read_c2pa) always passes the trust list text"),
    "x__rule_hits__mutmut_14": ('get("action", None)', _NO_ACTION),
    "x__rule_hits__mutmut_16": ('get("action", )', _NO_ACTION),
    "x__rule_hits__mutmut_19": ('get("action", "XXXX")', _NO_ACTION),
    "x__source_type__mutmut_21": ('rsplit("/", )[-1]', LAST_PIECE),
    "x__source_type__mutmut_30": ('rsplit("/", 2)[-1]', LAST_PIECE),
    "x_interpret__mutmut_15": ("next(iter(manifests), None)", _NO_MANIFESTS),
    "x_interpret__mutmut_19": ('next(iter(manifests), "XXXX")', _NO_MANIFESTS),
    "x_interpret__mutmut_115": ("Tampered: {', '.join(integrity)}\", )", INFO_DEFAULT),
    "x_interpret__mutmut_173": ('No origin statement", )', INFO_DEFAULT),
    "x_read_c2pa__mutmut_49": ('({message})", )', INFO_DEFAULT),
    "x_read_c2pa__mutmut_59": ('unreadable manifest: {message}", )', INFO_DEFAULT),
    "x_read_c2pa__mutmut_7": ('("/" in fmt) or True', (
        "c2pa-python (0.38.1) reads Pillow's format name as it reads the matching MIME type: checked for every name "
        "of _MIME, on bytes it recognises (it then ignores the hint) and on bytes it does not (the same parse error "
        "or 'unsupported'); every other Pillow format name reads as no hint, as _MIME's None does")),
}
