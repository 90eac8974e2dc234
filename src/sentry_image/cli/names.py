"""File names in machine-readable output: always valid UTF-8, and lossless for names that are not UTF-8.

On POSIX a file name is bytes; Python hands names that are not valid UTF-8 over with "surrogate escapes"
(U+DC80..U+DCFF), which no UTF-8 writer may emit, so a CSV row would not be UTF-8 and a JSON row would carry a
lone surrogate most parsers reject. Names are therefore written the way git quotes paths: a name that is valid
UTF-8 and does not start with ``"`` is written as it is (nearly every name); any other is written inside double
quotes with ``\\`` for a backslash, ``\\"`` for a quote and ``\\xNN`` for each byte that is not UTF-8.
:func:`unquote_name` turns a written name back into the exact bytes.
"""

from __future__ import annotations

import re
from typing import Any

_BYTE = re.compile(rb'\\(x[0-9a-f]{2}|\\|")')


def _needs_quotes(name: str) -> bool:
    if name.startswith('"'):
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def quote_name(name: str) -> str:
    """``name`` as written in CSV/JSON output (see the module's docstring)."""
    if not _needs_quotes(name):
        return name
    out = []
    for char in name:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a surrogate escape: one byte that was not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char in '\\"':
            out.append("\\" + char)
        elif 0xD800 <= code <= 0xDFFF:  # any other lone surrogate: its UTF-8 bytes, one escape each
            out.extend(f"\\x{b:02x}" for b in char.encode("utf-8", "surrogatepass"))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def unquote_name(written: str) -> bytes:
    """The exact bytes of a name written by :func:`quote_name`."""
    if not (len(written) >= 2 and written.startswith('"') and written.endswith('"')):
        return written.encode("utf-8")

    def one(match: re.Match[bytes]) -> bytes:
        token = match.group(1)
        return bytes([int(token[1:], 16)]) if token.startswith(b"x") else token

    return _BYTE.sub(one, written[1:-1].encode("utf-8"))


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "backslashreplace")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def printable_row(row: dict[str, Any]) -> dict[str, Any]:
    """A verdict row safe for any UTF-8 writer: the path quoted losslessly, other text (an error message may
    repeat the name) with undecodable bytes as ``\\xNN``."""
    return {**_clean(row), "path": quote_name(row["path"])}
