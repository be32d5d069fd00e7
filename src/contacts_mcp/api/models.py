"""Pydantic models of what the Resend API returns.

Field names are Resend's own, so structured tool output matches Resend's documentation.
Unknown fields are ignored: Resend adds fields over time and an old client must not break.
"""

from __future__ import annotations

import re
from typing import Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = [
    "PROPERTY_KEY",
    "RESERVED_PROPERTY_KEYS",
    "Contact",
    "ContactPage",
    "ContactProperty",
    "ContactSegment",
    "ContactSummary",
    "ContactTopic",
    "CreatedObject",
    "DeletedContact",
    "DeletedObject",
    "Page",
    "PropertyType",
    "PropertyValue",
    "Segment",
    "Subscription",
    "Topic",
    "Visibility",
    "is_uuid",
]

T = TypeVar("T")
PropertyType = Literal["string", "number"]
Subscription = Literal["opt_in", "opt_out"]
Visibility = Literal["public", "private"]

# Resend's rules for contact property keys: up to 50 letters, digits or underscores, and
# not a built-in contact field or a template variable Resend reserves (resend-cli).
PROPERTY_KEY: Final = re.compile(r"[A-Za-z0-9_]{1,50}")
RESERVED_PROPERTY_KEYS: Final = frozenset(
    {"email", "first_name", "last_name", "unsubscribed", "unsubscribe_url", "id"}
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    """Whether `value` has the shape of a Resend id."""
    return _UUID.fullmatch(value) is not None


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


class Page(_ResendModel, Generic[T]):
    """One page of a list endpoint, newest first."""

    data: list[T]
    has_more: bool


ContactPage = Page[ContactSummary]


class CreatedObject(_ResendModel):
    """The `{"object": ..., "id": ...}` reply to a create or update."""

    id: str
    object: str | None = None


class DeletedObject(_ResendModel):
    """The reply to deleting a segment, topic or contact property."""

    id: str
    deleted: bool
    object: str | None = None


class ContactProperty(_ResendModel):
    """A custom contact property definition (a typed key with an optional fallback)."""

    id: str
    key: str
    type: PropertyType
    fallback_value: str | int | float | None = None
    created_at: str


class Segment(_ResendModel):
    """A named group of contacts (formerly an audience)."""

    id: str
    name: str
    created_at: str


class ContactSegment(_ResendModel):
    """A segment as listed for one contact."""

    id: str
    name: str
    created_at: str | None = None


class Topic(_ResendModel):
    """A subscription topic; `default_subscription` is fixed when it is created."""

    id: str
    name: str
    description: str | None = None
    default_subscription: Subscription
    visibility: Visibility = "private"
    created_at: str


class ContactTopic(_ResendModel):
    """One contact's subscription to one topic."""

    id: str
    name: str
    description: str | None = None
    subscription: Subscription


class DeletedContact(_ResendModel):
    """The reply to `DELETE /contacts/{id_or_email}`; `contact` is the deleted id."""

    contact: str
    deleted: bool
    object: str | None = None
