"""`POST /webhooks/resend`: only deliveries signed with the configured secret, on time and
of bounded size, reach the callback; each once, one at a time, in order of arrival.

Deliveries are signed with the emulator's `signature_headers` (the `standardwebhooks`
library, checked against Svix's published example in tests/emulator/test_webhooks.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.emulator.webhooks import signature_headers
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.remote.access import StaticTokens, TokenSource, parse_token_pairs
from contacts_mcp.remote.http import HttpSettings, build_http_app
from contacts_mcp.remote.webhooks import (
    MAX_BODY_BYTES,
    WEBHOOK_PATH,
    OnEvent,
    ResendWebhook,
    check_secret,
)
from contacts_mcp.server import build_server
from contacts_mcp.services.webhook_events import ContactEvent
from tests.remote.conftest import mcp_client, serving
from tests.remote.test_cli_http import cli

pytestmark = pytest.mark.anyio

# Svix's documented example secret; any whsec_ secret would do.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
CONTACT_ID = "e169aa45-1ecf-4183-9955-b1499d5701d3"
WAIT = 20.0


def event_body(
    kind: str = "contact.updated", *, email: str | None = "ada@example.com", **data: Any
) -> str:
    return json.dumps(
        {
            "type": kind,
            "created_at": "2026-12-01T10:00:00.000Z",
            "data": {
                "id": CONTACT_ID,
                "audience_id": "78261eea-8f8b-4381-83c6-79fa7120f1cf",
                "segment_ids": [],
                "created_at": "2026-11-30T09:00:00.000Z",
                "updated_at": "2026-12-01T10:00:00.000Z",
                "email": email,
                "first_name": "Ada",
                "last_name": "Lovelace",
                "unsubscribed": False,
                **data,
            },
        }
    )


class Recorder:
    """A recording `on_event`; notes whether it was ever entered twice at once."""

    def __init__(self, *, fail: int = 0) -> None:
        self.events: list[ContactEvent] = []
        self.fail = fail
        self.active = 0
        self.overlapped = False
        self._wanted = 0
        self._enough = anyio.Event()

    async def __call__(self, event: ContactEvent) -> None:
        self.active += 1
        self.overlapped |= self.active > 1
        try:
            await anyio.lowlevel.checkpoint()  # let a concurrent delivery overlap, if it can
            if self.fail:
                self.fail -= 1
                raise RuntimeError("the mirror is unavailable")
            self.events.append(event)
            if self._wanted and len(self.events) >= self._wanted:
                self._enough.set()
        finally:
            self.active -= 1

    async def wait_for(self, count: int) -> list[ContactEvent]:
        self._wanted = count
        if len(self.events) < count:
            with anyio.fail_after(WAIT):
                await self._enough.wait()
        return self.events


def hook_app(hook: ResendWebhook) -> Starlette:
    return Starlette(routes=[Route(WEBHOOK_PATH, hook.receive, methods=["POST"])])


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    app = hook_app(ResendWebhook(SECRET, recorder))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
        yield client


async def deliver(
    http: httpx.AsyncClient,
    body: str | bytes | None = None,
    *,
    message_id: str = "msg_1",
    secret: str = SECRET,
    timestamp: float | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = event_body() if body is None else body
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    signed = signature_headers(secret, message_id, text, timestamp=timestamp)
    return await http.post(
        WEBHOOK_PATH,
        content=body,
        headers={"content-type": "application/json", **signed, **(headers or {})},
    )


async def test_a_signed_contact_event_reaches_the_callback(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await deliver(http, event_body(unsubscribed=True), message_id="msg_2Lh9")
    assert (response.status_code, response.json()["outcome"]) == (200, "applied")
    [event] = recorder.events
    assert (event.type, event.id, event.email, event.unsubscribed, event.event_id) == (
        "contact.updated", CONTACT_ID, "ada@example.com", True, "msg_2Lh9"
    )  # fmt: skip
    assert abs(event.received_at - time.time()) < 3600


async def test_an_event_for_a_contact_never_seen_is_handed_on_all_the_same(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    body = event_body("contact.deleted", id="00000000-0000-4000-8000-000000000000")
    assert (await deliver(http, body)).status_code == 200
    assert [(e.type, e.id) for e in recorder.events] == [
        ("contact.deleted", "00000000-0000-4000-8000-000000000000")
    ]


@pytest.mark.parametrize(
    "tampering",
    [
        {"secret": OTHER_SECRET},
        {"headers": {"svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}},
        {"headers": {"svix-signature": "v1"}},
        {"headers": {"svix-signature": "v1,not base64!"}},
        {"headers": {"svix-signature": "v2,abc v1,,"}},
        {"headers": {"svix-id": "msg_other"}},  # signed for another message id
        {"headers": {"svix-timestamp": "not-a-number"}},
    ],
)
async def test_a_bad_signature_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, recorder: Recorder, tampering: dict[str, Any]
) -> None:
    response = await deliver(http, **tampering)
    assert (response.status_code, response.json()["outcome"]) == (401, "invalid_signature")
    assert recorder.events == []


async def test_a_body_changed_after_signing_is_refused(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    signed = signature_headers(SECRET, "msg_1", event_body(email="ada@example.com"))
    response = await http.post(
        WEBHOOK_PATH, content=event_body(email="eve@example.com"), headers=signed
    )
    assert response.status_code == 401
    assert recorder.events == []


@pytest.mark.parametrize("header", ["svix-id", "svix-timestamp", "svix-signature"])
async def test_a_missing_signature_header_is_refused(
    http: httpx.AsyncClient, recorder: Recorder, header: str
) -> None:
    signed = signature_headers(SECRET, "msg_1", event_body())
    del signed[header]
    response = await http.post(WEBHOOK_PATH, content=event_body(), headers=signed)
    assert response.status_code == 401
    assert (await http.post(WEBHOOK_PATH, content=event_body())).status_code == 401
    assert recorder.events == []


@pytest.mark.parametrize("offset", [-6 * 60, 6 * 60, -24 * 3600])
async def test_a_timestamp_outside_five_minutes_is_refused(
    http: httpx.AsyncClient, recorder: Recorder, offset: int
) -> None:
    response = await deliver(http, timestamp=time.time() + offset)
    assert response.status_code == 401
    assert recorder.events == []


async def test_a_timestamp_within_five_minutes_is_accepted(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    assert (await deliver(http, timestamp=time.time() - 4 * 60)).status_code == 200
    assert len(recorder.events) == 1


async def test_a_huge_body_is_refused_before_it_is_read_whole(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    huge = event_body(first_name="A" * MAX_BODY_BYTES)
    # Signed correctly, and with a declared length: refused on the header alone.
    declared = await deliver(http, huge)
    assert declared.status_code == 413

    # Streamed (no Content-Length): refused once the cap is passed.
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 16 * 1024):
            yield huge[start : start + 16 * 1024].encode()

    signed = signature_headers(SECRET, "msg_1", huge)
    streamed = await http.post(WEBHOOK_PATH, content=chunks(), headers=signed)
    assert streamed.status_code == 413
    assert recorder.events == []


async def test_a_replayed_delivery_is_acknowledged_but_applied_once(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    first = await deliver(http, message_id="msg_again")
    # Svix's retry: the same id, signed afresh. A captured request replayed as is, too.
    again = await deliver(http, message_id="msg_again", timestamp=time.time() + 1)
    assert (first.json()["outcome"], again.status_code, again.json()["outcome"]) == (
        "applied", 200, "duplicate"
    )  # fmt: skip
    assert len(recorder.events) == 1
    assert (await deliver(http, message_id="msg_new")).json()["outcome"] == "applied"
    assert len(recorder.events) == 2


async def test_the_record_of_delivered_ids_is_bounded(recorder: Recorder) -> None:
    hook = ResendWebhook(SECRET, recorder, remembered=2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hook_app(hook)), base_url="http://server"
    ) as http:
        for message_id in ("msg_a", "msg_b", "msg_c", "msg_a"):
            assert (await deliver(http, message_id=message_id)).status_code == 200
    # msg_a was forgotten after two others: applied again (the mirror applies idempotently).
    assert [e.event_id for e in recorder.events] == ["msg_a", "msg_b", "msg_c", "msg_a"]


@pytest.mark.parametrize("kind", ["email.delivered", "contact.topics.updated", "domain.created"])
async def test_other_event_types_are_acknowledged_and_ignored(
    http: httpx.AsyncClient, recorder: Recorder, kind: str
) -> None:
    body = json.dumps({"type": kind, "created_at": "2026-12-01T10:00:00.000Z", "data": {}})
    response = await deliver(http, body)
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")
    assert recorder.events == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"type": 7}',
        json.dumps({"type": "contact.updated", "data": "nope"}),
        event_body(email=None),
        event_body(unsubscribed="yes"),
    ],
)
async def test_a_signed_but_malformed_payload_is_a_400_and_changes_nothing(
    http: httpx.AsyncClient, recorder: Recorder, body: str
) -> None:
    response = await deliver(http, body)
    assert (response.status_code, response.json()["outcome"]) == (400, "invalid_payload")
    assert recorder.events == []


async def test_a_failure_to_apply_is_a_503_and_the_redelivery_is_applied() -> None:
    recorder = Recorder(fail=1)
    app = hook_app(ResendWebhook(SECRET, recorder))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://server"
    ) as http:
        failed = await deliver(http, message_id="msg_retry")
        assert (failed.status_code, failed.headers["retry-after"]) == (503, "30")
        retried = await deliver(http, message_id="msg_retry")
    assert retried.json()["outcome"] == "applied"
    assert [e.event_id for e in recorder.events] == ["msg_retry"]


async def test_a_burst_of_a_thousand_events_is_applied_in_order_with_none_lost(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    for n in range(1000):
        response = await deliver(http, event_body(email=f"c{n}@example.com"), message_id=f"msg_{n}")
        assert response.status_code == 200
    events = await recorder.wait_for(1000)
    assert [e.email for e in events] == [f"c{n}@example.com" for n in range(1000)]


async def test_a_concurrent_burst_is_applied_one_at_a_time_each_exactly_once(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    statuses: list[int] = []

    async def send(n: int) -> None:
        body = event_body(email=f"c{n}@example.com")
        statuses.append((await deliver(http, body, message_id=f"msg_{n}")).status_code)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            for n in range(1000):
                group.start_soon(send, n)
            for n in range(0, 1000, 10):  # and a tenth of them twice, as Svix may
                group.start_soon(send, n)
    assert statuses == [200] * 1100
    events = await recorder.wait_for(1000)
    assert sorted(e.event_id for e in events) == sorted(f"msg_{n}" for n in range(1000))
    assert not recorder.overlapped


async def test_the_secret_never_appears_in_answers_or_logs(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        await deliver(http, secret=OTHER_SECRET),
        await deliver(http, "not json"),
        await deliver(http, timestamp=time.time() - 3600),
        await deliver(http),
    ]
    for secret in (SECRET, SECRET.removeprefix("whsec_")):
        assert all(secret not in answer.text for answer in answers)
        assert secret not in caplog.text
    assert SECRET not in repr(ResendWebhook(SECRET, Recorder()))
    assert SECRET not in repr(HttpSettings(webhook_secret=SECRET))


@pytest.mark.parametrize("bad", ["", "whsec_", "re_123456789", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
def test_only_a_whsec_secret_is_accepted_and_the_error_does_not_repeat_it(bad: str) -> None:
    with pytest.raises(ValueError, match="whsec_") as raised:
        check_secret(bad)
    assert not bad or bad == "whsec_" or bad not in str(raised.value)
    assert check_secret(f"  {SECRET}\n") == SECRET


# -- through the real HTTP app ------------------------------------------------------------


@contextmanager
def contacts_server(
    tmp_path: Path, settings: HttpSettings | None = None, on_event: OnEvent | None = None
) -> Iterator[str]:
    """Our server (local emulator in memory) under uvicorn; yields its base URL."""
    config = BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:")
    imports = ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path)
    app = build_http_app(
        build_server(config, imports), settings or HttpSettings(), on_event=on_event
    )
    with serving(app) as url:
        yield url


async def post(url: str, **options: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{url}{WEBHOOK_PATH}", **options)


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url)


def signed(body: str, message_id: str = "msg_http") -> dict[str, Any]:
    return {"content": body, "headers": signature_headers(SECRET, message_id, body)}


@pytest.fixture
def tokens() -> StaticTokens:
    return StaticTokens(TokenSource(parse_token_pairs("ops=ops-token-0123456789abcdef"), None))


async def test_the_http_app_takes_signed_events_without_a_bearer_token(
    tmp_path: Path, recorder: Recorder, tokens: StaticTokens
) -> None:
    settings = HttpSettings(static=tokens, webhook_secret=SECRET)
    with contacts_server(tmp_path, settings, on_event=recorder) as url:
        # Behind a proxy: a public Host name, which /mcp would refuse (421).
        public = signed(event_body())
        public["headers"]["host"] = "contacts.example.com"
        assert (await post(url, **public)).status_code == 200
        forged = signature_headers(OTHER_SECRET, "msg_forged", event_body())
        assert (await post(url, content=event_body(), headers=forged)).status_code == 401
        health = (await get(f"{url}/healthz")).json()
        assert (await get(f"{url}/mcp")).status_code == 401  # /mcp still needs a token
    assert [e.event_id for e in recorder.events] == ["msg_http"]
    assert health["webhooks"] == "on"


async def test_without_a_secret_the_route_is_not_served_and_health_says_so(
    tmp_path: Path,
) -> None:
    with contacts_server(tmp_path) as url:
        assert (await post(url, **signed(event_body()))).status_code == 404
        assert (await get(f"{url}/healthz")).json()["webhooks"] == "off"


async def test_by_default_events_go_to_the_running_servers_mirror(tmp_path: Path) -> None:
    with contacts_server(tmp_path, HttpSettings(webhook_secret=SECRET)) as url:
        async with mcp_client(url) as client:
            made = await client.call_tool("create_contact", {"email": "ada@example.com"})
            assert made.structured_content is not None
        # A change made after the server's own write (by then, or its arrival): applied.
        later = datetime.now(UTC).isoformat()
        body = event_body(id=made.structured_content["id"], first_name="Augusta", updated_at=later)
        response = await post(url, **signed(body))
        # One about a contact the mirror does not hold changes nothing, and says so.
        stranger = event_body("contact.deleted", id="5e2c4b7a-9d8e-4f10-8a3b-2c1d0e9f8a7b")
        unchanged = await post(url, **signed(stranger, message_id="msg_stranger"))
    assert (response.status_code, response.json()["outcome"]) == (200, "applied")
    assert (unchanged.status_code, unchanged.json()["outcome"]) == (200, "unchanged")


def test_the_cli_refuses_a_secret_that_is_not_one_without_repeating_it(tmp_path: Path) -> None:
    not_a_secret = "re_live_0123456789abcdef"
    args = ("--local", "--db", ":memory:", "--transport", "http")
    from_env = cli(*args, env={"CONTACTS_MCP_WEBHOOK_SECRET": not_a_secret})
    (tmp_path / "secret").write_text(not_a_secret, encoding="utf-8")
    from_file = cli(*args, "--webhook-secret-file", str(tmp_path / "secret"))
    missing = cli(*args, "--webhook-secret-file", str(tmp_path / "absent"))
    for result in (from_env, from_file, missing):
        assert result.returncode == 2, result.stderr
        assert not_a_secret not in result.stderr
        assert "Traceback" not in result.stderr
    assert "CONTACTS_MCP_WEBHOOK_SECRET: the webhook secret must be" in from_env.stderr
    assert "Cannot read the webhook secret file" in missing.stderr


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_an_event_shows_in_search_at_once_and_the_note_says_live(
    tmp_path: Path, era: str
) -> None:
    with contacts_server(tmp_path, HttpSettings(webhook_secret=SECRET)) as url:
        async with mcp_client(url, era) as client:
            made = await client.call_tool("create_contact", {"email": "ada@example.com"})
            assert made.structured_content is not None
            opted_out = [{"field": "unsubscribed", "op": "eq", "value": True}]
            before = await client.call_tool("search_contacts", {"where": opted_out})
            assert before.structured_content is not None
            assert before.structured_content["count"] == 0
            # Ada unsubscribes in an email footer: Resend tells us, nobody syncs.
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            body = event_body(id=made.structured_content["id"], unsubscribed=True, updated_at=now)
            assert (await post(url, **signed(body, "msg_live"))).status_code == 200
            # The same event again, and an older one, change nothing.
            assert (await post(url, **signed(body, "msg_live"))).status_code == 200
            older = event_body(id=made.structured_content["id"], unsubscribed=False)
            assert (await post(url, **signed(older, "msg_older"))).status_code == 200
            after = await client.call_tool("search_contacts", {"where": opted_out})
            assert after.structured_content is not None
    assert after.structured_content["count"] == 1
    assert "Live from Resend's webhooks since" in after.structured_content["mirror"]["note"]
