"""ResendClient on the wire, against httpx.MockTransport with recorded Resend responses."""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from contacts_mcp import __version__
from contacts_mcp.api.client import ResendClient, build_http_client, contact_path
from contacts_mcp.api.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    TransportError,
)
from contacts_mcp.api.pacing import RatePacer

pytestmark = pytest.mark.anyio

API_KEY = "re_canary_5f0c1d2e3a4b"

# Recorded from api.resend.com (resend-node HAR files), see resend-contacts-api.md §7.
RECORDED_CONTACT: dict[str, Any] = {
    "object": "contact",
    "id": "7c8272c4-ed16-4d01-8202-17fb3b1a04ea",
    "email": "test-get-by-email@example.com",
    "first_name": None,
    "last_name": None,
    "created_at": "2025-11-30 20:39:59.540771+00",
    "unsubscribed": False,
    "properties": {},
}
RECORDED_PAGE: dict[str, Any] = {
    "object": "list",
    "has_more": True,
    "data": [
        {
            "id": "d01725fc-4857-4497-a164-a02e2bccb979",
            "created_at": "2025-11-30 20:41:40.84216+00",
            "email": "test.2@example.com",
            "unsubscribed": False,
            "first_name": None,
            "last_name": None,
        },
        {
            "id": "44871cdd-cb38-4e2a-b675-6592bbc85847",
            "created_at": "2025-11-30 20:39:58.758559+00",
            "email": "test.5@example.com",
            "unsubscribed": False,
            "first_name": None,
            "last_name": None,
        },
    ],
}
RATE_HEADERS = {
    "ratelimit-limit": "2",
    "ratelimit-remaining": "1",
    "ratelimit-reset": "1",
    "ratelimit-policy": "2;w=1",
}


def error_response(status: int, name: str, message: str = "m", **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"statusCode": status, "message": message, "name": name},
        headers=headers,
    )


class Recorder:
    """A MockTransport handler that replays responses in order and records requests."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Sleeps:
    """Virtual time: the client's retry sleeps are recorded, the pacer's only advance it."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    async def pacer_sleep(self, seconds: float) -> None:
        self.now += seconds


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    sleeps: Sleeps | None = None,
    **kwargs: object,
) -> tuple[httpx.AsyncClient, ResendClient]:
    http = build_http_client(
        base_url="https://api.resend.com", transport=httpx.MockTransport(handler)
    )
    sleeps = sleeps or Sleeps()
    client = ResendClient(
        http,
        api_key=API_KEY,
        pacer=RatePacer(rate_limit=None, clock=sleeps.clock, sleep=sleeps.pacer_sleep),
        sleep=sleeps,
        jitter=lambda: 0.0,
        **kwargs,  # type: ignore[arg-type]
    )
    return http, client


async def test_requests_carry_auth_user_agent_and_json() -> None:
    recorder = Recorder(httpx.Response(201, json={"object": "contact", "id": "abc"}))
    http, client = make_client(recorder)
    async with http:
        created = await client.create_contact(
            "ada@example.com", first_name="Ada", properties={"plan": "pro"}
        )
    request = recorder.requests[0]
    assert created.id == "abc"
    assert request.method == "POST"
    assert request.url == "https://api.resend.com/contacts"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"] == f"contacts-mcp/{__version__}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "properties": {"plan": "pro"},
    }


@pytest.mark.parametrize(
    ("contact", "raw_path"),
    [
        ("7c8272c4-ed16-4d01-8202-17fb3b1a04ea", "/contacts/7c8272c4-ed16-4d01-8202-17fb3b1a04ea"),
        ("ada@example.com", "/contacts/ada%40example.com"),
        ("a+tag@example.com", "/contacts/a%2Btag%40example.com"),
        ("o'brien/x@example.ie", "/contacts/o%27brien%2Fx%40example.ie"),
    ],
)
async def test_contact_paths_take_an_id_or_a_percent_encoded_email(
    contact: str, raw_path: str
) -> None:
    recorder = Recorder(httpx.Response(200, json=RECORDED_CONTACT))
    http, client = make_client(recorder)
    async with http:
        found = await client.get_contact(contact)
    assert recorder.requests[0].url.raw_path.decode() == raw_path
    assert contact_path(contact) == raw_path
    assert found.email == "test-get-by-email@example.com"
    assert found.created_at == "2025-11-30 20:39:59.540771+00"


async def test_update_sends_only_given_fields_and_null_to_clear() -> None:
    recorder = Recorder(httpx.Response(200, json={"object": "contact", "id": "abc"}))
    http, client = make_client(recorder)
    async with http:
        await client.update_contact("ada@example.com", first_name=None, unsubscribed=True)
    request = recorder.requests[0]
    assert request.method == "PATCH"
    assert json.loads(request.content) == {"first_name": None, "unsubscribed": True}


async def test_delete_returns_the_deleted_id() -> None:
    recorder = Recorder(
        httpx.Response(200, json={"object": "contact", "contact": "32cd6208", "deleted": True})
    )
    http, client = make_client(recorder)
    async with http:
        deleted = await client.delete_contact("test.0@example.com")
    assert recorder.requests[0].method == "DELETE"
    assert (deleted.contact, deleted.deleted) == ("32cd6208", True)


async def test_list_sends_paging_params_and_reads_the_envelope() -> None:
    recorder = Recorder(httpx.Response(200, json=RECORDED_PAGE))
    http, client = make_client(recorder)
    async with http:
        page = await client.list_contacts(limit=5, after="d01725fc-4857-4497-a164-a02e2bccb979")
        await client.list_contacts(before="x")
        await client.list_contacts(segment_id="78261eea-8f8b-4381-83c6-79fa7120f1cf", limit=2)
    first, second, third = recorder.requests
    assert first.url.path == "/contacts"
    assert dict(first.url.params) == {"limit": "5", "after": "d01725fc-4857-4497-a164-a02e2bccb979"}
    assert dict(second.url.params) == {"before": "x"}
    assert third.url.path == "/segments/78261eea-8f8b-4381-83c6-79fa7120f1cf/contacts"
    assert page.has_more is True
    assert [c.email for c in page.data] == ["test.2@example.com", "test.5@example.com"]


async def test_list_refuses_after_and_before_together_without_a_request() -> None:
    recorder = Recorder(httpx.Response(200, json=RECORDED_PAGE))
    http, client = make_client(recorder)
    async with http:
        with pytest.raises(ValueError, match="either after or before"):
            await client.list_contacts(after="a", before="b")
    assert recorder.requests == []


async def test_iter_contacts_follows_cursors_to_the_last_page() -> None:
    pages = {
        None: {"object": "list", "has_more": True, "data": RECORDED_PAGE["data"][:1]},
        "d01725fc-4857-4497-a164-a02e2bccb979": {
            "object": "list",
            "has_more": False,
            "data": RECORDED_PAGE["data"][1:],
        },
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("after")])

    http, client = make_client(handler)
    async with http:
        emails = [c.email async for c in client.iter_contacts(page_size=1)]
    assert emails == ["test.2@example.com", "test.5@example.com"]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (error_response(404, "not_found", "Contact not found"), NotFoundError),
        (
            error_response(422, "missing_required_field", "Missing `email` field."),
            InvalidRequestError,
        ),
        (error_response(401, "missing_api_key"), AuthenticationError),
        (error_response(400, "validation_error", "API key is invalid"), AuthenticationError),
        (error_response(429, "daily_quota_exceeded"), QuotaExceededError),
        (httpx.Response(403, text="error code: 1010"), AuthenticationError),
    ],
)
async def test_final_errors_are_raised_after_one_attempt(
    response: httpx.Response, expected: type[Exception]
) -> None:
    recorder = Recorder(response)
    sleeps = Sleeps()
    http, client = make_client(recorder, sleeps)
    async with http:
        with pytest.raises(expected) as info:
            await client.get_contact("ada@example.com")
    assert len(recorder.requests) == 1
    assert sleeps.calls == []
    assert API_KEY not in str(info.value)


async def test_rate_limited_request_waits_retry_after_then_succeeds() -> None:
    recorder = Recorder(
        error_response(429, "rate_limit_exceeded", **RATE_HEADERS, **{"retry-after": "3"}),
        httpx.Response(200, json=RECORDED_CONTACT, headers=RATE_HEADERS),
    )
    sleeps = Sleeps()
    http, client = make_client(recorder, sleeps)
    async with http:
        contact = await client.get_contact("test-get-by-email@example.com")
    assert contact.id == RECORDED_CONTACT["id"]
    assert len(recorder.requests) == 2
    assert sleeps.calls == [3.0]
    assert client.pacer.rate_limit == 2  # learned from the headers


async def test_429_without_retry_after_uses_ratelimit_reset() -> None:
    recorder = Recorder(
        error_response(429, "rate_limit_exceeded", **RATE_HEADERS),
        httpx.Response(200, json=RECORDED_CONTACT),
    )
    sleeps = Sleeps()
    http, client = make_client(recorder, sleeps)
    async with http:
        await client.get_contact("ada@example.com")
    assert sleeps.calls == [1.0]


async def test_retry_after_above_the_cap_is_reported_not_slept() -> None:
    recorder = Recorder(error_response(429, "rate_limit_exceeded", **{"retry-after": "121"}))
    sleeps = Sleeps()
    http, client = make_client(recorder, sleeps)
    async with http:
        with pytest.raises(RateLimitError) as info:
            await client.get_contact("ada@example.com")
    assert info.value.retry_after == 121
    assert len(recorder.requests) == 1
    assert sleeps.calls == []


async def test_persistent_rate_limit_gives_up_after_three_attempts() -> None:
    recorder = Recorder(error_response(429, "rate_limit_exceeded", **{"retry-after": "1"}))
    sleeps = Sleeps()
    http, client = make_client(recorder, sleeps)
    async with http:
        with pytest.raises(RateLimitError) as info:
            await client.get_contact("ada@example.com")
    assert len(recorder.requests) == 3
    assert info.value.attempts == 3
    assert sleeps.calls == [1.0, 1.0]


@pytest.mark.parametrize("failures", [0, 1, 2])
@pytest.mark.parametrize(
    "failure",
    [
        error_response(500, "internal_server_error"),
        error_response(503, "service_unavailable"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
    ids=["500", "503", "502-html", "connect", "read-timeout", "dropped"],
)
async def test_transient_failures_are_retried_with_backoff(
    failures: int, failure: httpx.Response | Exception
) -> None:
    recorder = Recorder(*([failure] * failures), httpx.Response(200, json=RECORDED_CONTACT))
    sleeps = Sleeps()
    http, client = make_client(recorder, sleeps)
    async with http:
        contact = await client.get_contact("ada@example.com")
    assert contact.id == RECORDED_CONTACT["id"]
    assert len(recorder.requests) == failures + 1
    assert sleeps.calls == [0.5, 1.0][:failures]


async def test_server_errors_give_up_after_three_attempts() -> None:
    recorder = Recorder(error_response(503, "service_unavailable"))
    http, client = make_client(recorder)
    async with http:
        with pytest.raises(ServerError) as info:
            await client.delete_contact("ada@example.com")
    assert len(recorder.requests) == 3
    assert (info.value.status_code, info.value.attempts) == (503, 3)


async def test_transport_failures_give_up_with_a_transport_error() -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    http, client = make_client(recorder)
    async with http:
        with pytest.raises(TransportError) as info:
            await client.list_contacts()
    assert len(recorder.requests) == 3
    assert info.value.attempts == 3
    assert "connect" in info.value.message.lower()


async def test_max_retries_zero_sends_once() -> None:
    recorder = Recorder(error_response(500, "application_error"))
    http, client = make_client(recorder, max_retries=0)
    async with http:
        with pytest.raises(ServerError):
            await client.get_contact("ada@example.com")
    assert len(recorder.requests) == 1


async def test_success_with_a_non_json_body_is_a_transport_error() -> None:
    recorder = Recorder(httpx.Response(200, text="<html>captive portal</html>"))
    http, client = make_client(recorder)
    async with http:
        with pytest.raises(TransportError, match="not JSON"):
            await client.get_contact("ada@example.com")


async def test_the_api_key_never_appears_in_repr_or_errors() -> None:
    recorder = Recorder(httpx.ConnectError(f"refused with Bearer {API_KEY}"))
    http, client = make_client(recorder, max_retries=0)
    async with http:
        assert API_KEY not in repr(client)
        with pytest.raises(TransportError) as info:
            await client.get_contact("ada@example.com")
    assert API_KEY not in str(info.value)
    assert API_KEY not in info.value.message


def test_an_empty_api_key_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        ResendClient(httpx.AsyncClient(), api_key="")


async def test_non_idempotent_calls_are_not_retried_once_they_may_have_arrived() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"), httpx.Response(201, json={"id": "x"}))
    http, client = make_client(recorder)
    async with http:
        with pytest.raises(TransportError) as info:
            await client._request("POST", "/contacts/imports", idempotent=False)
    assert len(recorder.requests) == 1
    assert info.value.sent is True


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        error_response(429, "rate_limit_exceeded", **{"retry-after": "1"}),
    ],
    ids=["never-sent", "rate-limited"],
)
async def test_non_idempotent_calls_are_retried_when_surely_not_applied(
    failure: httpx.Response | Exception,
) -> None:
    recorder = Recorder(failure, httpx.Response(201, json={"id": "x"}))
    http, client = make_client(recorder)
    async with http:
        assert await client._request("POST", "/contacts/imports", idempotent=False) == {"id": "x"}
    assert len(recorder.requests) == 2


async def test_a_server_error_on_a_non_idempotent_call_is_left_to_the_caller() -> None:
    recorder = Recorder(error_response(500, "internal_server_error"))
    http, client = make_client(recorder)
    async with http:
        with pytest.raises(ServerError):
            await client._request("POST", "/contacts/imports", idempotent=False)
    assert len(recorder.requests) == 1
