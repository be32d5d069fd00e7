"""Topic endpoints (`/topics…`), and a contact's topic subscriptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contacts_mcp.emulator.store import ContactTopic, Store, Topic
from contacts_mcp.emulator.wire import (
    JSON,
    invalid,
    missing,
    nullable_str,
    paged,
    read_json,
    read_object,
    require_contact,
    require_topic,
    required_str,
    store_of,
)

__all__ = [
    "create_topic",
    "delete_topic",
    "get_topic",
    "list_contact_topics",
    "list_topics",
    "topic_subscriptions",
    "update_contact_topics",
    "update_topic",
]

_NAME_MAX = 50
_DESCRIPTION_MAX = 200
_SUBSCRIPTIONS = ("opt_in", "opt_out")
_VISIBILITIES = ("public", "private")
# `GET /topics` is one of the "always paginated" lists.
_TOPICS_SHAPE = (
    'The `topics` field must be a list of {"id": "<topic id>", '
    '"subscription": "opt_in" | "opt_out"} objects.'
)


def _topic_item(topic: Topic) -> dict[str, Any]:
    """A topic as `GET /topics` lists it (no `object`)."""
    return {
        "id": topic.id,
        "name": topic.name,
        "description": topic.description,
        "default_subscription": topic.default_subscription,
        "visibility": topic.visibility,
        "created_at": topic.created_at,
    }


def _contact_topic_item(topic: ContactTopic) -> dict[str, Any]:
    return {
        "id": topic.id,
        "name": topic.name,
        "description": topic.description,
        "subscription": topic.subscription,
    }


def _name(body: Mapping[str, Any]) -> str:
    name = required_str(body, "name")
    if len(name) > _NAME_MAX:
        raise invalid(f"The `name` field must be at most {_NAME_MAX} characters long.")
    return name


def _description(body: Mapping[str, Any]) -> str | None:
    description = nullable_str(body, "description")
    if description is not None and len(description) > _DESCRIPTION_MAX:
        raise invalid(
            f"The `description` field must be at most {_DESCRIPTION_MAX} characters long."
        )
    return description


def _visibility(body: Mapping[str, Any], default: str) -> str:
    # null counts as absent: clients that serialise unset options as null mean "no change".
    visibility = body.get("visibility")
    if visibility is None:
        return default
    if visibility not in _VISIBILITIES:
        raise invalid("The `visibility` field must be `public` or `private`.")
    return str(visibility)


def _name_taken(name: str) -> Exception:
    # Resend's answer to a duplicate name is unconfirmed (it may allow them); we refuse them,
    # case-insensitively, so that a topic can be told apart by name on an unsubscribe page.
    return invalid(f"A topic named `{name}` already exists.")


def topic_subscriptions(store: Store, raw: object) -> dict[str, str]:
    """Topic id -> "opt_in"/"opt_out" from `[{"id", "subscription"}]`; None means none.

    Every entry's shape is checked before any topic is looked up, and every topic is looked
    up (unknown: 404) before the caller writes anything. A topic listed twice keeps its last
    choice.
    """
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise invalid(_TOPICS_SHAPE)
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise invalid(_TOPICS_SHAPE)
        if entry.get("subscription") not in _SUBSCRIPTIONS:
            raise invalid("The `subscription` of a topic must be `opt_in` or `opt_out`.")
    return {require_topic(store, entry["id"]).id: entry["subscription"] for entry in raw}


# -- topics ----------------------------------------------------------------------------------


async def create_topic(request: Request) -> Response:
    body = await read_object(request)
    name = _name(body)
    default_subscription = required_str(body, "default_subscription")
    if default_subscription not in _SUBSCRIPTIONS:
        raise invalid("The `default_subscription` field must be `opt_in` or `opt_out`.")
    topic = store_of(request).create_topic(
        name=name,
        description=_description(body),
        default_subscription=default_subscription,
        visibility=_visibility(body, "private"),
    )
    if topic is None:
        raise _name_taken(name)
    return JSON({"object": "topic", "id": topic.id}, status_code=201)


async def list_topics(request: Request) -> Response:
    return paged(request, store_of(request).list_topics, _topic_item)


async def get_topic(request: Request) -> Response:
    topic = require_topic(store_of(request), request.path_params["topic_id"])
    return JSON({"object": "topic", **_topic_item(topic)})


async def update_topic(request: Request) -> Response:
    store = store_of(request)
    topic = require_topic(store, request.path_params["topic_id"])
    body = await read_object(request)
    # Immutable (docs): refused even when it repeats the current value, so that a client
    # never believes it changed. Other unknown keys are ignored.
    if "default_subscription" in body:
        raise invalid("`default_subscription` cannot be changed after a topic is created.")
    updated = replace(topic, visibility=_visibility(body, topic.visibility))
    if "name" in body:
        updated = replace(updated, name=_name(body))
    if "description" in body:
        # null clears it.
        updated = replace(updated, description=_description(body))
    if not store.update_topic(updated):
        raise _name_taken(updated.name)
    return JSON({"object": "topic", "id": topic.id})


async def delete_topic(request: Request) -> Response:
    store = store_of(request)
    # Unknown id: 404, like GET. Resend's answer is unconfirmed (its segment delete answers
    # 200 even for unknown ids). Contacts' subscriptions to the topic go with it.
    topic = require_topic(store, request.path_params["topic_id"])
    store.delete_topic(topic.id)
    return JSON({"object": "topic", "id": topic.id, "deleted": True})


# -- a contact's subscriptions ---------------------------------------------------------------


async def list_contact_topics(request: Request) -> Response:
    store = store_of(request)
    contact = require_contact(store, request.path_params["contact"])
    # Every topic of the team, with the contact's own choice or else the topic's default,
    # which is what decides whether broadcasts reach them. Whether Resend lists only explicit
    # choices is unconfirmed.
    return paged(
        request, lambda page: store.list_contact_topics(page, contact.id), _contact_topic_item
    )


async def update_contact_topics(request: Request) -> Response:
    store = store_of(request)
    contact = require_contact(store, request.path_params["contact"])
    body = await read_json(request)
    # The SDKs and the docs' cURL example send a bare array; the docs' parameter table and
    # the OpenAPI spec wrap it as {"topics": [...]}. Both are accepted.
    if isinstance(body, dict):
        if body.get("topics") is None:
            missing("topics")
        body = body["topics"]
    # Topics not listed keep their state (a partial update, as the docs imply).
    store.set_subscriptions(contact.id, topic_subscriptions(store, body))
    # `id` is the contact's; the docs example's value looks like a topic id (unconfirmed).
    return JSON({"object": "contact_topics", "id": contact.id})
