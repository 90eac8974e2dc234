"""provenance/c2pa_gate.py: survivors judged equivalent."""

from __future__ import annotations

from .reasons import BIG_ENDIAN

_FIRST_PIECE = "the first piece of split(sep) is the same whatever the number of splits (one, two or all)"

EQUIVALENT: dict[str, tuple[str, str]] = {
    "x__jpeg__mutmut_40": ("data[pos + 2 : pos + 4], )", BIG_ENDIAN),
    "x__png__mutmut_17": ("data[pos : pos + 4], )", BIG_ENDIAN),
    "x__bmff__mutmut_8": ("data[pos : pos + 4], ), data", BIG_ENDIAN),
    "x__bmff__mutmut_24": ("data[pos + 8 : pos + 16], ), 16", BIG_ENDIAN),
    "x__bmff__mutmut_67": ('split(b"</x:xmpmeta>", )[0]', _FIRST_PIECE),
    "x__bmff__mutmut_71": ('split(b"</x:xmpmeta>", 2)[0]', _FIRST_PIECE),
    "x__jpeg__mutmut_87": ("hit.end() + 43]", "_jumbf only reads the first 40 bytes of what it is given: a 41st "
                           "byte is never looked at"),
    "x__png__mutmut_3": ("while pos - 12 <= size:", (
        "the extra rounds start with fewer than 12 bytes left, so the chunk's end (pos + 12 + its length) is past "
        "the data: the loop breaks into the same 'PNG ends before IEND' error the original raises on leaving it")),
    "x__webp__mutmut_51": ("data[pos - 8 : pos + 8 + length]", (
        "the 16 extra bytes are 8 before the chunk, its type 'XMP ' and its length: 'provenance' (10 bytes, none "
        "of them X, M, P or a space) can only reach into them through the length field, whose last byte would "
        "then be 'p': a chunk of over 1.8 GB, refused as running past the end of any smaller file, so only a "
        "file of 1.8 GB or more (18 times the default 100 MB input cap) could tell them apart")),
}
