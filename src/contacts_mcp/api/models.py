"""Pydantic models of what the Resend API returns.

Field names are Resend's own, so structured tool output matches Resend's documentation.
The models are liberal in what they accept, because the real API is not always what its
documentation says (see `tests/fixtures/resend/` for recorded answers):
- unknown fields are ignored: Resend adds fields over time and an old client must not break;
- a contact's `properties` arrive typed (`{key: {"type", "value"}}`) or flat (`{key: value}`);
- a property `type` may be one we never create (`boolean`);
- a list may lack `has_more`, a delete answer may carry `id` instead of `contact`;
- names, descriptions and fallback values may be null (a null name reads as "").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

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
    "Scalar",
    "Segment",
    "Subscription",
    "Topic",
    "Visibility",
    "is_uuid",
    "typed_properties",
]

T = TypeVar("T")
# The types this client creates; the API may report others (`ContactProperty.type`).
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


def _none_as_empty(value: object) -> object:
    return "" if value is None else value


# A name Resend may send as null; it reads as "" so that every name is a string.
Name = Annotated[str, BeforeValidator(_none_as_empty)]
Scalar = str | int | float | bool | None


class _ResendModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _scalar(value: object) -> object:
    # A nested value has no place in a contact property; kept readable, not refused.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, Mapping | list) else value


def _type_of(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


class PropertyValue(_ResendModel):
    """One custom property value on a contact, as `GET /contacts/{id}` returns it."""

    type: str
    value: Annotated[Scalar, BeforeValidator(_scalar)] = None


def typed_properties(raw: object) -> object:
    """`{key: value}` or `{key: {"type", "value"}}` (null: none) as `{key: {"type", "value"}}`."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        return raw  # left for validation to refuse, with the field named
    typed: dict[object, object] = {}
    for key, entry in raw.items():
        if isinstance(entry, Mapping) and ("value" in entry or "type" in entry):
            typed[key] = {"type": entry.get("type") or _type_of(entry.get("value")), **entry}
        else:
            typed[key] = {"type": _type_of(entry), "value": entry}
    return typed


class ContactSummary(_ResendModel):
    """A contact as list endpoints return it (no custom properties)."""

    id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    unsubscribed: bool = False
    created_at: str

    @field_validator("unsubscribed", mode="before")
    @classmethod
    def _null_is_subscribed(cls, value: object) -> object:
        return False if value is None else value


class Contact(ContactSummary):
    """A contact with its custom property values."""

    properties: Annotated[dict[str, PropertyValue], BeforeValidator(typed_properties)] = Field(
        default_factory=dict
    )


class Page(_ResendModel, Generic[T]):
    """One page of a list endpoint, newest first.

    Without `has_more` (some endpoints answer with everything at once) the page is the last.
    """

    data: list[T]
    has_more: bool = False

    @field_validator("has_more", mode="before")
    @classmethod
    def _null_is_last(cls, value: object) -> object:
        return False if value is None else value


ContactPage = Page[ContactSummary]


class CreatedObject(_ResendModel):
    """The `{"object": ..., "id": ...}` reply to a create or update."""

    id: str
    object: str | None = None


class DeletedObject(_ResendModel):
    """The reply to deleting a segment, topic or contact property."""

    id: str
    # A success answer without the flag still means it is gone.
    deleted: bool = True
    object: str | None = None


class ContactProperty(_ResendModel):
    """A custom contact property definition (a typed key with an optional fallback)."""

    id: str
    key: str
    # `string` or `number` for every property this client creates, but Resend has other
    # types (`boolean`), which must not break the list.
    type: str
    fallback_value: Scalar = None
    created_at: str


class Segment(_ResendModel):
    """A named group of contacts (formerly an audience)."""

    id: str
    name: Name
    created_at: str


class ContactSegment(_ResendModel):
    """A segment as listed for one contact."""

    id: str
    name: Name
    created_at: str | None = None


def _default_visibility(value: object) -> object:
    return "private" if value is None else value


class Topic(_ResendModel):
    """A subscription topic; `default_subscription` is fixed when it is created."""

    id: str
    name: Name
    description: str | None = None
    default_subscription: Subscription
    visibility: Annotated[Visibility, BeforeValidator(_default_visibility)] = "private"
    created_at: str


class ContactTopic(_ResendModel):
    """One contact's subscription to one topic."""

    id: str
    name: Name
    description: str | None = None
    subscription: Subscription


class DeletedContact(_ResendModel):
    """The reply to `DELETE /contacts/{id_or_email}`; `contact` is the deleted id."""

    # Resend's answers name it `contact` (docs, SDK types) or `id` (the OpenAPI file).

    contact: str
    deleted: bool = True
    object: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _id_as_contact(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("contact") is None and "id" in data:
            return {**data, "contact": data["id"]}
        return data
