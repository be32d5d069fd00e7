"""How a CSV cell of ours holds a contact's segments and topic subscriptions, so that
any legal name comes back exactly.

Segments: "Newsletter; VIP" where every name allows it (what people write and read),
otherwise a JSON array (`["A; B", " padded"]`), which no separated list can be mistaken
for: a plain list whose first name starts with "[" is written as JSON too.

Topics: a JSON object of topic name → "opt_in" or "opt_out" (`{"Weekly": "opt_out"}`).

An address: the cell itself, trimmed, perhaps with the `'` a spreadsheet-safe cell puts
first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

__all__ = [
    "MAX_ADDRESS_CELL",
    "SEGMENT_SEPARATOR",
    "SUBSCRIPTIONS",
    "cell_address",
    "segment_names_of",
    "segments_cell",
    "topic_choices_of",
    "topics_cell",
]

SEGMENT_SEPARATOR = ";"
# Cells this long are not addresses: passed over unread (a hostile file cannot make a
# scan slow, and the csv module's own field limit is never reached).
MAX_ADDRESS_CELL = 1024


def cell_address(cell: str) -> str | None:
    """The address (in lower case, as Resend compares them) a CSV cell holds, if the
    cell is one: as written, or spreadsheet-safe (`'` first)."""
    if len(cell) > MAX_ADDRESS_CELL or "@" not in cell:
        return None
    value = cell.strip()
    if value.startswith("'"):
        value = value[1:].strip()
    return value.lower()


SUBSCRIPTIONS = ("opt_in", "opt_out")


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


def topics_cell(choices: Mapping[str, str]) -> str:
    """The cell for a contact's topic subscriptions (name → opt_in/opt_out); "" for none."""
    if not choices:
        return ""
    return json.dumps(dict(sorted(choices.items())), ensure_ascii=False)


def topic_choices_of(cell: str) -> dict[str, str]:
    """The topic subscriptions a cell holds; {} for an empty cell. Raises ValueError,
    saying what is wrong, for anything but a JSON object of name → opt_in/opt_out."""
    if not cell.strip():
        return {}
    try:
        parsed = json.loads(cell)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not all(
        isinstance(name, str) and name and choice in SUBSCRIPTIONS
        for name, choice in parsed.items()
    ):
        raise ValueError(
            'topics must be a JSON object of topic name → "opt_in" or "opt_out", as '
            'export_contacts writes it, e.g. {"Weekly": "opt_out"}'
        )
    return {str(name): str(choice) for name, choice in parsed.items()}
