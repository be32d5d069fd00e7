"""Real answers of api.resend.com, replayed into the client through `httpx.MockTransport`.

The fixtures in `tests/fixtures/resend/` were taken from the HAR recordings Resend keeps
in resend-node (each file names its origin); those under `unrecorded/` are Resend's own
SDK mocks, used only for endpoints no recording covers. Each is replayed for the call
that produced it: the client must send the same request and read the answer, or raise
the error class the answer means.
"""

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from contacts_mcp.api.client import ResendClient, build_http_client
from contacts_mcp.api.errors import APIError, InvalidRequestError, NotFoundError
from contacts_mcp.api.pacing import RatePacer

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent.parent / "fixtures" / "resend"

Call = Callable[[ResendClient, dict[str, Any]], Awaitable[object]]


def load(name: str) -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return fixture


def last_part(request: dict[str, Any]) -> str:
    return str(request["url"]).split("?")[0].rsplit("/", 1)[-1]


def part(request: dict[str, Any], index: int) -> str:
    return str(request["url"]).split("?")[0].split("/")[index]


def query(request: dict[str, Any]) -> dict[str, str]:
    return dict(httpx.URL(str(request["url"])).params)


# Fixture → the client call that sends the recorded request.
CALLS: dict[str, Call] = {
    "contacts_create_201.json": lambda c, r: c.create_contact(
        r["body"]["email"],
        first_name=r["body"]["first_name"],
        last_name=r["body"]["last_name"],
        properties=r["body"]["properties"],
        segments=[s["id"] for s in r["body"]["segments"]],
        topics={t["id"]: t["subscription"] for t in r["body"]["topics"]},
    ),
    "contacts_create_duplicate_email_201.json": lambda c, r: c.create_contact(r["body"]["email"]),
    "contacts_get_by_id_200.json": lambda c, r: c.get_contact(last_part(r)),
    "contacts_get_by_email_200.json": lambda c, r: c.get_contact(last_part(r)),
    "contacts_get_404.json": lambda c, r: c.get_contact(last_part(r)),
    "contacts_delete_by_email_200.json": lambda c, r: c.delete_contact(last_part(r)),
    "contacts_list_200.json": lambda c, r: c.list_contacts(),
    "contacts_list_limit_has_more_200.json": lambda c, r: c.list_contacts(
        limit=int(query(r)["limit"])
    ),
    "segment_contacts_list_200.json": lambda c, r: c.list_contacts(segment_id=part(r, 2)),
    "segment_contacts_list_limit_has_more_200.json": lambda c, r: c.list_contacts(
        segment_id=part(r, 2), limit=int(query(r)["limit"])
    ),
    "segments_create_201.json": lambda c, r: c.create_segment(r["body"]["name"]),
    "segments_create_object_audience_201.json": lambda c, r: c.create_segment(r["body"]["name"]),
    "segments_get_200.json": lambda c, r: c.get_segment(last_part(r)),
    "segments_get_404.json": lambda c, r: c.get_segment(last_part(r)),
    "segments_delete_200.json": lambda c, r: c.delete_segment(last_part(r)),
    "segments_delete_nonexistent_200.json": lambda c, r: c.delete_segment(last_part(r)),
    "topics_create_201.json": lambda c, r: c.create_topic(
        r["body"]["name"],
        r["body"]["default_subscription"],
        description=r["body"].get("description"),
    ),
    "topics_delete_200.json": lambda c, r: c.delete_topic(last_part(r)),
    "contact_properties_create_201.json": lambda c, r: c.create_contact_property(
        r["body"]["key"], r["body"]["type"], fallback_value=r["body"].get("fallback_value")
    ),
    "contact_properties_delete_200.json": lambda c, r: c.delete_contact_property(last_part(r)),
    "unrecorded/contacts_get_with_properties.sdk_mock.json": lambda c, r: c.get_contact(
        last_part(r)
    ),
    "unrecorded/contact_properties_get.sdk_mock.json": lambda c, r: c.get_contact_property(
        last_part(r)
    ),
    "unrecorded/contact_imports_get.sdk_mock.json": lambda c, r: c.get_contact_import(last_part(r)),
}
# Calls that read a whole list (their request carries our paging parameters).
LIST_CALLS: dict[str, Call] = {
    "unrecorded/contact_properties_list.sdk_mock.json": lambda c, r: c.list_contact_properties(),
    "unrecorded/topics_list.sdk_mock.json": lambda c, r: c.list_topics(),
    "unrecorded/contact_segments_list.sdk_mock.json": lambda c, r: c.list_contact_segments(
        part(r, 2)
    ),
    "unrecorded/contact_topics_list.sdk_mock.json": lambda c, r: c.list_contact_topics(part(r, 2)),
}
# Recorded errors → (the call that meets them, the class they mean).
ERRORS: dict[str, tuple[Call, type[APIError]]] = {
    "contacts_get_404.json": (CALLS["contacts_get_404.json"], NotFoundError),
    "segments_get_404.json": (CALLS["segments_get_404.json"], NotFoundError),
    "contacts_create_missing_email_422.json": (
        lambda c, r: c.create_contact("ada@example.com"),
        InvalidRequestError,
    ),
    "segments_create_missing_name_422.json": (
        lambda c, r: c.create_segment("VIP"),
        InvalidRequestError,
    ),
}
# Recorded, but for endpoints this client does not call (legacy audience paths, API keys).
NOT_OURS = {
    "api_keys_delete_nonexistent_404.json",
    "audiences_get_200.json",
    "unrecorded/error_429_rate_limit.sdk_mock.json",
}


def replaying(fixture: dict[str, Any], sent: list[httpx.Request]) -> httpx.MockTransport:
    response = fixture["response"]

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(
            response["status"], json=response["body"], headers=response["headers"]
        )

    return httpx.MockTransport(handler)


async def replay(name: str, call: Call) -> tuple[object, list[httpx.Request]]:
    fixture = load(name)
    sent: list[httpx.Request] = []
    http = build_http_client(base_url="https://api.resend.com", transport=replaying(fixture, sent))
    client = ResendClient(http, api_key="re_test", pacer=RatePacer(probe=True), max_retries=0)
    async with http:
        return await call(client, fixture["request"]), sent


def test_every_fixture_is_replayed_or_set_aside_on_purpose() -> None:
    every = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json")}
    legacy = {name for name in every if name.startswith("contacts_legacy_")}
    covered = set(CALLS) | set(LIST_CALLS) | set(ERRORS) | NOT_OURS | legacy
    assert every == covered
    for name in every:
        assert load(name)["origin"].startswith("resend/"), name


@pytest.mark.parametrize("name", sorted(set(CALLS) - set(ERRORS)))
async def test_a_recorded_answer_is_read_for_the_request_that_produced_it(name: str) -> None:
    fixture = load(name)
    result, sent = await replay(name, CALLS[name])
    assert result is not None
    request = fixture["request"]
    assert sent[0].method == request["method"]
    assert unquote(sent[0].url.raw_path.decode()) == request["url"]
    if request["body"] is not None:
        assert json.loads(sent[0].content) == request["body"]


@pytest.mark.parametrize("name", sorted(LIST_CALLS))
async def test_a_whole_list_is_read_from_resends_own_mock(name: str) -> None:
    fixture = load(name)
    result, sent = await replay(name, LIST_CALLS[name])
    assert isinstance(result, list)
    assert len(result) == len(fixture["response"]["body"]["data"])
    assert unquote(sent[0].url.raw_path.decode()).split("?")[0] == fixture["request"]["url"]


@pytest.mark.parametrize("name", sorted(ERRORS))
async def test_a_recorded_error_raises_the_class_it_means(name: str) -> None:
    call, expected = ERRORS[name]
    with pytest.raises(expected) as caught:
        await replay(name, call)
    assert caught.value.message == load(name)["response"]["body"]["message"]


async def test_recorded_rate_limit_headers_set_the_pace() -> None:
    # Recorded on 2025-11-30 from an account allowed 100 requests/s.
    fixture = load("contacts_get_by_email_200.json")
    sent: list[httpx.Request] = []
    http = build_http_client(base_url="https://api.resend.com", transport=replaying(fixture, sent))
    pacer = RatePacer(probe=True)
    client = ResendClient(http, api_key="re_test", pacer=pacer)
    async with http:
        await client.get_contact("test-get-by-email@example.com")
    assert pacer.rate_limit == 100
    assert not pacer.probing


async def test_a_contact_deleted_by_email_is_named_by_its_id() -> None:
    result, _ = await replay(
        "contacts_delete_by_email_200.json", CALLS["contacts_delete_by_email_200.json"]
    )
    assert getattr(result, "contact") == "32cd6208-6e08-40b9-bdfe-0b5d6d6ce37b"  # noqa: B009


async def test_typed_properties_from_resends_mock_keep_their_types() -> None:
    name = "unrecorded/contacts_get_with_properties.sdk_mock.json"
    result, _ = await replay(name, CALLS[name])
    properties = getattr(result, "properties")  # noqa: B009
    expected = load(name)["response"]["body"]["properties"]
    assert {k: (v.type, v.value) for k, v in properties.items()} == {
        k: (v["type"], v["value"]) for k, v in expected.items()
    }
