"""How much of one stored value reaches the model: one rule for every output.

Resend may hold (and an upstream that lies may answer) a name a megabyte long, or ten
thousand properties on one contact. Files written to disk keep every value exact, since
they re-import; what goes to the model, in the structured content as in the text, is cut
here first, the same way in every tool:

- a string longer than its cap is cut, and ends in a visible marker that says how much
  was cut (`… [998,000 more characters]`), so it is never taken for the whole value. The
  caps sit far above anything this server lets a user write, so no value written through
  it is ever cut: `MAX_SHOWN_FIELD_CHARS` (1,000: three times the longest email address,
  four times the longest name this server writes) for ids, emails, names, dates, keys
  and segment or topic names; `MAX_SHOWN_VALUE_CHARS` (2,000, the longest property value)
  for property values and other free text;
- a contact's properties: the first `MAX_SHOWN_PROPERTIES` (keys and values capped as
  above), then, when there are more, one entry under `MORE_KEY` (which no property key
  can be) saying how many more;
- a list (a contact's segments): the first `MAX_SHOWN_ITEMS`, and an entry saying how
  many more, in the list's own shape; in prose (`some_of`), the first few names.

The caps keep every shape of the output schemas: a cut string is a string, the count of
what was left out is an entry like the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, TypeVar

from contacts_mcp.text.sanitize import clean

__all__ = [
    "MAX_SHOWN_FIELD_CHARS",
    "MAX_SHOWN_ITEMS",
    "MAX_SHOWN_PROPERTIES",
    "MAX_SHOWN_VALUE_CHARS",
    "MORE_KEY",
    "more_than_shown",
    "shown",
    "shown_data",
    "shown_items",
    "shown_mapping",
    "shown_properties",
    "shown_value",
    "some_of",
]

MAX_SHOWN_FIELD_CHARS: Final = 1000
MAX_SHOWN_VALUE_CHARS: Final = 2000
MAX_SHOWN_PROPERTIES: Final = 100
MAX_SHOWN_ITEMS: Final = 100
# The key of the entry that counts the properties left out: Resend's keys are letters,
# digits and underscores, so no real property is ever taken for it.
MORE_KEY: Final = "…"

V = TypeVar("V")


def shown(text: str, limit: int = MAX_SHOWN_FIELD_CHARS) -> str:
    """`text` whole if it has at most `limit` characters; else cut to `limit` characters
    in all, the last of them a marker saying how many more there were."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(_cut_marker(len(text))))
    # The count shrinks as more is kept (a digit or a comma less): use the room it frees.
    while keep + 1 + len(_cut_marker(len(text) - keep - 1)) <= limit:
        keep += 1
    return text[:keep] + _cut_marker(len(text) - keep)


def _cut_marker(cut: int) -> str:
    return f"… [{cut:,} more characters]"


def shown_value(value: V) -> V | str:
    """A property value as shown: text cut at `MAX_SHOWN_VALUE_CHARS`, the rest as is."""
    return shown(value, MAX_SHOWN_VALUE_CHARS) if isinstance(value, str) else value


def more_than_shown(count: int, noun: str) -> str:
    """What an entry standing for `count` left-out items says."""
    return f"{count:,} more {noun} not shown"


def shown_properties(values: Mapping[str, V]) -> dict[str, V | str]:
    """The first `MAX_SHOWN_PROPERTIES` of `values`, keys and values cut as the rule says;
    then, if any were left out, `MORE_KEY` with how many."""
    capped: dict[str, V | str] = {}
    left_out = 0
    for key, value in values.items():
        short = shown(key)
        if len(capped) >= MAX_SHOWN_PROPERTIES or short in capped or short == MORE_KEY:
            left_out += 1
            continue
        capped[short] = shown_value(value)
    if left_out:
        capped[MORE_KEY] = more_than_shown(left_out, "properties")
    return capped


def shown_items(items: Sequence[V], limit: int = MAX_SHOWN_ITEMS) -> tuple[list[V], int]:
    """The first `limit` of `items`, and how many were left out (for the caller to say
    so in the list's own shape)."""
    return list(items[:limit]), max(0, len(items) - limit)


def shown_data(data: object) -> object:
    """JSON-like `data` of no fixed shape (a before → after sample) under the same rule:
    text cut at `MAX_SHOWN_VALUE_CHARS`, mappings as properties (`shown_mapping`), lists
    at `MAX_SHOWN_ITEMS` and then one text entry saying how many more."""
    if isinstance(data, str):
        return shown(data, MAX_SHOWN_VALUE_CHARS)
    if isinstance(data, Mapping):
        return shown_mapping({str(key): value for key, value in data.items()})
    if isinstance(data, list | tuple):
        kept, left_out = shown_items(data)
        more = [more_than_shown(left_out, "items")] if left_out else []
        return [shown_data(item) for item in kept] + more
    return data


def shown_mapping(data: Mapping[str, object]) -> dict[str, object]:
    """A mapping of no fixed shape under the rule: keys and count as `shown_properties`,
    every value as `shown_data`."""
    return {key: shown_data(value) for key, value in shown_properties(data).items()}


def some_of(names: Sequence[str], limit: int = 20) -> str:
    """Up to `limit` names for prose, each made one safe line, then how many more:
    "plan, seats and 9,998 more"."""
    kept = [clean(name, 60) for name in names[:limit]]
    more = len(names) - len(kept)
    return ", ".join(kept) + (f" and {more:,} more" if more else "")
