"""Surviving mutants judged equivalent: the mutation cannot change what the code does, so no test can kill it.

Read by ``benchmarks/mutation.py``, one submodule per mutated module (named as in its ``MODULES``). Each maps
mutmut's mutant name (``x_function__mutmut_N``, stable while the function is unchanged) to a piece of the mutation
text ``old -> new`` as the report prints it, and the reason: when the function changes and the number names another
mutation, the piece no longer matches and the survivor is reported again, to be judged afresh. Each reason says why
no input can tell the mutant from the original.
"""

from __future__ import annotations

from importlib import import_module


def equivalents(module: str) -> dict[str, tuple[str, str]]:
    """The judged survivors of one mutated module; none if it has no file here yet."""
    try:
        found = import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{module}":
            raise
        return {}
    table: dict[str, tuple[str, str]] = found.EQUIVALENT
    return table
