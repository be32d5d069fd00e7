"""Untrusted text made safe to show: one line, no hidden characters, bounded length.

Contact fields, CSV cells and Resend's own messages come from outside (a signup form can
put anything in a name). Whatever of them reaches the model goes through here first, in
every layer: the import pipeline, the services' error messages and the server's output,
which is why it lives below all of them.

- `clean` makes a value one safe line for prose; `quoted` also puts it in quotes, so
  that a name like `Ada | unsubscribed | id …` cannot pose as other fields.
- `reveal_hidden` marks hidden characters in structured data, which hosts such as Claude
  Code show the model instead of the prose.
- `has_hidden` and `name_key` let the services refuse names with hidden characters and
  names that differ from another only by them, or by case.
- `redact_secrets` takes anything that looks like an API key, or a password in a URL, out
  of text bound for an error message or a log line.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "FORMULA_STARTS",
    "HIDDEN_MARK",
    "MAX_FIELD_CHARS",
    "clean",
    "formula_safe",
    "formula_unescaped",
    "has_hidden",
    "label",
    "name_key",
    "needs_apostrophe",
    "quoted",
    "redact_emails",
    "redact_secrets",
    "reveal_hidden",
]

MAX_FIELD_CHARS = 120

# Bidi embeddings/isolates/marks, zero-width and other invisible formatting characters,
# and Unicode tag characters (used to smuggle hidden text): a regex character-class body.
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\U000e0000-\U000e007f"
)
# Prose drops those and every C0/C1 control.
_UNSAFE = re.compile(f"[\u0000-\u001f\u007f-\u009f{_INVISIBLE}]")


_BREAKS_TO_SPACES = str.maketrans("\t\n\v\f\r\x85\u2028\u2029", " " * 8)

# What no channel may carry to the model: everything `_UNSAFE` removes except tab, line
# feed and carriage return, which structured data may keep (JSON escapes them).
_HIDDEN = re.compile(f"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f{_INVISIBLE}]+")
# What a run of hidden characters becomes in structured data: visible, so the model can
# tell a value held something it is not shown.
HIDDEN_MARK = "\ufffd"


def clean(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """`value` as one safe line: unsafe characters dropped, whitespace runs collapsed."""
    # Line breaks and tabs separate words: they become spaces, not nothing.
    text = _UNSAFE.sub("", str(value).translate(_BREAKS_TO_SPACES))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def quoted(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """`value` cleaned and in double quotes, with quotes and backslashes escaped."""
    return json.dumps(clean(value, limit), ensure_ascii=False)


_PLAIN = re.compile(r"[\w.%+@'-]+")


def label(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """`value` bare when it is one plain word (an email, `VIP`, `plan_2`), else `quoted`."""
    text = clean(value, limit)
    return text if _PLAIN.fullmatch(text) else quoted(value, limit)


def has_hidden(text: str) -> bool:
    """Whether `text` holds control, invisible, direction-changing or tag characters."""
    return _UNSAFE.search(text) is not None


def name_key(name: str) -> str:
    """What two names must differ in to be different: not hidden characters, spacing or case."""
    return " ".join(_UNSAFE.sub("", name).split()).casefold()


def reveal_hidden(data: Any, path: str = "") -> tuple[Any, list[str]]:
    """`data` (JSON-like) with each run of hidden characters in a string replaced by
    `HIDDEN_MARK`, and the paths of the values that held some (`contacts.0.first_name`)."""
    if isinstance(data, str):
        marked = _HIDDEN.sub(HIDDEN_MARK, data)
        return marked, ([path or "value"] if marked != data else [])
    if isinstance(data, dict):
        result: dict[Any, Any] = {}
        found: list[str] = []
        for key, value in data.items():
            safe_key = _HIDDEN.sub(HIDDEN_MARK, key) if isinstance(key, str) else key
            where = f"{path}.{safe_key}" if path else str(safe_key)
            if safe_key != key:
                found.append(where)
            result[safe_key], value_found = reveal_hidden(value, where)
            found += value_found
        return result, found
    if isinstance(data, list):
        items: list[Any] = []
        found = []
        for index, item in enumerate(data):
            safe, item_found = reveal_hidden(item, f"{path}.{index}" if path else str(index))
            items.append(safe)
            found += item_found
        return items, found
    return data, []


# A Resend API key (`re_` and at least 6 more key characters), and the user:password part
# of a URL (`https://user:re_key@host`): neither may appear in a message or a log line.
_API_KEY = re.compile(r"\bre_[A-Za-z0-9_-]{6,}")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/?#@\s]+@")


# An email address, also as a URL carries it (`%40`): in a request's path, a log line
# would otherwise name a contact. (Without `/` in the local part, which RFC 5322 allows
# but no real address uses: a URL path ends where the address starts.)
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+=?^_`{|}~-]+(?:@|%40)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


def redact_emails(text: str) -> str:
    """`text` with every email address replaced by `[email]`."""
    return _EMAIL.sub("[email]", text)


def redact_secrets(text: str) -> str:
    """`text` with API-key-like values and URL credentials replaced by `[redacted]`."""
    return _URL_CREDENTIALS.sub("[redacted]@", _API_KEY.sub("re_[redacted]", text))


# A CSV cell starting with one of these runs as a formula in a spreadsheet (OWASP CSV
# injection); one starting with an apostrophe is escaped too, so that the escape can be
# undone exactly (`needs_apostrophe`).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def needs_apostrophe(value: str) -> bool:
    """Whether a CSV cell of ours carries `value` behind one apostrophe: a risky start, or
    whitespace at either end (which an import trims from a cell, but not from this one).
    `imports.csvio` takes the apostrophe off a cell that starts with one followed by a
    value for which this holds, so every value comes back exactly."""
    return value.startswith(FORMULA_STARTS) or value != value.strip()


def formula_safe(value: str) -> str:
    """`value` as a CSV cell no spreadsheet runs and import reads back exactly."""
    return f"'{value}" if needs_apostrophe(value) else value


def formula_unescaped(cell: str) -> str:
    """The value a `formula_safe` cell holds."""
    return cell[1:] if cell[:1] == "'" and needs_apostrophe(cell[1:]) else cell
