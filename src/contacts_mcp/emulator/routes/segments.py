"""Segment endpoints, and a contact's segment memberships."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contacts_mcp.emulator.store import Segment
from contacts_mcp.emulator.wire import (
    JSON,
    paged,
    read_object,
    require_contact,
    require_segment,
    required_str,
    store_of,
)

__all__ = [
    "add_contact_to_segment",
    "create_segment",
    "delete_segment",
    "get_segment",
    "list_contact_segments",
    "list_segments",
    "remove_contact_from_segment",
    "update_segment",
]


def _segment_item(segment: Segment) -> dict[str, Any]:
    return {"id": segment.id, "name": segment.name, "created_at": segment.created_at}


async def create_segment(request: Request) -> Response:
    body = await read_object(request)
    segment = store_of(request).create_segment(required_str(body, "name"))
    return JSON({"object": "segment", "id": segment.id, "name": segment.name}, status_code=201)


async def list_segments(request: Request) -> Response:
    return paged(request, store_of(request).list_segments, _segment_item)


async def get_segment(request: Request) -> Response:
    segment = require_segment(store_of(request), request.path_params["segment_id"])
    return JSON({"object": "segment", **_segment_item(segment)})


async def update_segment(request: Request) -> Response:
    store = store_of(request)
    segment = require_segment(store, request.path_params["segment_id"])
    body = await read_object(request)
    store.rename_segment(segment.id, required_str(body, "name"))
    return JSON({"object": "segment", "id": segment.id})


async def delete_segment(request: Request) -> Response:
    segment_id = request.path_params["segment_id"]
    # Resend answers 200 deleted:true even for an unknown id (observed on the wire).
    # Member contacts are kept; only the memberships go.
    store_of(request).delete_segment(segment_id)
    return JSON({"object": "segment", "id": segment_id, "deleted": True})


async def list_contact_segments(request: Request) -> Response:
    store = store_of(request)
    contact = require_contact(store, request.path_params["contact"])
    # `created_at` is the segment's (docs, Node SDK), not the membership's (OpenAPI).
    return paged(
        request, lambda page: store.list_segments(page, contact_id=contact.id), _segment_item
    )


async def add_contact_to_segment(request: Request) -> Response:
    store = store_of(request)
    contact = require_contact(store, request.path_params["contact"])
    segment = require_segment(store, request.path_params["segment_id"])
    # Adding twice is a no-op that answers the same (Resend's behaviour is unconfirmed).
    store.add_member(segment.id, contact.id)
    # The documented shape; its `id` is the segment's id, as in the docs example.
    return JSON({"id": segment.id})


async def remove_contact_from_segment(request: Request) -> Response:
    store = store_of(request)
    contact = require_contact(store, request.path_params["contact"])
    segment = require_segment(store, request.path_params["segment_id"])
    # Removing a contact that is not a member succeeds too (unconfirmed), like other deletes
    # of absent things on the wire; unknown contacts and segments are still 404.
    store.remove_member(segment.id, contact.id)
    # camelCase `audienceId` is Resend's (docs and Node SDK).
    return JSON(
        {"object": "contact_segment", "id": contact.id, "audienceId": segment.id, "deleted": True}
    )
