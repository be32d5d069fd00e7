"""The tools over a fake Resend that answers with recorded answers (`tests/fixtures/resend/`).

Each route answers with the body Resend sent (or, for endpoints no recording covers,
Resend's own SDK mock), so the services meet the real shapes: typed or flat contact
properties, a delete answer that names the contact, a duplicate create answered with
the existing id, and property types this server never creates.
"""

import copy
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from contacts_mcp.backends import BackendConfig
from contacts_mcp.server import build_server

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent.parent / "fixtures" / "resend"


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["response"]["body"]


CONTACT = body("unrecorded/contacts_get_with_properties.sdk_mock.json")
SEGMENTS = body("unrecorded/contact_segments_list.sdk_mock.json")
TOPICS = body("unrecorded/contact_topics_list.sdk_mock.json")
DELETED = body("contacts_delete_by_email_200.json")
CREATED_EXISTING = body("contacts_create_duplicate_email_201.json")
EXISTING = body("contacts_get_by_email_200.json")
PROPERTIES = body("unrecorded/contact_properties_list.sdk_mock.json")


class FakeResend:
    """Routes requests to recorded bodies; `contact` is what GET /contacts/{id} answers."""

    def __init__(self, contact: dict[str, Any]) -> None:
        self.contact = contact
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/contacts/[^/]+/segments", SEGMENTS),
            ("GET", r"/contacts/[^/]+/topics", TOPICS),
            ("GET", r"/contacts/[^/]+", self.contact),
            ("DELETE", r"/contacts/[^/]+", DELETED),
            ("POST", r"/contacts", CREATED_EXISTING),
            ("GET", r"/contact-properties", PROPERTIES),
            ("GET", r"/segments", {"object": "list", "has_more": False, "data": []}),
            ("GET", r"/topics", {"object": "list", "has_more": False, "data": []}),
        ]
        for method, pattern, answer in routes:
            if request.method == method and re.fullmatch(pattern, path):
                headers = {"ratelimit-limit": "100", "ratelimit-remaining": "99"}
                return httpx.Response(200, json=answer, headers=headers)
        return httpx.Response(404, json={"statusCode": 404, "name": "not_found", "message": "?"})


@asynccontextmanager
async def tools_over(fake: FakeResend, era: str) -> AsyncIterator[Client]:
    backend = BackendConfig(
        api_key="re_test", base_url="https://api.resend.com", transport=httpx.MockTransport(fake)
    )
    async with Client(build_server(backend), mode=era) as client:
        yield client


def flat(contact: dict[str, Any]) -> dict[str, Any]:
    """The same contact with `{key: value}` properties, as the OpenAPI file describes them."""
    flattened = copy.deepcopy(contact)
    flattened["properties"] = {k: v["value"] for k, v in contact["properties"].items()}
    return flattened


@pytest.mark.parametrize("shape", ["typed", "flat"])
async def test_get_contact_reads_properties_in_either_shape(era: str, shape: str) -> None:
    fake = FakeResend(CONTACT if shape == "typed" else flat(CONTACT))
    async with tools_over(fake, era) as client:
        result = await client.call_tool("get_contact", {"contact": CONTACT["id"]})
    assert not result.is_error, result.content
    found = result.structured_content
    assert found is not None
    assert found["properties"] == {k: v["value"] for k, v in CONTACT["properties"].items()}
    assert [s["name"] for s in found["segments"]] == [s["name"] for s in SEGMENTS["data"]]
    assert [t["name"] for t in found["topics"]] == [t["name"] for t in TOPICS["data"]]


@pytest.mark.parametrize("shape", ["typed", "flat"])
async def test_delete_contact_takes_resends_answer_in_either_shape(era: str, shape: str) -> None:
    fake = FakeResend(CONTACT if shape == "typed" else flat(CONTACT))
    async with tools_over(fake, era) as client:
        result = await client.call_tool("delete_contact", {"contact": "team@resend.com"})
    assert not result.is_error, result.content
    assert ("DELETE", f"/contacts/{CONTACT['id']}") in fake.requests  # looked up, then by id


@pytest.mark.parametrize("shape", ["typed", "flat"])
async def test_create_contact_on_an_existing_email_returns_it_unchanged(
    era: str, shape: str
) -> None:
    fake = FakeResend(CONTACT if shape == "typed" else flat(CONTACT))
    async with tools_over(fake, era) as client:
        result = await client.call_tool("create_contact", {"email": CONTACT["email"]})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["created"] is False
    assert result.structured_content["id"] == CONTACT["id"]
    assert not any(method == "POST" for method, _ in fake.requests)


async def test_a_recorded_contact_without_properties_reads_as_none(era: str) -> None:
    async with tools_over(FakeResend(EXISTING), era) as client:
        result = await client.call_tool("get_contact", {"contact": EXISTING["email"]})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["properties"] == {}
    assert result.structured_content["first_name"] is None


async def test_a_boolean_property_does_not_break_the_property_tools(era: str) -> None:
    with_boolean = copy.deepcopy(PROPERTIES)
    with_boolean["data"].append(
        {
            "id": "0b5c6a52-76b6-4a4a-9bd4-5d3ad1b0c1f7",
            "key": "vip",
            "type": "boolean",
            "fallback_value": False,
            "created_at": "2026-08-14 10:00:00.000000+00",
        }
    )
    fake = FakeResend(CONTACT)
    fake_properties = with_boolean

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/contact-properties":
            return httpx.Response(200, json=fake_properties)
        return fake(request)

    backend = BackendConfig(
        api_key="re_test", base_url="https://api.resend.com", transport=httpx.MockTransport(answer)
    )
    async with Client(build_server(backend), mode=era) as client:
        listed = await client.call_tool("list_contact_properties", {})
        refused = await client.call_tool(
            "update_contact", {"contact": CONTACT["id"], "properties": {"vip": "yes"}}
        )
    assert not listed.is_error, listed.content
    assert listed.structured_content is not None
    assert {p["key"]: p["type"] for p in listed.structured_content["properties"]}["vip"] == (
        "boolean"
    )
    assert refused.is_error
    block = refused.content[0]
    assert block.type == "text"
    assert "type 'boolean'" in block.text
    assert "Resend dashboard" in block.text
