"""Resend's contact webhook events, parsed: which contact changed, how, and when.

Resend (through Svix) posts `{"type": "contact.updated", "created_at": …, "data": {…}}`
for `contact.created`, `contact.updated` and `contact.deleted`; all three carry the same
`data`: the contact as it is after the change (as it was, for a delete):

    {"id": "e169aa45-…", "audience_id": "78261eea-…", "segment_ids": ["78261eea-…"],
     "created_at": "2024-11-17T19:32:22.980Z", "updated_at": "2024-11-17T19:32:22.980Z",
     "email": "steve.wozniak@gmail.com", "first_name": "Steve", "last_name": "Wozniak",
     "unsubscribed": false}

(resend.com/docs/webhooks/contacts/created; `ContactEventData` in resend-node and
resend-python). `first_name` and `last_name` may be null or absent; `audience_id` is the
older name of a list; there are no property values and no topics (`contact.topics.updated`
is another event). Timestamps are ISO 8601, not the API's Postgres-style text.

Delivery is at least once and may be out of order: whoever applies an event must do it
idempotently and by `updated_at`, not by arrival.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = ["CONTACT_EVENT_TYPES", "ContactEvent", "ContactEventType", "parse_contact_event"]

ContactEventType = Literal["contact.created", "contact.updated", "contact.deleted"]
_BY_NAME: dict[str, ContactEventType] = {name: name for name in get_args(ContactEventType)}
CONTACT_EVENT_TYPES: frozenset[str] = frozenset(_BY_NAME)

# Sanity bounds on what a well-formed event holds (Resend's ids are UUIDs; an address has
# at most 254 characters): a value past them is not a contact event.
_MAX_ID = 200
_MAX_EMAIL = 320
_MAX_TEXT = 10_000
_MAX_SEGMENTS = 1_000


@dataclass(frozen=True, slots=True)
class ContactEvent:
    """One contact change reported by Resend.

    `first_name`/`last_name` are "" where Resend sent null or nothing. `event_id` is the
    delivery's `svix-id` (the same on every retry of one message), `received_at` the
    receiver's clock (`time.time()`) when it arrived. `segment_ids` is None when the
    payload carried none (older payloads have only `audience_id`).
    """

    type: ContactEventType
    id: str
    email: str
    first_name: str
    last_name: str
    unsubscribed: bool
    created_at: str
    updated_at: str | None
    event_id: str
    received_at: float
    segment_ids: tuple[str, ...] | None = None


def parse_contact_event(
    payload: Mapping[str, Any], *, event_id: str, received_at: float
) -> ContactEvent | None:
    """The contact event in a webhook's JSON body; None for another kind of event.

    Raises ValueError, saying what is wrong, for a payload that is not an event or a
    contact event whose `data` is malformed.
    """
    if not isinstance(payload, Mapping):
        raise ValueError("the body is not a JSON object")
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("`type` is missing or not a string")
    contact_kind = _BY_NAME.get(kind)
    if contact_kind is None:
        return None
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise ValueError(f"{kind}: `data` is missing or not an object")
    contact_id = _text(data, "id", limit=_MAX_ID)
    email = _text(data, "email", limit=_MAX_EMAIL)
    if "@" not in email:
        raise ValueError(f"{kind}: `data.email` is not an email address")
    unsubscribed = data.get("unsubscribed")
    if not isinstance(unsubscribed, bool):
        raise ValueError(f"{kind}: `data.unsubscribed` is missing or not a boolean")
    return ContactEvent(
        type=contact_kind,
        id=contact_id,
        email=email,
        first_name=_optional_text(data, "first_name") or "",
        last_name=_optional_text(data, "last_name") or "",
        unsubscribed=unsubscribed,
        created_at=_text(data, "created_at", limit=_MAX_ID),
        updated_at=_optional_text(data, "updated_at", limit=_MAX_ID),
        event_id=event_id,
        received_at=received_at,
        segment_ids=_segment_ids(data),
    )


def _text(data: Mapping[str, Any], key: str, *, limit: int = _MAX_TEXT) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"`data.{key}` is missing or not a non-empty string")
    if len(value) > limit:
        raise ValueError(f"`data.{key}` is longer than {limit} characters")
    return value


def _optional_text(data: Mapping[str, Any], key: str, *, limit: int = _MAX_TEXT) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"`data.{key}` is not a string or null")
    if len(value) > limit:
        raise ValueError(f"`data.{key}` is longer than {limit} characters")
    return value


def _segment_ids(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    value = data.get("segment_ids")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > _MAX_SEGMENTS
        or not all(isinstance(item, str) and 0 < len(item) <= _MAX_ID for item in value)
    ):
        raise ValueError("`data.segment_ids` is not a list of ids")
    return tuple(value)
