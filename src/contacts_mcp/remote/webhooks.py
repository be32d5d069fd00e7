"""`POST /webhooks/resend`: Resend's contact events, verified, each applied once, in order.

Resend delivers webhooks through Svix: headers `svix-id`, `svix-timestamp` and
`svix-signature` sign `{id}.{timestamp}.{body}` with the endpoint's `whsec_…` secret.
The `standardwebhooks` library checks them (Svix's scheme under its own header names);
no signature code lives here. What this module adds around it:

- The body is capped (`MAX_BODY_BYTES`, 413) before anything reads it whole.
- A missing or wrong signature, or a timestamp more than 5 minutes off, is a 401 and
  changes nothing. A signed body that is not an event is a 400 (Svix retries it, and a
  person can see the failures in Resend's dashboard).
- Contact events go to `on_event` one at a time, in order of arrival; the answer waits
  for it, so a 2xx means applied (and a failure, a 503, means Svix tries again later).
  Other event types are acknowledged and ignored.
- Replays: an `svix-id` seen before is acknowledged and not applied again. The record is
  in memory and bounded (`REMEMBERED_IDS`). That suffices because a captured request
  can be replayed only while its timestamp is within the 5-minute tolerance, far less
  than the record holds; and a genuine redelivery after a restart (Svix retries for
  about a day) is applied again, which the mirror must tolerate anyway, since Svix
  delivers at least once and out of order. Persisting ids would cost a disk write per
  event for no gain over that.

The secret never appears in a log line, an answer or an exception message.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError, WebhookVerificationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from contacts_mcp.services.webhook_events import ContactEvent, parse_contact_event

__all__ = [
    "MAX_BODY_BYTES",
    "SECRET_ENV",
    "WEBHOOK_PATH",
    "OnEvent",
    "ResendWebhook",
    "check_secret",
]

logger = logging.getLogger("contacts_mcp.remote.webhooks")

WEBHOOK_PATH = "/webhooks/resend"
SECRET_ENV = "CONTACTS_MCP_WEBHOOK_SECRET"  # noqa: S105 - where it is, not what
# Resend's contact events are well under 2 KiB; room for much larger ones all the same.
MAX_BODY_BYTES = 256 * 1024
# `svix-id`s remembered to acknowledge a replay without applying it again.
REMEMBERED_IDS = 10_000
# Seconds an event may wait for its turn and be applied; past them the answer is a 503
# (Svix times out slow answers and retries them anyway).
APPLY_SECONDS = 10.0

# Returns False when the event changed nothing (the mirror holds a newer fact, or no
# such contact to delete); None or True: applied.
OnEvent = Callable[[ContactEvent], Awaitable[bool | None]]


def check_secret(secret: str) -> str:
    """`secret` stripped, if it is a usable `whsec_…` signing secret; ValueError otherwise.

    The error never repeats the value: it is a secret, or a mistyped one.
    """
    secret = secret.strip()
    if not secret.startswith("whsec_") or len(secret) <= len("whsec_"):
        raise ValueError(
            "the webhook secret must be the endpoint's signing secret, which starts with "
            "whsec_ (Resend dashboard → Webhooks → the endpoint → Signing secret)"
        )
    try:
        Webhook(secret)
    except (EmptyWebhookSecretError, ValueError):
        raise ValueError(
            "the webhook secret is not a valid whsec_ signing secret (base64 after whsec_)"
        ) from None
    return secret


class ResendWebhook:
    """The route's handler: `receive` is a Starlette endpoint (`POST`).

    `on_event` applies one contact event; it is never called for two at once.
    """

    def __init__(
        self,
        secret: str,
        on_event: OnEvent,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        remembered: int = REMEMBERED_IDS,
        apply_seconds: float = APPLY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = Webhook(check_secret(secret))
        self._on_event = on_event
        self._max_body = max_body_bytes
        self._remembered = remembered
        self._apply_seconds = apply_seconds
        self._clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()
        # FIFO: events are applied in the order their requests got here.
        self._turn = anyio.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"ResendWebhook(remembered={len(self._seen)})"

    async def receive(self, request: Request) -> Response:
        body = await self._body(request)
        if body is None:
            return _answer(413, "too_large", f"The body is larger than {self._max_body} bytes.")
        headers = _signature_headers(request)
        try:
            # No JSON parsing inside: a signed body that is not JSON is ours to report.
            self._verifier.verify(body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError) as exc:
            # The library's messages name the problem (missing headers, timestamp too
            # old, no matching signature), never the secret.
            logger.warning("Refused a webhook delivery: %s", exc)
            return _answer(401, "invalid_signature", "The webhook signature does not verify.")
        event_id = headers["webhook-id"]
        if event_id in self._seen:
            return _answer(200, "duplicate", "Already received; not applied again.")
        try:
            payload: Any = json.loads(body)
            event = parse_contact_event(payload, event_id=event_id, received_at=self._clock())
        except (ValueError, RecursionError) as exc:
            logger.warning("Refused webhook %s: %s", event_id, exc)
            return _answer(400, "invalid_payload", f"Not a Resend event: {exc}.")
        if event is None:
            self._remember(event_id)
            return _answer(200, "ignored", "Not a contact event.")
        return await self._apply(event)

    async def _apply(self, event: ContactEvent) -> Response:
        with anyio.move_on_after(self._apply_seconds) as waited:
            async with self._turn:
                # A copy of this delivery may have been applied while this one waited.
                if event.event_id in self._seen:
                    return _answer(200, "duplicate", "Already received; not applied again.")
                try:
                    changed = await self._on_event(event)
                except Exception:
                    logger.exception("Could not apply webhook %s (%s)", event.event_id, event.type)
                    return _answer(503, "not_applied", "Not applied; retry later.", retry=True)
                self._remember(event.event_id)
                if changed is False:
                    return _answer(
                        200, "unchanged", f"{event.type} changed nothing: older than what is known."
                    )
                return _answer(200, "applied", f"{event.type} applied.")
        assert waited.cancelled_caught
        logger.warning("Webhook %s not applied within %s s", event.event_id, self._apply_seconds)
        return _answer(503, "busy", "Not applied in time; retry later.", retry=True)

    def _remember(self, event_id: str) -> None:
        self._seen[event_id] = None
        while len(self._seen) > self._remembered:
            self._seen.popitem(last=False)

    async def _body(self, request: Request) -> bytes | None:
        """The request's body, or None past the cap (read no further than the cap)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self._max_body:
                    return None
                chunks.append(chunk)
        except ClientDisconnect:
            return b""
        return b"".join(chunks)


def _signature_headers(request: Request) -> dict[str, str]:
    """Svix's headers under the names `standardwebhooks` reads (the scheme is the same);
    Standard Webhooks' own names are taken where Svix's are absent."""
    return {
        f"webhook-{part}": request.headers.get(f"svix-{part}")
        or request.headers.get(f"webhook-{part}")
        or ""
        for part in ("id", "timestamp", "signature")
    }


def _answer(status: int, outcome: str, message: str, *, retry: bool = False) -> Response:
    headers = {"Retry-After": "30"} if retry else None
    return JSONResponse({"outcome": outcome, "message": message}, status, headers=headers)
