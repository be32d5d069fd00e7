"""Contact-property endpoints: `/contact-properties…`."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contacts_mcp.emulator.store import Property, PropertyValue, Store
from contacts_mcp.emulator.wire import (
    JSON,
    ApiError,
    invalid,
    paged,
    read_object,
    required_str,
    store_of,
    value_fits,
)

__all__ = [
    "create_property",
    "delete_property",
    "get_property",
    "list_properties",
    "update_property",
]

_KEY = re.compile(r"[A-Za-z0-9_]{1,50}")
# Names the Resend CLI refuses; they would shadow built-in template variables. Checked
# case-insensitively (an assumption: keys are otherwise case-sensitive).
_RESERVED_KEYS = frozenset({"first_name", "last_name", "email", "unsubscribe_url"})
_TYPES = ("string", "number")
# `GET /contact-properties` is one of the "always paginated" lists.


def _property_item(prop: Property) -> dict[str, Any]:
    return {
        "id": prop.id,
        "key": prop.key,
        "type": prop.type,
        "fallback_value": prop.fallback_value,
        "created_at": prop.created_at,
    }


def _require_property(store: Store, property_id: str) -> Property:
    prop = store.get_property(property_id)
    if prop is None:
        raise ApiError(404, "not_found", "Contact property not found")
    return prop


def _fallback(type_: str, value: object) -> PropertyValue | None:
    if value is None:
        return None
    if value_fits(value, type_):
        return value
    raise invalid(f"The `fallback_value` field must be a {type_}, like the property.")


async def create_property(request: Request) -> Response:
    body = await read_object(request)
    key = required_str(body, "key")
    type_ = required_str(body, "type")
    if _KEY.fullmatch(key) is None:
        raise invalid(
            "The `key` field must be 1 to 50 characters long and use only letters, "
            "numbers and underscores."
        )
    if key.lower() in _RESERVED_KEYS:
        raise invalid(f"The key `{key}` is reserved.")
    if type_ not in _TYPES:
        raise invalid("The `type` field must be `string` or `number`.")
    fallback = _fallback(type_, body.get("fallback_value"))
    prop = store_of(request).create_property(key, type_, fallback)
    if prop is None:
        # Resend's answer to a duplicate key is unconfirmed; 422 is the validation family.
        raise invalid(f"A contact property with the key `{key}` already exists.")
    return JSON({"object": "contact_property", "id": prop.id}, status_code=201)


async def list_properties(request: Request) -> Response:
    return paged(request, store_of(request).list_properties, _property_item)


async def get_property(request: Request) -> Response:
    prop = _require_property(store_of(request), request.path_params["property_id"])
    return JSON({"object": "contact_property", **_property_item(prop)})


async def update_property(request: Request) -> Response:
    store = store_of(request)
    prop = _require_property(store, request.path_params["property_id"])
    body = await read_object(request)
    # Key and type are immutable; echoing the current values is harmless.
    for field, current in (("key", prop.key), ("type", prop.type)):
        if field in body and body[field] != current:
            raise invalid(f"The `{field}` of a contact property cannot be changed.")
    if "fallback_value" in body:
        store.set_fallback(prop.id, _fallback(prop.type, body["fallback_value"]))
    return JSON({"object": "contact_property", "id": prop.id})


async def delete_property(request: Request) -> Response:
    store = store_of(request)
    # Unknown id: 404, like GET (Resend's answer is unconfirmed).
    prop = _require_property(store, request.path_params["property_id"])
    store.delete_property(prop.id)
    # Key order as on the wire.
    return JSON({"object": "contact_property", "deleted": True, "id": prop.id})
