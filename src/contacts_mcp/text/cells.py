"""How a CSV cell of ours holds a list of segment names, so that any legal name comes
back exactly: "Newsletter; VIP" where every name allows it (what people write and read),
otherwise a JSON array (`["A; B", " padded"]`), which no separated list can be mistaken
for: a plain list whose first name starts with "[" is written as JSON too."""

from __future__ import annotations

import json
from collections.abc import Iterable

__all__ = ["SEGMENT_SEPARATOR", "segment_names_of", "segments_cell"]

SEGMENT_SEPARATOR = ";"


def _plain(name: str) -> bool:
    return bool(name) and SEGMENT_SEPARATOR not in name and name == name.strip()


def segments_cell(names: Iterable[str]) -> str:
    """The cell for these segment names, in this order."""
    listed = list(names)
    if all(_plain(name) for name in listed) and not (listed and listed[0].startswith("[")):
        return f"{SEGMENT_SEPARATOR} ".join(listed)
    return json.dumps(listed, ensure_ascii=False)


def segment_names_of(cell: str) -> list[str]:
    """The segment names a cell holds: a JSON array of names exactly, else names
    separated by ";" (each trimmed; empty ones dropped)."""
    if cell.startswith("["):
        try:
            parsed = json.loads(cell)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(name, str) for name in parsed):
            return [name for name in parsed if name]
    return [name.strip() for name in cell.split(SEGMENT_SEPARATOR) if name.strip()]
