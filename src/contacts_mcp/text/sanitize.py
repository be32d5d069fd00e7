"""Untrusted text made safe to show: one line, no hidden characters, bounded length.

Contact fields, CSV cells and Resend's own messages come from outside (a signup form can
put anything in a name). Whatever of them reaches the model as prose goes through `clean`
first, in every layer: the import pipeline, the services' error messages and the server's
renderings, which is why it lives below all of them.
"""

from __future__ import annotations

import re

__all__ = ["MAX_FIELD_CHARS", "clean"]

MAX_FIELD_CHARS = 120

# C0/C1 controls, bidi embeddings/isolates/marks, zero-width and other invisible
# formatting characters, and Unicode tag characters (used to smuggle hidden text).
_UNSAFE = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\U000e0000-\U000e007f]"
)


def clean(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """`value` as one safe line: unsafe characters dropped, whitespace runs collapsed."""
    text = _UNSAFE.sub("", str(value))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
