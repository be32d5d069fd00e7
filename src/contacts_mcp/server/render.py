"""Compact, safe text renderings of contacts for the model to read.

Contact fields are untrusted input (a signup form can put anything in a name), so every
value that goes into a rendering loses control, bidi and invisible characters, is capped
in length, and is quoted unless it is one plain word: a name like
`Ada | unsubscribed | id <another id>` or a property value `free, vip=true` stays inside
its quotes and cannot pose as another field or another contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from contacts_mcp.text.caps import MORE_KEY
from contacts_mcp.text.sanitize import clean, label, quoted

__all__ = ["LIST_COLUMNS", "bullet_list", "contact_line", "contact_row", "contact_view"]


class _ContactLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def unsubscribed(self) -> bool: ...
    @property
    def created_at(self) -> str: ...


def _name(contact: _ContactLike) -> str:
    parts = [p for p in (contact.first_name, contact.last_name) if p]
    return quoted(" ".join(parts)) if parts else ""


def _date(created_at: str) -> str:
    # Resend's "2025-11-30 20:39:59.540771+00" → "2025-11-30 20:39"; day and minute are
    # what a reader needs, the rest costs tokens.
    return clean(created_at[:16], 16)


def contact_line(contact: _ContactLike) -> str:
    """One line per contact: email, name (quoted), status, id, creation date."""
    parts = [label(contact.email)]
    name = _name(contact)
    if name:
        parts.append(name)
    if contact.unsubscribed:
        parts.append("unsubscribed")
    parts.append(f"id {label(contact.id, 40)}")
    parts.append(f"created {_date(contact.created_at)}")
    return " | ".join(parts)


LIST_COLUMNS = "email | name | created"


def contact_row(contact: _ContactLike) -> str:
    """One contact as a row of a list (`LIST_COLUMNS`): the id is in the structured content,
    and the email names the contact as well as the id does."""
    row = f"{label(contact.email)} | {_name(contact) or '-'} | {clean(contact.created_at[:10], 10)}"
    return row + " | unsubscribed" if contact.unsubscribed else row


class _Named(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


class _Subscribed(_Named, Protocol):
    @property
    def subscription(self) -> str: ...


class _ContactView(_ContactLike, Protocol):
    @property
    def properties(self) -> Mapping[str, object]: ...
    @property
    def segments(self) -> Sequence[_Named]: ...
    @property
    def topics(self) -> Sequence[_Subscribed]: ...


def _value(value: object) -> str:
    """A property value: numbers and booleans bare, text always quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or value is None:
        return "null" if value is None else clean(value, 40)
    return quoted(value)


def contact_view(contact: _ContactView, *, heading: str | None = None) -> str:
    """A few lines describing one contact, its properties, segments and topics."""
    lines = [heading] if heading else []
    lines.append(contact_line(contact))
    if contact.properties:
        # Already capped (`text.caps`): past the limit, `MORE_KEY` says how many more.
        shown = ", ".join(
            clean(v) if k == MORE_KEY else f"{label(k, 50)}={_value(v)}"
            for k, v in contact.properties.items()
        )
        lines.append(f"properties: {shown}")
    if contact.segments:
        shown = ", ".join(
            clean(s.name) if s.id == MORE_KEY else label(s.name, 60) for s in contact.segments
        )
        lines.append(f"segments: {shown}")
    if contact.topics:
        shown = ", ".join(f"{label(t.name, 60)}={label(t.subscription)}" for t in contact.topics)
        lines.append(f"topics: {shown}")
    return "\n".join(lines)


def bullet_list(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)
