"""Counts in the words a person reads: "1 contact", "2 contacts", "1 property"."""

from __future__ import annotations

__all__ = ["counted"]

_IRREGULAR = {"property": "properties", "person": "people"}


def counted(n: float, noun: str) -> str:
    """`n` and `noun`, singular for exactly one: counted(1, "row") → "1 row"."""
    n = int(n) if float(n).is_integer() else n
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {_IRREGULAR.get(noun, noun + 's')}"
