"""Contact property, segment and topic tools, end to end against the emulator."""

import pytest

from contacts_mcp.emulator import EmulatorOptions
from tests.server.conftest import Harness, open_harness

pytestmark = pytest.mark.anyio


async def test_contact_properties_can_be_created_listed_updated_and_deleted(
    harness: Harness,
) -> None:
    created = await harness.call(
        "create_contact_property", {"key": "plan", "type": "string", "fallback_value": "free"}
    )
    assert {k: created[k] for k in ("key", "type", "fallback_value")} == {
        "key": "plan",
        "type": "string",
        "fallback_value": "free",
    }
    await harness.call("create_contact_property", {"key": "seats", "type": "number"})
    listed = await harness.call("list_contact_properties", {})
    assert sorted(p["key"] for p in listed["properties"]) == ["plan", "seats"]

    updated = await harness.call(
        "update_contact_property", {"property": "plan", "fallback_value": "trial"}
    )
    assert updated["fallback_value"] == "trial"
    cleared = await harness.call(
        "update_contact_property", {"property": created["id"], "fallback_value": None}
    )
    assert cleared["fallback_value"] is None

    await harness.call(
        "create_contact", {"email": "ada@example.com", "properties": {"plan": "pro"}}
    )
    deleted = await harness.call("delete_contact_property", {"property": "plan"})
    assert deleted == {"id": created["id"], "name": "plan", "deleted": True}
    contact = await harness.call("get_contact", {"contact": "ada@example.com"})
    assert contact["properties"] == {}


async def test_property_listing_renders_one_line_each(harness: Harness) -> None:
    result = await harness.client.call_tool("list_contact_properties", {})
    assert result.content[0].type == "text"
    assert (
        result.content[0].text == "No contact propertys yet."
        or "No contact" in result.content[0].text
    )
    await harness.call("create_contact_property", {"key": "plan", "type": "string"})
    result = await harness.client.call_tool("list_contact_properties", {})
    assert result.content[0].type == "text"
    lines = result.content[0].text.splitlines()
    assert lines[0] == "1 contact property:"
    assert lines[1].startswith("- plan (string) | id ")


async def test_segments_can_be_created_listed_renamed_and_deleted(harness: Harness) -> None:
    vip = await harness.call("create_segment", {"name": "VIP"})
    await harness.call("create_segment", {"name": "Beta"})
    await harness.call("create_contact", {"email": "ada@example.com", "segments": ["VIP"]})
    await harness.call("create_contact", {"email": "bob@example.com", "segments": [vip["id"]]})

    listed = await harness.call("list_segments", {})
    assert {s["name"]: s["contact_count"] for s in listed["segments"]} == {
        "VIP": None,
        "Beta": None,
    }
    counted = await harness.call("list_segments", {"with_counts": True})
    assert {s["name"]: s["contact_count"] for s in counted["segments"]} == {"VIP": 2, "Beta": 0}

    renamed = await harness.call("update_segment", {"segment": "vip", "name": "Gold"})
    assert (renamed["id"], renamed["name"]) == (vip["id"], "Gold")

    deleted = await harness.call("delete_segment", {"segment": "Gold"})
    assert deleted == {"id": vip["id"], "name": "Gold", "deleted": True}
    assert await harness.count_contacts() == 2  # the contacts are kept
    assert [s["name"] for s in (await harness.call("list_segments", {}))["segments"]] == ["Beta"]


async def test_topics_can_be_created_listed_updated_and_deleted(harness: Harness) -> None:
    news = await harness.call(
        "create_topic",
        {"name": "Newsletter", "default_subscription": "opt_in", "description": "Monthly news"},
    )
    assert (news["default_subscription"], news["visibility"]) == ("opt_in", "private")
    await harness.call("create_topic", {"name": "Beta", "default_subscription": "opt_out"})
    listed = await harness.call("list_topics", {})
    assert sorted(t["name"] for t in listed["topics"]) == ["Beta", "Newsletter"]

    updated = await harness.call(
        "update_topic", {"topic": "newsletter", "name": "News", "visibility": "public"}
    )
    assert (updated["name"], updated["visibility"], updated["description"]) == (
        "News",
        "public",
        "Monthly news",
    )
    deleted = await harness.call("delete_topic", {"topic": news["id"]})
    assert deleted == {"id": news["id"], "name": "News", "deleted": True}


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("create_contact_property", {"key": "bad key", "type": "string"}, "is invalid"),
        ("create_contact_property", {"key": "x" * 51, "type": "string"}, "`key`"),
        ("create_contact_property", {"key": "email", "type": "string"}, "built-in"),
        ("create_contact_property", {"key": "plan", "type": "boolean"}, "`type`"),
        ("create_contact_property", {"key": "plan", "type": "string"}, "already exists"),
        (
            "create_contact_property",
            {"key": "Plan", "type": "string"},
            "'plan' already exists; 'Plan' differs from it only in case",
        ),
        (
            "create_contact_property",
            {"key": "age", "type": "number", "fallback_value": "old"},
            "holds numbers",
        ),
        (
            "update_contact_property",
            {"property": "nope", "fallback_value": "x"},
            "No contact property 'nope'",
        ),
        ("update_contact_property", {"property": "plan", "fallback_value": 5}, "holds text"),
        ("update_contact_property", {"property": "plan"}, "`fallback_value`: required"),
        (
            "update_contact_property",
            {"property": "plan", "fallback_value": "x", "type": "number"},
            "type cannot change",
        ),
        ("delete_contact_property", {"property": "nope"}, "Known properties: 'plan'"),
        ("create_segment", {"name": "   "}, "`name` is empty"),
        ("create_segment", {"name": "vip"}, "already exists"),
        ("update_segment", {"segment": "nope", "name": "X"}, "No segment 'nope'"),
        ("delete_segment", {"segment": "nope"}, "Create one with create_segment"),
        ("create_topic", {"name": "T"}, "`default_subscription`: required"),
        ("create_topic", {"name": "T", "default_subscription": "maybe"}, "`default_subscription`"),
        ("create_topic", {"name": "x" * 51, "default_subscription": "opt_in"}, "`name`"),
        ("create_topic", {"name": "news", "default_subscription": "opt_in"}, "already exists"),
        (
            "update_topic",
            {"topic": "News", "default_subscription": "opt_out"},
            "default_subscription is fixed when it is created",
        ),
        ("update_topic", {"topic": "News"}, "Nothing to update"),
        ("update_topic", {"topic": "nope", "name": "X"}, "No topic 'nope'. Known topics: 'News'"),
        ("delete_topic", {"topic": "nope"}, "create_topic"),
    ],
)
async def test_bad_schema_input_is_refused_and_changes_nothing(
    harness: Harness, tool: str, arguments: dict[str, object], expected: str
) -> None:
    await harness.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await harness.seed("POST", "/segments", {"name": "VIP"})
    await harness.seed("POST", "/topics", {"name": "News", "default_subscription": "opt_in"})
    before = [
        await harness.seed("GET", path) for path in ("/contact-properties", "/segments", "/topics")
    ]
    message = await harness.error(tool, arguments)
    assert expected in message
    after = [
        await harness.seed("GET", path) for path in ("/contact-properties", "/segments", "/topics")
    ]
    assert after == before


async def test_creates_whose_answer_is_lost_are_adopted_not_repeated(era: str) -> None:
    # Every write is applied but its response lost: the tools must not create twice.
    async for h in open_harness(era, EmulatorOptions(drop_after_write=1.0)):
        segment = await h.call("create_segment", {"name": "VIP"})
        topic = await h.call("create_topic", {"name": "News", "default_subscription": "opt_in"})
        prop = await h.call("create_contact_property", {"key": "plan", "type": "string"})
        assert [s["id"] for s in (await h.seed("GET", "/segments"))["data"]] == [segment["id"]]
        assert [t["id"] for t in (await h.seed("GET", "/topics"))["data"]] == [topic["id"]]
        props = (await h.seed("GET", "/contact-properties"))["data"]
        assert [p["id"] for p in props] == [prop["id"]]


async def test_an_import_may_not_create_a_property_that_differs_only_in_case(
    harness: Harness,
) -> None:
    await harness.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    message = await harness.error(
        "preview_import",
        {
            "csv_text": "email,Plan\nada@example.com,pro\n",
            "columns": {"email": "email", "Plan": "Plan"},
            "new_properties": {"Plan": "string"},
        },
    )
    assert "'Plan' differs from the existing property 'plan' only in case" in message
