"""Auth, the team rate limit and the injected faults of the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from contacts_mcp.emulator import EmulatorOptions, ResponseLost, create_app

pytestmark = pytest.mark.anyio

HEADERS = {"Authorization": "Bearer re_test_123", "User-Agent": "contacts-mcp-tests"}
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")
RATE_LIMITED = {
    "statusCode": 429,
    "message": "Too many requests. Please limit the number of requests per second. "
    "Or contact support to increase rate limit.",
    "name": "rate_limit_exceeded",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.25

    def __call__(self) -> float:
        return self.now


def client_for(app: Starlette, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://emulator",
        headers=HEADERS if headers is None else headers,
    )


def rate_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in RATE_HEADERS if name in response.headers}


async def post_contact(app: Starlette) -> httpx.Response:
    async with client_for(app) as client:
        return await client.post("/contacts", json={"email": "ada@example.com"})


# -- rate limit --------------------------------------------------------------------------------


async def test_the_request_over_the_limit_in_one_window_is_429_with_retry_after() -> None:
    app = create_app(EmulatorOptions(rate_limit=3, clock=FakeClock()))

    async with client_for(app) as client:
        responses = [await client.get("/contacts") for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert rate_headers(responses[3]) == {
        "ratelimit-limit": "3",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "1",
        "ratelimit-policy": "3;w=1",
    }
    assert responses[3].headers["retry-after"] == "1"
    assert responses[3].json() == RATE_LIMITED
    assert "retry-after" not in responses[0].headers


async def test_a_new_window_starts_a_new_count() -> None:
    clock = FakeClock()
    app = create_app(EmulatorOptions(rate_limit=1, clock=clock))

    async with client_for(app) as client:
        allowed = await client.get("/contacts")
        refused = await client.get("/contacts")
        clock.now += 0.75  # the next whole second: a new window
        allowed_again = await client.get("/contacts")

    assert [allowed.status_code, refused.status_code, allowed_again.status_code] == [200, 429, 200]
    assert allowed_again.headers["ratelimit-remaining"] == "0"


async def test_a_refused_request_is_not_applied() -> None:
    app = create_app(EmulatorOptions(rate_limit=1, clock=FakeClock()))

    async with client_for(app) as client:
        await client.get("/contacts")
        refused = await client.post("/contacts", json={"email": "ada@example.com"})

    assert refused.status_code == 429
    assert app.state.store.find_contact("ada@example.com") is None


async def test_errors_carry_the_rate_limit_headers_too() -> None:
    app = create_app(EmulatorOptions(rate_limit=10, clock=FakeClock()))

    async with client_for(app) as client:
        not_found = await client.get("/nope")
        invalid = await client.get("/contacts?limit=0")
        wrong_method = await client.put("/contacts")

    for response in (not_found, invalid, wrong_method):
        assert rate_headers(response)["ratelimit-limit"] == "10"
    assert wrong_method.headers["ratelimit-remaining"] == "7"


async def test_an_unlimited_emulator_states_resends_default_limit_without_enforcing_it() -> None:
    # Resend sends ratelimit-* on every response (all 190 recorded in resend-node's HARs);
    # its docs have said 2, then 5, then 10 requests/s: the emulator states 5.
    app = create_app(EmulatorOptions(clock=FakeClock()))
    async with client_for(app) as client:
        responses = [await client.get("/contacts") for _ in range(50)]

    assert {r.status_code for r in responses} == {200}
    assert rate_headers(responses[0]) == {
        "ratelimit-limit": "5",
        "ratelimit-remaining": "4",
        "ratelimit-reset": "1",
        "ratelimit-policy": "5;w=1",
    }
    assert rate_headers(responses[-1])["ratelimit-remaining"] == "0"


async def test_the_stated_limit_can_be_set() -> None:
    app = create_app(EmulatorOptions(stated_rate_limit=100, clock=FakeClock()))
    async with client_for(app) as client:
        response = await client.get("/contacts")
    assert rate_headers(response)["ratelimit-limit"] == "100"


async def test_rejected_credentials_show_the_window_but_are_not_counted() -> None:
    app = create_app(EmulatorOptions(rate_limit=2, clock=FakeClock()))

    async with client_for(app, headers={"User-Agent": "t"}) as anonymous:
        rejected = [await anonymous.get("/contacts") for _ in range(3)]
    async with client_for(app) as client:
        accepted = await client.get("/contacts")

    assert [r.status_code for r in rejected] == [401, 401, 401]
    assert rejected[-1].headers["ratelimit-remaining"] == "2"
    assert accepted.headers["ratelimit-remaining"] == "1"


# -- authentication ----------------------------------------------------------------------------


async def test_a_missing_authorization_header_is_401_missing_api_key() -> None:
    async with client_for(create_app(), headers={"User-Agent": "t"}) as client:
        response = await client.get("/contacts")

    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": "Missing API key in the authorization header. Include the following header "
        "in the request: Authorization: Bearer YOUR_API_KEY",
        "name": "missing_api_key",
    }


@pytest.mark.parametrize(
    "authorization", ["Bearer sk_secret_value", "Basic re_secret_value", "Bearer re_", "re_abc"]
)
async def test_a_malformed_key_is_400_api_key_is_invalid_and_never_echoed(
    authorization: str,
) -> None:
    async with client_for(
        create_app(), headers={"User-Agent": "t", "Authorization": authorization}
    ) as client:
        response = await client.get("/contacts")

    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": "API key is invalid",
        "name": "validation_error",
    }
    assert "secret" not in response.text


async def test_a_configured_api_key_is_the_only_one_accepted() -> None:
    app = create_app(EmulatorOptions(api_key="re_the_right_one"))

    async with client_for(app, headers={"User-Agent": "t"}) as client:
        right = await client.get("/contacts", headers={"Authorization": "Bearer re_the_right_one"})
        wrong = await client.get("/contacts", headers={"Authorization": "Bearer re_test_123"})

    assert (right.status_code, wrong.status_code) == (200, 400)
    assert "re_test_123" not in wrong.text


async def test_a_missing_user_agent_is_a_plain_text_403_like_cloudflare() -> None:
    app = create_app(EmulatorOptions(rate_limit=5, clock=FakeClock()))

    async with client_for(app, headers={"Authorization": "Bearer re_test_123"}) as client:
        # httpx adds its own User-Agent unless told not to.
        client.headers.pop("User-Agent")
        response = await client.get("/contacts")

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "error code: 1010"
    assert rate_headers(response) == {}


# -- injected faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "status", "name"),
    [
        (EmulatorOptions(fault_429=1.0), 429, "rate_limit_exceeded"),
        (EmulatorOptions(fault_500=1.0), 500, "internal_server_error"),
        (EmulatorOptions(fault_503=1.0), 503, "service_unavailable"),
    ],
)
async def test_a_certain_fault_answers_its_status_and_applies_nothing(
    options: EmulatorOptions, status: int, name: str
) -> None:
    app = create_app(options)

    response = await post_contact(app)

    assert response.status_code == status
    assert response.json()["name"] == name
    assert app.state.store.find_contact("ada@example.com") is None


async def test_an_injected_429_counts_and_carries_the_window_headers() -> None:
    app = create_app(EmulatorOptions(rate_limit=5, fault_429=1.0, clock=FakeClock()))

    async with client_for(app) as client:
        responses = [await client.get("/contacts") for _ in range(2)]

    assert responses[1].json() == RATE_LIMITED
    assert responses[1].headers["retry-after"] == "1"
    assert responses[1].headers["ratelimit-remaining"] == "3"


async def test_a_seeded_emulator_injects_the_same_faults_every_run() -> None:
    async def statuses() -> list[int]:
        app = create_app(EmulatorOptions(fault_500=0.3, fault_503=0.3, seed=7))
        async with client_for(app) as client:
            return [(await client.get("/contacts")).status_code for _ in range(40)]

    first, second = await statuses(), await statuses()

    assert first == second
    assert {200, 500, 503} <= set(first)


async def test_latency_delays_but_does_not_change_the_answer() -> None:
    response = await post_contact(create_app(EmulatorOptions(latency=0.001)))

    assert response.status_code == 201


@pytest.mark.parametrize(
    "options",
    [
        {"fault_500": 1.5},
        {"drop_after_write": -0.1},
        {"fault_429": 0.5, "fault_500": 0.6},
        {"latency": -1.0},
        {"rate_limit": 0},
    ],
)
def test_impossible_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each option has its own message
        EmulatorOptions(**options)


# -- responses lost after a write --------------------------------------------------------------


async def test_a_dropped_write_is_applied_and_raises_response_lost_in_process() -> None:
    app = create_app(EmulatorOptions(drop_after_write=1.0))

    with pytest.raises(ResponseLost):
        await post_contact(app)

    assert app.state.store.find_contact("ada@example.com") is not None


async def test_reads_and_failed_writes_are_never_dropped() -> None:
    app = create_app(EmulatorOptions(drop_after_write=1.0))

    async with client_for(app) as client:
        read = await client.get("/contacts")
        failed = await client.post("/contacts", json={})

    assert (read.status_code, failed.status_code) == (200, 422)


async def test_a_dropped_write_breaks_the_connection_under_a_real_server(
    serve: Callable[[Starlette], str],
) -> None:
    app = create_app(EmulatorOptions(drop_after_write=1.0))
    base_url = serve(app)

    async with httpx.AsyncClient(base_url=base_url, headers=HEADERS) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/contacts", json={"email": "ada@example.com"})
        after = await client.get("/contacts/ada@example.com")

    assert after.status_code == 200
