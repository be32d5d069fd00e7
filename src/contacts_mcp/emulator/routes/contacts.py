"""Contact endpoints: `/contacts…` and `/segments/{id}/contacts`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contacts_mcp.emulator.routes.topics import topic_subscriptions
from contacts_mcp.emulator.store import Contact, PropertyValue, Store, is_email
from contacts_mcp.emulator.wire import (
    JSON,
    invalid,
    nullable_str,
    optional_bool,
    paged,
    read_object,
    require_contact,
    require_segment,
    required_str,
    store_of,
    value_fits,
)

__all__ = [
    "create_contact",
    "delete_contact",
    "get_contact",
    "list_contacts",
    "list_segment_contacts",
    "segment_ids",
    "update_contact",
]

_SEGMENTS_SHAPE = 'The `segments` field must be a list of {"id": "<segment id>"} objects.'


def _contact_item(contact: Contact) -> dict[str, Any]:
    """A contact as list endpoints show it (no `object`, no `properties`)."""
    return {
        "id": contact.id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "created_at": contact.created_at,
        "unsubscribed": contact.unsubscribed,
    }


def _check_email(email: str) -> None:
    if not is_email(email):
        raise invalid(
            "Invalid `email` field. The email address needs to follow the "
            "`email@example.com` format."
        )


def _property_values(store: Store, raw: object) -> dict[str, PropertyValue | None]:
    """Check `properties` against the defined keys and types; None means "clear"."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid("The `properties` field must be an object.")
    types = store.property_types()
    for key, value in raw.items():
        type_ = types.get(key)
        if type_ is None:
            raise invalid(
                f"The contact property `{key}` does not exist. "
                "Create it with POST /contact-properties first."
            )
        if value is not None and not value_fits(value, type_):
            raise invalid(f"The contact property `{key}` must be a {type_}.")
    return raw


def segment_ids(store: Store, raw: object) -> list[str]:
    """Ids from `segments`: `[{"id": …}]` as documented, bare strings as in Resend's OpenAPI."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid(_SEGMENTS_SHAPE)
    ids = []
    for entry in raw:
        segment_id = entry.get("id") if isinstance(entry, dict) else entry
        if not isinstance(segment_id, str):
            raise invalid(_SEGMENTS_SHAPE)
        ids.append(require_segment(store, segment_id).id)
    return ids


async def create_contact(request: Request) -> Response:
    body = await read_object(request)
    store = store_of(request)
    email = required_str(body, "email")
    _check_email(email)
    first_name = nullable_str(body, "first_name")
    last_name = nullable_str(body, "last_name")
    unsubscribed = optional_bool(body, "unsubscribed")
    values = _property_values(store, body.get("properties"))
    segments = segment_ids(store, body.get("segments"))
    subscriptions = topic_subscriptions(store, body.get("topics"))
    # A duplicate email gets 201 and the existing id, as on the wire (reference §14.1).
    # Whether Resend also updates the existing contact is unconfirmed; we leave it unchanged
    # (fields, properties, segments and topics), so a retried create never undoes later edits.
    contact_id, _created = store.create_contact(
        email=email,
        first_name=first_name,
        last_name=last_name,
        unsubscribed=bool(unsubscribed),
        values={key: value for key, value in values.items() if value is not None},
        segment_ids=segments,
        subscriptions=subscriptions,
    )
    return JSON({"object": "contact", "id": contact_id}, status_code=201)


async def list_contacts(request: Request) -> Response:
    # `?segment_id=` is in Resend's OpenAPI file only (the SDKs call
    # /segments/{id}/contacts); it answers the same as that route, 404 for an unknown id.
    segment_id = request.query_params.get("segment_id")
    if segment_id is not None:
        return _members(request, segment_id)
    return paged(request, store_of(request).list_contacts, _contact_item)


async def list_segment_contacts(request: Request) -> Response:
    return _members(request, request.path_params["segment_id"])


def _members(request: Request, segment_id: str) -> Response:
    """One page of a segment's contacts, or 404 for an unknown segment."""
    store = store_of(request)
    segment = require_segment(store, segment_id)
    return paged(
        request, lambda page: store.list_contacts(page, segment_id=segment.id), _contact_item
    )


async def get_contact(request: Request) -> Response:
    store = store_of(request)
    contact = require_contact(store, request.path_params["contact"])
    # Only values the contact has set; whether Resend also shows fallbacks is unconfirmed.
    properties: dict[str, Any] = {
        key: {"type": type_, "value": value}
        for key, type_, value in store.contact_values(contact.id)
    }
    return JSON({"object": "contact", **_contact_item(contact), "properties": properties})


async def update_contact(request: Request) -> Response:
    store = store_of(request)
    contact = require_contact(store, request.path_params["contact"])
    body = await read_object(request)
    # Only these keys are updatable. The Python SDK sends its whole params dict, so `id`,
    # `email` or `audience_id` may be echoed here; like Resend, they are ignored.
    updated = replace(
        contact,
        first_name=nullable_str(body, "first_name") if "first_name" in body else contact.first_name,
        last_name=nullable_str(body, "last_name") if "last_name" in body else contact.last_name,
    )
    if "unsubscribed" in body:
        unsubscribed = optional_bool(body, "unsubscribed")
        if unsubscribed is None:
            raise invalid("The `unsubscribed` field must be a boolean.")
        updated = replace(updated, unsubscribed=unsubscribed)
    values = _property_values(store, body.get("properties"))
    store.update_contact(updated, values)
    return JSON({"object": "contact", "id": contact.id})


async def delete_contact(request: Request) -> Response:
    store = store_of(request)
    ref = request.path_params["contact"]
    contact = store.find_contact(ref)
    if contact is None:
        # Deleting a contact that does not exist answers 200 deleted:true with the value
        # as given: recorded three times (2025-10-08, 10-17, 11-30) on the audience path
        # (resend-node HARs; tests/fixtures/resend/contacts_legacy_delete_nonexistent_200
        # .json), like segments. The global path's answer was never recorded.
        return JSON({"object": "contact", "contact": ref, "deleted": True})
    store.delete_contact(contact.id)
    # `contact` is the UUID even when the path named an email, as on the wire.
    return JSON({"object": "contact", "contact": contact.id, "deleted": True})
