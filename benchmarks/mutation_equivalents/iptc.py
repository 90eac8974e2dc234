"""iptc.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import BIG_ENDIAN, CODEC_CASE, LAST_PIECE

_CLOSING_AFTER_OPENING = ("a closing tag is only looked for after its opening tag, which starts at 0 or later and "
                          "is several characters long, so a found position is never 0: > 0, >= 1 and >= 0 agree")

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x_xmp_packets__mutmut_9": ('"UTF-8"', CODEC_CASE),
    "x_xmp_packets__mutmut_28": ("else -2", "any negative start skips the scan: the loop runs only from 0 up"),
    "x_xmp_packets__mutmut_45": ("if end <= 0:", _CLOSING_AFTER_OPENING),
    "x_xmp_packets__mutmut_46": ("if end < 1:", _CLOSING_AFTER_OPENING),
    "x_xmp_packets__mutmut_56": ('"UTF-8"', CODEC_CASE),
    "x_xmp_values__mutmut_26": ("if end > 0 else", _CLOSING_AFTER_OPENING),
    "x_xmp_values__mutmut_27": ("if end >= 1 else", _CLOSING_AFTER_OPENING),
    "x_xmp_facts__mutmut_3": ("facts.source_types = {t.rstrip", "the facts were just created: assigning to the empty "
                              "set and adding to it give the same set"),
    "x_xmp_facts__mutmut_8": ('rsplit("/", )[-1]', LAST_PIECE),
    "x_xmp_facts__mutmut_14": ('rsplit("/", 2)[-1]', LAST_PIECE),
    "x_xmp_facts__mutmut_59": ('rsplit("/", )[-1]', LAST_PIECE),
    "x_xmp_facts__mutmut_62": ('rsplit("/", 2)[-1]', LAST_PIECE),
    "x_xmp_facts__mutmut_80": ('or "XXXX")', "the fallback is used only when the matched field is empty, and neither "
                               "an empty string nor 'XXXX' names a generative edit"),
    "x__iim_block__mutmut_10": ("find(b\"8BIM\\x04\\x04\", None,", "bytes.find reads a None start as 0"),
    "x__iim_block__mutmut_24": ('return b"XXXX"', "a block not starting with the 0x1C marker holds no dataset: "
                                "b'XXXX' and b'' both read as none"),
    "x__iim_block__mutmut_31": ("if at + 7 < len(data)", "differs only when the name-length byte is the file's last "
                                "byte; then any name length puts the size past the end and the block is empty"),
    "x__iim_block__mutmut_33": ("< len(data) else 1", "a name length of 0 or 1 pads to the same 2 bytes, so the "
                                "size is read at the same place"),
    "x__iim_block__mutmut_47": ("pos + 4], )", BIG_ENDIAN),
    "x_iim_datasets__mutmut_21": ("pos + 5], )", BIG_ENDIAN),
    "x_iim_datasets__mutmut_46": ('"UTF-8"', CODEC_CASE),
}
