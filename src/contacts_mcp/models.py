"""Pydantic models of what the Resend API returns.

Field names are Resend's own, so structured tool output matches Resend's documentation.
Unknown fields are ignored: Resend adds fields over time and an old client must not break.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Contact",
    "ContactPage",
    "ContactSummary",
    "CreatedObject",
    "DeletedContact",
    "PropertyValue",
]


class _ResendModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PropertyValue(_ResendModel):
    """One custom property value on a contact, as `GET /contacts/{id}` returns it."""

    type: str
    value: str | int | float | bool | None


class ContactSummary(_ResendModel):
    """A contact as list endpoints return it (no custom properties)."""

    id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    unsubscribed: bool = False
    created_at: str


class Contact(ContactSummary):
    """A contact with its custom property values."""

    properties: dict[str, PropertyValue] = {}


class ContactPage(_ResendModel):
    """One page of a contact list, newest first."""

    data: list[ContactSummary]
    has_more: bool


class CreatedObject(_ResendModel):
    """The `{"object": ..., "id": ...}` reply to a create or update."""

    id: str
    object: str | None = None


class DeletedContact(_ResendModel):
    """The reply to `DELETE /contacts/{id_or_email}`; `contact` is the deleted id."""

    contact: str
    deleted: bool
    object: str | None = None
