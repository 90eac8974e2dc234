"""Reasons that hold for the same kind of mutant in any module: one wording, referred to from every table."""

from __future__ import annotations

CODEC_CASE = "Python's codec lookup ignores case: an upper-case codec name is the same codec"
BIG_ENDIAN = "int.from_bytes reads big-endian by default since Python 3.11, the oldest the project supports"
NEGATIVE_RESHAPE = "numpy reads any negative size in reshape as 'the rest', as it reads -1"
INFO_DEFAULT = "Signal's strength defaults to Strength.INFO: leaving the argument out builds the same signal"
NAN_CASE = "float() reads 'NAN' as NaN, case-insensitively"
LAST_PIECE = "the last piece of rsplit('/') is the same whatever the number of splits (one, two or all)"
