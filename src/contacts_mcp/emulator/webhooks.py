"""Resend's contact webhooks, emulated: events signed as Svix signs Resend's, delivered in
the background, retried on failure.

A contact created, updated or deleted through the API (not by an import: Resend fires no
events for those either) becomes one message per enabled webhook subscribed to its type:
`{"type", "created_at", "data": {id, audience_id?, segment_ids, created_at, updated_at,
email, first_name, last_name, unsubscribed}}`, posted with `svix-id`, `svix-timestamp`
and `svix-signature` headers (signed by the `standardwebhooks` library, Svix's scheme).

Delivery needs an event loop that outlives the request, and `httpx.ASGITransport` runs
none (see `store.import_runner`): the app's lifespan runs `Deliveries.running()` under
uvicorn, and an in-process caller runs it in its own task group. Until it runs, messages
wait in a bounded queue. Messages go out one at a time in order; a failed attempt (a
transport error or a non-2xx answer) is retried after each of `retry_delays`, then
dropped with a warning, so a failing endpoint delays the ones after it (Svix retries
over a day and in parallel; an emulator only needs the behaviour a receiver sees).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
from standardwebhooks import Webhook

from contacts_mcp.emulator.store import Contact, Store

__all__ = [
    "DEFAULT_RETRY_DELAYS",
    "EVENT_TYPES",
    "Attempt",
    "Deliveries",
    "Message",
    "contact_payload",
    "signature_headers",
]

logger = logging.getLogger("contacts_mcp.emulator")

# The event types Resend's webhooks accept (resend-python `WebhookEvent`, 2.x); the
# emulator sends only the contact ones.
EVENT_TYPES = frozenset(
    {
        "email.sent", "email.scheduled", "email.delivered", "email.delivery_delayed",
        "email.complained", "email.bounced", "email.opened", "email.clicked",
        "email.received", "email.failed", "email.suppressed",
        "contact.created", "contact.updated", "contact.deleted", "contact.topics.updated",
        "domain.created", "domain.updated", "domain.deleted",
        "suppression.added", "suppression.removed",
        "topic.created", "topic.updated", "topic.deleted",
    }
)  # fmt: skip
DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0)
DELIVERY_TIMEOUT = 15.0
QUEUE_LIMIT = 10_000
# Messages kept for `replay` and attempts kept for inspection.
REMEMBERED = 1_000
USER_AGENT = "contacts-mcp-emulator (Svix-compatible webhooks)"


@dataclass(frozen=True, slots=True)
class Message:
    """One event for one webhook: `id` is its `svix-id`, the same on every attempt."""

    id: str
    type: str
    body: str
    webhook_id: str
    endpoint: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Attempt:
    message_id: str
    webhook_id: str
    status: int | None
    """The endpoint's HTTP status, or None when no answer came (`error` says why)."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signature_headers(
    secret: str, message_id: str, body: str, *, timestamp: float | None = None
) -> dict[str, str]:
    """Svix's headers for delivering `body` as message `message_id`, signed with `secret`
    at `timestamp` (default: now). Tests use it to forge, age or replay a delivery."""
    seconds = math.floor(time.time() if timestamp is None else timestamp)
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(seconds, UTC), body)
    return {"svix-id": message_id, "svix-timestamp": str(seconds), "svix-signature": signature}


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def _iso(stamp: str) -> str:
    """The store's Postgres-style timestamp as webhook payloads show times (ISO 8601)."""
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f+00").replace(tzinfo=UTC)
    except ValueError:
        return stamp
    return _iso_of(moment)


def _iso_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def contact_payload(
    kind: str, contact: Contact, segment_ids: Sequence[str], *, at: datetime | None = None
) -> dict[str, Any]:
    """The body of a contact event, as resend.com/docs/webhooks/contacts/created shows it.

    `updated_at` (the emulator keeps no such column) and the envelope's `created_at` are
    the time of the change. `audience_id`, the older name of a list, is the first segment
    when there is one (what Resend sends for a contact in no list is unconfirmed).
    """
    stamp = _iso_of(at or datetime.now(UTC))
    data: dict[str, Any] = {"id": contact.id}
    if segment_ids:
        data["audience_id"] = segment_ids[0]
    data |= {
        "segment_ids": list(segment_ids),
        "created_at": _iso(contact.created_at),
        "updated_at": stamp,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "unsubscribed": contact.unsubscribed,
    }
    return {"type": kind, "created_at": stamp, "data": data}


class Deliveries:
    """The emulator's outgoing webhooks: `contact_changed` (the store's contact listener)
    queues messages, `running()` delivers them through `sender` (default: a client of its
    own), retrying after each of `retry_delays`. Call `contact_changed` and `replay` on
    the event loop's thread."""

    def __init__(
        self,
        store: Store,
        *,
        sender: httpx.AsyncClient | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self._store = store
        self._sender = sender
        self._retry_delays = tuple(retry_delays)
        self._queue: deque[Message] = deque()
        self._wake: anyio.Event | None = None
        self._messages: OrderedDict[str, list[Message]] = OrderedDict()
        self.attempts: deque[Attempt] = deque(maxlen=REMEMBERED)

    def contact_changed(self, kind: str, contact: Contact, segment_ids: list[str]) -> None:
        hooks = self._store.webhooks_for(kind)
        if not hooks:
            return
        body = json.dumps(contact_payload(kind, contact, segment_ids), separators=(",", ":"))
        message_id = new_message_id()
        messages = [
            Message(message_id, kind, body, hook.id, hook.endpoint, hook.signing_secret)
            for hook in hooks
        ]
        self._messages[message_id] = messages
        while len(self._messages) > REMEMBERED:
            self._messages.popitem(last=False)
        for message in messages:
            self._enqueue(message)

    def replay(self, message_id: str) -> int:
        """Deliver a message again with its `svix-id` (and a fresh timestamp and
        signature), as a Svix retry or a replay from Resend's dashboard does; returns how
        many deliveries were queued (0 for an unknown or forgotten id)."""
        messages = self._messages.get(message_id, [])
        for message in messages:
            self._enqueue(message)
        return len(messages)

    def message_ids(self) -> list[str]:
        """Ids of the messages made so far (oldest first, the last `REMEMBERED`)."""
        return list(self._messages)

    def _enqueue(self, message: Message) -> None:
        if len(self._queue) >= QUEUE_LIMIT:
            dropped = self._queue.popleft()
            logger.warning("Webhook queue full: dropped message %s", dropped.id)
        self._queue.append(message)
        if self._wake is not None:
            self._wake.set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Deliver queued and new messages until the block ends."""
        async with AsyncExitStack() as stack, anyio.create_task_group() as group:
            group.start_soon(self._run, stack)
            try:
                yield
            finally:
                group.cancel_scope.cancel()

    async def _run(self, stack: AsyncExitStack) -> None:
        sender = self._sender
        while True:
            while self._queue:
                if sender is None:  # built on first use: most emulators send nothing
                    sender = await stack.enter_async_context(
                        httpx.AsyncClient(timeout=DELIVERY_TIMEOUT)
                    )
                await self._deliver(sender, self._queue.popleft())
            # Nothing awaits between the check above and this: no message slips by.
            self._wake = anyio.Event()
            await self._wake.wait()
            self._wake = None

    async def _deliver(self, sender: httpx.AsyncClient, message: Message) -> None:
        for delay in (0.0, *self._retry_delays):
            if delay > 0:
                await anyio.sleep(delay)
            headers = signature_headers(message.secret, message.id, message.body)
            headers |= {"content-type": "application/json", "user-agent": USER_AGENT}
            try:
                response = await sender.post(
                    message.endpoint, content=message.body.encode(), headers=headers
                )
            except httpx.HTTPError as exc:
                attempt = Attempt(message.id, message.webhook_id, None, type(exc).__name__)
            else:
                attempt = Attempt(message.id, message.webhook_id, response.status_code)
            self.attempts.append(attempt)
            if attempt.ok:
                return
            logger.info(
                "Webhook %s to %s failed (%s)",
                message.id,
                message.endpoint,
                attempt.error or attempt.status,
            )
        logger.warning(
            "Webhook %s (%s) to %s not delivered after %d attempts",
            message.id,
            message.type,
            message.endpoint,
            1 + len(self._retry_delays),
        )
