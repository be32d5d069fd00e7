"""Every identifier is checked before it reaches a URL, every text has a cap, and every
tool's output stays bounded, whatever the input. Through the MCP client, both eras."""

import json
from typing import Any

import httpx
import pytest
from mcp import Client

from contacts_mcp.api.base import segment
from contacts_mcp.backends import BackendConfig
from contacts_mcp.server import build_server
from tests.server.conftest import Harness

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("import_id", ["..", ".", "../../contacts", "x" * 100, "not-an-id"])
async def test_a_job_id_that_is_not_one_never_reaches_a_url(
    harness: Harness, import_id: str
) -> None:
    # Not a UUID, so never a Resend import: looked up in the job journal only.
    message = await harness.error("get_job", {"job_id": import_id})
    assert "No job" in message
    assert "get_job without a job_id" in message


async def test_a_megabyte_id_is_refused_by_its_cap(harness: Harness) -> None:
    message = await harness.error("get_job", {"job_id": "x" * 1_000_000})
    assert "job_id" in message
    assert len(message) < 300


def test_dot_segments_are_encoded_so_no_path_can_climb() -> None:
    assert segment("..") == "%2E%2E"
    assert segment(".") == "%2E"
    assert segment("a/../b") == "a%2F..%2Fb"
    request = httpx.Request("GET", f"https://api.resend.com/contacts/imports/{segment('..')}")
    assert request.url.raw_path == b"/contacts/imports/%2E%2E"


async def test_a_fallback_value_has_the_property_value_cap(harness: Harness) -> None:
    message = await harness.error(
        "create_contact_property", {"key": "bio", "type": "string", "fallback_value": "x" * 2001}
    )
    assert "the limit is 2000" in message
    listed = await harness.call("list_contact_properties", {})
    assert listed["properties"] == []


async def test_argument_counts_are_capped_in_the_schema(harness: Harness) -> None:
    many = {f"topic{i}": "opt_in" for i in range(51)}
    message = await harness.error("create_contact", {"email": "ada@example.com", "topics": many})
    assert "topics" in message
    assert await harness.count_contacts() == 0


async def test_a_bound_on_an_optional_number_is_checked_and_named_plainly(
    harness: Harness,
) -> None:
    arguments = {"where": [], "properties": True, "max_age_minutes": -5}
    message = await harness.error("search_contacts", arguments)
    assert "`max_age_minutes`: Input should be greater than or equal to 0" in message
    schema = next(
        t.input_schema for t in (await harness.client.list_tools()).tools
        if t.name == "search_contacts"
    )  # fmt: skip
    assert schema["properties"]["max_age_minutes"] == {
        "description": "With properties: re-read values older than this.",
        "minimum": 0,
        "type": "integer",
    }


async def test_a_preview_of_5001_columns_stays_small_and_says_what_it_left_out(
    harness: Harness,
) -> None:
    header = ",".join(["email", *(f"col{i}" for i in range(5000))])
    rows = "\n".join(
        ",".join([f"u{r}@example.com", *(f"v{r}_{i}" for i in range(5000))]) for r in range(3)
    )
    result = await harness.client.call_tool("preview_import", {"csv_text": f"{header}\n{rows}"})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert len(json.dumps(result.structured_content)) < 100_000  # 1.67 MB before
    report = result.structured_content["result"]
    assert len(report["columns"]) == 100
    assert len(report["new_properties"]) == 50
    assert report["column_map"]["email"] == "email"
    assert all(target != "skip" for target in report["column_map"].values())
    assert any("5001 columns" in note for note in report["notes"])
    block = result.content[0]
    assert block.type == "text"
    assert len(block.text) < 20_000


async def test_a_segment_deleted_while_counting_is_left_out_not_an_error(era: str) -> None:
    ids = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]
    segments = [
        {"id": i, "name": n, "created_at": "2026-01-01 00:00:00+00"}
        for i, n in zip(ids, ("Kept", "Gone"), strict=True)
    ]
    member = {
        "id": "33333333-3333-4333-8333-333333333333",
        "email": "a@example.com",
        "created_at": "2026-01-01 00:00:00+00",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body: Any
        if path == "/segments":
            body = {"object": "list", "has_more": False, "data": segments}
        elif path == f"/segments/{ids[0]}/contacts":
            body = {"object": "list", "has_more": False, "data": [member]}
        else:  # the second segment was deleted between the list and its count
            return httpx.Response(
                404, json={"statusCode": 404, "name": "not_found", "message": "Audience not found"}
            )
        return httpx.Response(200, json=body)

    backend = BackendConfig(
        api_key="re_test", base_url="https://api.resend.com", transport=httpx.MockTransport(handler)
    )
    async with Client(build_server(backend), mode=era) as client:
        result = await client.call_tool("list_segments", {"with_counts": True})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    listed = result.structured_content["segments"]
    assert [(s["name"], s["contact_count"]) for s in listed] == [("Kept", 1)]


async def test_failures_in_parallel_reads_are_one_clear_tool_error(era: str) -> None:
    # get_contact reads the contact, its segments and its topics at once; all three fail.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            500, json={"statusCode": 500, "name": "internal_server_error", "message": "boom"}
        )

    backend = BackendConfig(
        api_key="re_test",
        base_url="https://api.resend.com",
        transport=httpx.MockTransport(handler),
        max_retries=0,
    )
    async with Client(build_server(backend), mode=era) as client:
        result = await client.call_tool("get_contact", {"contact": "ada@example.com"})
    assert result.is_error
    block = result.content[0]
    assert block.type == "text"
    assert "server error (HTTP 500)" in block.text
    assert "try again" in block.text


async def test_listings_come_in_pages_of_100_with_the_way_to_the_next(harness: Harness) -> None:
    for i in range(150):
        await harness.seed("POST", "/segments", {"name": f"S{i:03d}"})
    first = await harness.client.call_tool("list_segments", {})
    assert first.structured_content is not None
    assert len(first.structured_content["segments"]) == 100
    next_after = first.structured_content["next_after"]
    assert next_after == first.structured_content["segments"][-1]["id"]
    block = first.content[0]
    assert block.type == "text"
    assert f"call again with after={next_after}" in block.text
    rest = await harness.call("list_segments", {"after": next_after})
    assert len(rest["segments"]) == 50
    assert rest["next_after"] is None
    every = [s["name"] for s in first.structured_content["segments"] + rest["segments"]]
    assert sorted(every) == [f"S{i:03d}" for i in range(150)]
    message = await harness.error("list_segments", {"after": "not-a-segment"})
    assert "next_after of the previous page" in message


async def test_small_listings_say_nothing_more_follows(harness: Harness) -> None:
    await harness.call("create_topic", {"name": "News", "default_subscription": "opt_in"})
    topics = await harness.call("list_topics", {})
    assert [t["name"] for t in topics["topics"]] == ["News"]
    assert topics["next_after"] is None
    properties = await harness.call("list_contact_properties", {})
    assert properties == {"properties": [], "next_after": None}


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("list_contacts", {"limit": "5"}, "`limit`: give a whole number, not text"),
        ("list_contacts", {"limit": True}, "`limit`: give a whole number, not true/false"),
        ("list_contacts", {"limit": 2.5}, "`limit`: give a whole number, not a fraction"),
        (
            "create_contact",
            {"email": "ada@example.com", "unsubscribed": "yes"},
            "`unsubscribed`: give true or false, not text",
        ),
        (
            "create_contact",
            {"email": "ada@example.com", "unsubscribed": 1},
            "`unsubscribed`: give true or false, not int",
        ),
    ],
)
async def test_a_flag_or_count_given_as_text_or_the_other_kind_is_refused(
    harness: Harness, tool: str, arguments: dict[str, object], expected: str
) -> None:
    message = await harness.error(tool, arguments)
    assert expected in message
    assert await harness.count_contacts() == 0


async def test_a_whole_number_written_with_a_point_is_a_whole_number(harness: Harness) -> None:
    # JSON Schema's integer takes 5.0; some clients send whole numbers that way.
    assert (await harness.call("list_contacts", {"limit": 5.0}))["contacts"] == []
