"""Webhook endpoints: `/webhooks…` (shapes from resend.com/docs/api-reference/webhooks and
the official SDKs; the not-found message is the SDKs' test fixtures', unconfirmed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contacts_mcp.emulator.store import Store, Webhook
from contacts_mcp.emulator.webhooks import EVENT_TYPES
from contacts_mcp.emulator.wire import (
    JSON,
    ApiError,
    invalid,
    missing,
    paged,
    read_object,
    required_str,
    store_of,
)

__all__ = ["create_webhook", "delete_webhook", "get_webhook", "list_webhooks", "update_webhook"]


def _webhook_item(webhook: Webhook) -> dict[str, Any]:
    """A webhook as the list shows it (no `object`, no secret)."""
    return {
        "id": webhook.id,
        "created_at": webhook.created_at,
        "status": webhook.status,
        "endpoint": webhook.endpoint,
        "events": list(webhook.events),
    }


def _endpoint(body: dict[str, Any]) -> str:
    endpoint = required_str(body, "endpoint")
    # Resend's dashboard asks for https; http is allowed here for local receivers.
    if not endpoint.startswith(("https://", "http://")) or len(endpoint) > 2048:
        raise invalid("The `endpoint` field must be an http(s) URL.")
    return endpoint


def _events(body: dict[str, Any]) -> tuple[str, ...]:
    events = body.get("events")
    if events is None or events == []:
        missing("events")
    if not isinstance(events, list) or not all(isinstance(event, str) for event in events):
        raise invalid("The `events` field must be a list of event types.")
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown:
        raise invalid(f"Unknown event type `{unknown[0][:100]}`.")
    return tuple(dict.fromkeys(events))


def _require(store: Store, webhook_id: str) -> Webhook:
    webhook = store.get_webhook(webhook_id)
    if webhook is None:
        raise ApiError(404, "not_found", "Webhook not found")
    return webhook


async def create_webhook(request: Request) -> Response:
    body = await read_object(request)
    webhook = store_of(request).create_webhook(_endpoint(body), _events(body))
    return JSON(
        {"object": "webhook", "id": webhook.id, "signing_secret": webhook.signing_secret},
        status_code=201,
    )


async def list_webhooks(request: Request) -> Response:
    # "If you do not provide a limit, all webhooks will be returned in a single response."
    return paged(request, store_of(request).list_webhooks, _webhook_item, default_limit=None)


async def get_webhook(request: Request) -> Response:
    webhook = _require(store_of(request), request.path_params["webhook_id"])
    return JSON(
        {"object": "webhook", **_webhook_item(webhook), "signing_secret": webhook.signing_secret}
    )


async def update_webhook(request: Request) -> Response:
    store = store_of(request)
    webhook = _require(store, request.path_params["webhook_id"])
    body = await read_object(request)
    if "endpoint" in body:
        webhook = replace(webhook, endpoint=_endpoint(body))
    if "events" in body:
        webhook = replace(webhook, events=_events(body))
    if "status" in body:
        status = body["status"]
        if status not in ("enabled", "disabled"):
            raise invalid("The `status` field must be `enabled` or `disabled`.")
        webhook = replace(webhook, status=status)
    store.update_webhook(webhook)
    return JSON({"object": "webhook", "id": webhook.id})


async def delete_webhook(request: Request) -> Response:
    store = store_of(request)
    webhook = _require(store, request.path_params["webhook_id"])
    store.delete_webhook(webhook.id)
    return JSON({"object": "webhook", "id": webhook.id, "deleted": True})
