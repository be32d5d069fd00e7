"""The emulator's webhooks: Resend's `/webhooks` endpoints, and contact events signed as
Svix signs them, delivered in the background (retried), verified by our server's route."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.emulator import EmulatorOptions, create_app
from contacts_mcp.emulator.webhooks import Deliveries, signature_headers
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.remote.http import HttpSettings, build_http_app
from contacts_mcp.remote.webhooks import WEBHOOK_PATH, OnEvent
from contacts_mcp.server import build_server
from contacts_mcp.services.webhook_events import ContactEvent
from tests.emulator.test_conformance import HEADERS, TIMESTAMP, UUID, client_for, error
from tests.emulator.test_imports import run_import

pytestmark = pytest.mark.anyio

WAIT = 20.0
RECEIVER = f"http://receiver{WEBHOOK_PATH}"
CONTACT_EVENTS = ["contact.created", "contact.updated", "contact.deleted"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app()) as client:
        yield client


async def new_webhook(
    client: httpx.AsyncClient, endpoint: str = RECEIVER, events: list[str] | None = None
) -> dict[str, Any]:
    body = {"endpoint": endpoint, "events": CONTACT_EVENTS if events is None else events}
    response = await client.post("/webhooks", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# -- the endpoints ---------------------------------------------------------------------------


async def test_a_webhook_is_created_with_a_signing_secret(client: httpx.AsyncClient) -> None:
    created = await new_webhook(client)
    assert list(created) == ["object", "id", "signing_secret"]
    assert created["object"] == "webhook"
    assert UUID.fullmatch(created["id"])
    assert created["signing_secret"].startswith("whsec_")
    got = (await client.get(f"/webhooks/{created['id']}")).json()
    assert list(got) == [
        "object", "id", "created_at", "status", "endpoint", "events", "signing_secret"
    ]  # fmt: skip
    assert (got["status"], got["endpoint"], got["events"], got["signing_secret"]) == (
        "enabled", RECEIVER, CONTACT_EVENTS, created["signing_secret"]
    )  # fmt: skip
    assert TIMESTAMP.fullmatch(got["created_at"])


async def test_webhooks_are_listed_newest_first_without_their_secrets(
    client: httpx.AsyncClient,
) -> None:
    first = await new_webhook(client, "https://one.example.com/hook")
    second = await new_webhook(client, "https://two.example.com/hook", ["email.sent"])
    listed = (await client.get("/webhooks")).json()
    assert (listed["object"], listed["has_more"]) == ("list", False)
    assert [item["id"] for item in listed["data"]] == [second["id"], first["id"]]
    assert list(listed["data"][0]) == ["id", "created_at", "status", "endpoint", "events"]
    assert "whsec_" not in json.dumps(listed)
    page = (await client.get("/webhooks?limit=1")).json()
    assert ([item["id"] for item in page["data"]], page["has_more"]) == ([second["id"]], True)


async def test_a_webhook_is_updated_disabled_and_deleted(client: httpx.AsyncClient) -> None:
    hook_id = (await new_webhook(client))["id"]
    changes = {"endpoint": "https://new.example.com/h", "events": ["contact.deleted"]}
    updated = await client.patch(f"/webhooks/{hook_id}", json={**changes, "status": "disabled"})
    assert (updated.status_code, updated.json()) == (200, {"object": "webhook", "id": hook_id})
    got = (await client.get(f"/webhooks/{hook_id}")).json()
    assert (got["endpoint"], got["events"], got["status"]) == (
        "https://new.example.com/h", ["contact.deleted"], "disabled"
    )  # fmt: skip
    deleted = await client.delete(f"/webhooks/{hook_id}")
    assert deleted.json() == {"object": "webhook", "id": hook_id, "deleted": True}
    gone = error(404, "not_found", "Webhook not found")
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, f"/webhooks/{hook_id}", json={})
        assert (response.status_code, response.json()) == (404, gone)


@pytest.mark.parametrize(
    ("body", "status", "name"),
    [
        ({"events": ["contact.created"]}, 422, "missing_required_field"),
        ({"endpoint": "ftp://x", "events": ["contact.created"]}, 422, "validation_error"),
        ({"endpoint": RECEIVER}, 422, "missing_required_field"),
        ({"endpoint": RECEIVER, "events": []}, 422, "missing_required_field"),
        ({"endpoint": RECEIVER, "events": ["contact.exploded"]}, 422, "validation_error"),
        ({"endpoint": RECEIVER, "events": "contact.created"}, 422, "validation_error"),
    ],
)
async def test_a_webhook_needs_an_endpoint_and_known_events(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, name: str
) -> None:
    response = await client.post("/webhooks", json=body)
    assert (response.status_code, response.json()["name"]) == (status, name)


async def test_a_status_is_enabled_or_disabled(client: httpx.AsyncClient) -> None:
    hook_id = (await new_webhook(client))["id"]
    response = await client.patch(f"/webhooks/{hook_id}", json={"status": "paused"})
    assert (response.status_code, response.json()["name"]) == (422, "validation_error")


def test_signatures_match_svixs_published_example() -> None:
    # docs.svix.com/receiving/verifying-payloads/how-manual
    headers = signature_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        '{"test": 2432232314}',
        timestamp=1614265330,
    )
    assert headers == {
        "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "svix-timestamp": "1614265330",
        "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


# -- deliveries --------------------------------------------------------------------------------


class Forward:
    """An ASGI app that passes requests on to `target`, set once the receiver exists (it
    needs the secret, which the emulator makes when the webhook is created)."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None
        await self.target(scope, receive, send)


@dataclass
class Received:
    events: list[ContactEvent] = field(default_factory=list)
    arrived: anyio.Event = field(default_factory=anyio.Event)

    async def __call__(self, event: ContactEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, count: int) -> list[ContactEvent]:
        with anyio.fail_after(WAIT):
            while len(self.events) < count:
                self.arrived = anyio.Event()
                await self.arrived.wait()
        return self.events


@dataclass
class Setup:
    emulator: httpx.AsyncClient
    deliveries: Deliveries
    received: Received
    secret: str
    hook_id: str
    statuses: list[int]


def our_server_app(secret: str, on_event: OnEvent, tmp_path: Path) -> Starlette:
    """The MCP server's own HTTP app (webhook route included), its events recorded."""
    config = BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:")
    imports = ImportSettings(files=FilePolicy(), state_dir=tmp_path)
    app = build_http_app(
        build_server(config, imports), HttpSettings(webhook_secret=secret), on_event=on_event
    )
    assert isinstance(app, Starlette)
    return app


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    """Emulator → its sender (over ASGI) → our server's /webhooks/resend → `received`."""
    forward = Forward()
    statuses: list[int] = []

    async def note(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    sender = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=forward), event_hooks={"response": [note]}
    )
    app = create_app(EmulatorOptions(webhook_sender=sender, webhook_retry_delays=(0, 0)))
    deliveries: Deliveries = app.state.webhooks
    async with sender, client_for(app) as emulator, deliveries.running():
        created = await new_webhook(emulator)
        received = Received()
        forward.target = our_server_app(created["signing_secret"], received, tmp_path)
        yield Setup(
            emulator, deliveries, received, created["signing_secret"], created["id"], statuses
        )
    app.state.store.close()


async def test_contact_changes_arrive_signed_in_order_and_verified_by_our_server(
    setup: Setup,
) -> None:
    emulator = setup.emulator
    segment = (await emulator.post("/segments", json={"name": "VIP"})).json()["id"]
    made = await emulator.post(
        "/contacts",
        json={"email": "ada@example.com", "first_name": "Ada", "segments": [{"id": segment}]},
    )
    contact_id = made.json()["id"]
    await emulator.patch(f"/contacts/{contact_id}", json={"unsubscribed": True, "last_name": "L"})
    await emulator.delete("/contacts/ada@example.com")
    created, updated, deleted = await setup.received.wait_for(3)
    assert [e.type for e in (created, updated, deleted)] == CONTACT_EVENTS
    assert {e.id for e in (created, updated, deleted)} == {contact_id}
    assert (created.email, created.first_name, created.last_name, created.unsubscribed) == (
        "ada@example.com", "Ada", "", False
    )  # fmt: skip
    assert (updated.last_name, updated.unsubscribed) == ("L", True)
    assert created.segment_ids == deleted.segment_ids == (segment,)
    assert created.updated_at is not None
    assert created.created_at.endswith("Z")
    assert len({e.event_id for e in (created, updated, deleted)}) == 3
    assert setup.statuses == [200, 200, 200]


async def test_a_duplicate_create_and_an_import_fire_no_event(setup: Setup) -> None:
    emulator = setup.emulator
    await emulator.post("/contacts", json={"email": "ada@example.com"})
    await emulator.post("/contacts", json={"email": "ADA@example.com"})  # exists: no change
    done = await run_import(emulator, "email\nbob@example.com\nada@example.com\n")
    assert done["status"] == "completed"
    await emulator.post("/contacts", json={"email": "cy@example.com"})  # a marker
    events = await setup.received.wait_for(2)
    assert [(e.type, e.email) for e in events] == [
        ("contact.created", "ada@example.com"), ("contact.created", "cy@example.com")
    ]  # fmt: skip


async def test_only_enabled_webhooks_subscribed_to_the_type_receive_it(setup: Setup) -> None:
    emulator = setup.emulator
    await emulator.patch(f"/webhooks/{setup.hook_id}", json={"events": ["contact.deleted"]})
    await emulator.post("/contacts", json={"email": "ada@example.com"})
    await emulator.patch("/contacts/ada@example.com", json={"first_name": "Ada"})
    await emulator.post("/contacts", json={"email": "bob@example.com"})
    await emulator.delete("/contacts/bob@example.com")
    [event] = await setup.received.wait_for(1)
    assert (event.type, event.email) == ("contact.deleted", "bob@example.com")
    await emulator.patch(f"/webhooks/{setup.hook_id}", json={"status": "disabled"})
    await emulator.delete("/contacts/ada@example.com")
    await emulator.patch(f"/webhooks/{setup.hook_id}", json={"status": "enabled"})
    await emulator.post("/contacts", json={"email": "cy@example.com"})
    await emulator.delete("/contacts/cy@example.com")
    events = await setup.received.wait_for(2)
    assert [e.email for e in events] == ["bob@example.com", "cy@example.com"]


async def test_a_replayed_message_is_acknowledged_and_not_applied_again(setup: Setup) -> None:
    await setup.emulator.post("/contacts", json={"email": "ada@example.com"})
    [event] = await setup.received.wait_for(1)
    assert setup.deliveries.message_ids() == [event.event_id]
    assert setup.deliveries.replay(event.event_id) == 1
    assert setup.deliveries.replay("msg_unknown") == 0
    await setup.emulator.post("/contacts", json={"email": "bob@example.com"})  # a marker
    events = await setup.received.wait_for(2)
    assert [e.email for e in events] == ["ada@example.com", "bob@example.com"]
    assert setup.statuses == [200, 200, 200]  # the replay was acknowledged


async def test_a_forged_delivery_is_refused_by_our_server(setup: Setup, tmp_path: Path) -> None:
    body = json.dumps({"type": "contact.deleted", "created_at": "x", "data": {}})
    app = our_server_app(setup.secret, setup.received, tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        forged = signature_headers("whsec_" + "A" * 32, "msg_forged", body)
        response = await http.post(RECEIVER, content=body, headers=forged)
    assert response.status_code == 401
    assert setup.received.events == []


async def test_failed_deliveries_are_retried_until_they_succeed() -> None:
    received: list[dict[str, str]] = []
    failures = [503, None]  # a 503, then a connection that breaks
    arrived = anyio.Event()

    def receiver(request: httpx.Request) -> httpx.Response:
        if failures:
            status = failures.pop(0)
            if status is None:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(status)
        received.append(dict(request.headers))
        arrived.set()
        return httpx.Response(204)

    sender = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    app = create_app(EmulatorOptions(webhook_sender=sender, webhook_retry_delays=(0, 0, 0)))
    deliveries: Deliveries = app.state.webhooks
    async with sender, client_for(app) as emulator, deliveries.running():
        await new_webhook(emulator)
        await emulator.post("/contacts", json={"email": "ada@example.com"})
        with anyio.fail_after(WAIT):
            await arrived.wait()
    app.state.store.close()
    [headers] = received
    assert [(a.status, a.error) for a in deliveries.attempts] == [
        (503, None), (None, "ConnectError"), (204, None)
    ]  # fmt: skip
    assert {a.message_id for a in deliveries.attempts} == {headers["svix-id"]}
    assert headers["content-type"] == "application/json"


async def test_a_delivery_that_keeps_failing_is_given_up_and_the_next_one_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    done = anyio.Event()

    def receiver(request: httpx.Request) -> httpx.Response:
        email = json.loads(request.content)["data"]["email"]
        calls.append(email)
        if email == "bob@example.com":
            done.set()
            return httpx.Response(200)
        return httpx.Response(500)

    sender = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    app = create_app(EmulatorOptions(webhook_sender=sender, webhook_retry_delays=(0, 0)))
    deliveries: Deliveries = app.state.webhooks
    async with sender, client_for(app) as emulator, deliveries.running():
        await new_webhook(emulator)
        await emulator.post("/contacts", json={"email": "ada@example.com"})
        await emulator.post("/contacts", json={"email": "bob@example.com"})
        with anyio.fail_after(WAIT):
            await done.wait()
    app.state.store.close()
    assert calls == ["ada@example.com"] * 3 + ["bob@example.com"]
    assert "not delivered after 3 attempts" in caplog.text


async def test_events_wait_until_deliveries_run(tmp_path: Path) -> None:
    got: list[str] = []
    arrived = anyio.Event()

    def receiver(request: httpx.Request) -> httpx.Response:
        got.append(json.loads(request.content)["type"])
        arrived.set()
        return httpx.Response(200)

    sender = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    app = create_app(EmulatorOptions(webhook_sender=sender))
    deliveries: Deliveries = app.state.webhooks
    async with sender, client_for(app) as emulator:
        await new_webhook(emulator)
        made = await emulator.post("/contacts", json={"email": "ada@example.com"})
        assert made.status_code == 201  # answered without waiting for any delivery
        assert got == []
        async with deliveries.running():
            with anyio.fail_after(WAIT):
                await arrived.wait()
    app.state.store.close()
    assert got == ["contact.created"]


def test_under_uvicorn_the_lifespan_delivers_with_a_client_of_its_own(
    serve: Callable[[Starlette], str], tmp_path: Path
) -> None:
    # Two servers, each on its own thread's loop: a thread event says an event arrived.
    arrived = threading.Event()
    events: list[ContactEvent] = []

    async def on_event(event: ContactEvent) -> None:
        events.append(event)
        arrived.set()

    forward = Forward()
    receiver_url = serve(Starlette(routes=[Mount("", app=forward)]))
    emulator_url = serve(create_app(EmulatorOptions(webhook_retry_delays=(0,))))
    with httpx.Client(base_url=emulator_url, headers=HEADERS, timeout=30) as emulator:
        body = {"endpoint": f"{receiver_url}{WEBHOOK_PATH}", "events": CONTACT_EVENTS}
        secret = emulator.post("/webhooks", json=body).json()["signing_secret"]
        forward.target = our_server_app(secret, on_event, tmp_path)
        assert emulator.post("/contacts", json={"email": "ada@example.com"}).status_code == 201
        assert arrived.wait(WAIT)
    assert [(e.type, e.email) for e in events] == [("contact.created", "ada@example.com")]
