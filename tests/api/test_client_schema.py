"""ResendClient's segment, topic, property and membership endpoints on the wire."""

from typing import Any

import pytest

from tests.api.wire import Wire, client_for

pytestmark = pytest.mark.anyio

CONTACT = "e169aa45-1ecf-4183-9955-b1499d5701d3"
SEGMENT = "78261eea-8f8b-4381-83c6-79fa7120f1cf"
TOPIC = "b6d24b8e-af0b-4c3c-be0c-359bbd97381e"


async def test_create_contact_sends_segments_and_topics_as_objects() -> None:
    wire = Wire({"object": "contact", "id": CONTACT})
    http, client = client_for(wire)
    async with http:
        await client.create_contact("ada@example.com", segments=[SEGMENT], topics={TOPIC: "opt_in"})
    assert wire.sent() == (
        "POST",
        "/contacts",
        {
            "email": "ada@example.com",
            "segments": [{"id": SEGMENT}],
            "topics": [{"id": TOPIC, "subscription": "opt_in"}],
        },
    )


async def test_contact_topics_are_updated_with_a_bare_array() -> None:
    wire = Wire({"object": "contact_topics", "id": CONTACT})
    http, client = client_for(wire)
    async with http:
        await client.update_contact_topics("ada@example.com", {TOPIC: "opt_out"})
    assert wire.sent() == (
        "PATCH",
        "/contacts/ada%40example.com/topics",
        [{"id": TOPIC, "subscription": "opt_out"}],
    )


async def test_membership_paths_name_contact_and_segment() -> None:
    wire = Wire({"id": SEGMENT})
    http, client = client_for(wire)
    async with http:
        await client.add_contact_to_segment("a+b@example.com", SEGMENT)
        await client.remove_contact_from_segment(CONTACT, SEGMENT)
    assert wire.sent(0)[:2] == ("POST", f"/contacts/a%2Bb%40example.com/segments/{SEGMENT}")
    assert wire.sent(1)[:2] == ("DELETE", f"/contacts/{CONTACT}/segments/{SEGMENT}")


async def test_always_paginated_lists_are_read_to_the_end() -> None:
    def prop(i: int) -> dict[str, Any]:
        return {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "key": f"k{i}",
            "type": "string",
            "fallback_value": None,
            "created_at": "2026-04-08 00:11:13.110779+00",
        }

    wire = Wire(
        {"object": "list", "has_more": True, "data": [prop(1), prop(2)]},
        {"object": "list", "has_more": False, "data": [prop(3)]},
    )
    http, client = client_for(wire)
    async with http:
        props = await client.list_contact_properties()
    assert [p.key for p in props] == ["k1", "k2", "k3"]
    assert dict(wire.requests[0].url.params) == {"limit": "100"}
    assert dict(wire.requests[1].url.params) == {"limit": "100", "after": prop(2)["id"]}


async def test_property_updates_send_only_the_fallback_and_null_clears_it() -> None:
    wire = Wire({"object": "contact_property", "id": "p1"})
    http, client = client_for(wire)
    async with http:
        await client.update_contact_property("p1", fallback_value=None)
    assert wire.sent() == ("PATCH", "/contact-properties/p1", {"fallback_value": None})


async def test_topic_updates_never_send_default_subscription() -> None:
    wire = Wire({"object": "topic", "id": TOPIC})
    http, client = client_for(wire)
    async with http:
        await client.update_topic(TOPIC, name="News", visibility="public")
    assert wire.sent() == ("PATCH", f"/topics/{TOPIC}", {"name": "News", "visibility": "public"})


async def test_segments_list_asks_for_full_pages() -> None:
    wire = Wire(
        {
            "object": "list",
            "has_more": False,
            "data": [{"id": SEGMENT, "name": "VIP", "created_at": "2025-10-21 17:48:00.256406+00"}],
        }
    )
    http, client = client_for(wire)
    async with http:
        segments = await client.list_segments()
    assert [s.name for s in segments] == ["VIP"]
    assert wire.sent() == ("GET", "/segments?limit=100", None)
