"""Contacts with segments, topics and typed properties; the consent guard."""

from typing import Any

import pytest

from tests.server.conftest import Harness

pytestmark = pytest.mark.anyio


async def seed_schema(harness: Harness) -> dict[str, Any]:
    ids = {
        "vip": (await harness.seed("POST", "/segments", {"name": "VIP"}))["id"],
        "beta": (await harness.seed("POST", "/segments", {"name": "Beta"}))["id"],
        "news": (
            await harness.seed(
                "POST", "/topics", {"name": "Newsletter", "default_subscription": "opt_in"}
            )
        )["id"],
        "launch": (
            await harness.seed(
                "POST", "/topics", {"name": "Launches", "default_subscription": "opt_out"}
            )
        )["id"],
    }
    await harness.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await harness.seed("POST", "/contact-properties", {"key": "seats", "type": "number"})
    return ids


def subscriptions(contact: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["subscription"] for t in contact["topics"]}


async def test_create_contact_joins_segments_and_sets_topics_by_name(harness: Harness) -> None:
    await seed_schema(harness)
    contact = await harness.call(
        "create_contact",
        {
            "email": "ada@example.com",
            "properties": {"plan": "pro", "seats": 3},
            "segments": ["vip", "Beta"],
            "topics": {"launches": "opt_in", "Newsletter": "opt_out"},
        },
    )
    assert sorted(s["name"] for s in contact["segments"]) == ["Beta", "VIP"]
    assert subscriptions(contact) == {"Newsletter": "opt_out", "Launches": "opt_in"}
    assert contact["properties"] == {"plan": "pro", "seats": 3}


async def test_get_contact_shows_segments_and_topics_in_one_call(harness: Harness) -> None:
    ids = await seed_schema(harness)
    await harness.seed("POST", "/contacts", {"email": "ada@example.com"})
    await harness.seed("POST", f"/contacts/ada@example.com/segments/{ids['vip']}")
    result = await harness.client.call_tool("get_contact", {"contact": "ada@example.com"})
    data = result.structured_content
    assert data is not None
    assert data["segments"] == [{"id": ids["vip"], "name": "VIP"}]
    assert subscriptions(data) == {"Newsletter": "opt_in", "Launches": "opt_out"}
    text = result.content[0]
    assert text.type == "text"
    assert "segments: VIP" in text.text
    assert "Newsletter=opt_in" in text.text


async def test_update_contact_moves_segments_and_changes_topics(harness: Harness) -> None:
    await seed_schema(harness)
    await harness.call("create_contact", {"email": "ada@example.com", "segments": ["VIP"]})
    updated = await harness.call(
        "update_contact",
        {
            "contact": "ada@example.com",
            "add_segments": ["Beta"],
            "remove_segments": ["VIP"],
            "topics": {"Newsletter": "opt_out"},
            "first_name": "Ada",
        },
    )
    assert [s["name"] for s in updated["segments"]] == ["Beta"]
    assert subscriptions(updated)["Newsletter"] == "opt_out"
    assert updated["first_name"] == "Ada"


async def test_unsubscribed_contacts_are_not_resubscribed_without_the_flag(
    harness: Harness,
) -> None:
    await seed_schema(harness)
    await harness.call("create_contact", {"email": "ada@example.com", "unsubscribed": True})
    message = await harness.error(
        "update_contact", {"contact": "ada@example.com", "unsubscribed": False, "first_name": "A"}
    )
    assert "unsubscribed from all broadcasts" in message
    assert "resubscribe=true" in message
    unchanged = await harness.call("get_contact", {"contact": "ada@example.com"})
    assert (unchanged["unsubscribed"], unchanged["first_name"]) == (True, None)

    again = await harness.call(
        "update_contact", {"contact": "ada@example.com", "unsubscribed": False, "resubscribe": True}
    )
    assert again["unsubscribed"] is False


async def test_topic_opt_outs_are_not_reversed_without_the_flag(harness: Harness) -> None:
    await seed_schema(harness)
    await harness.call(
        "create_contact", {"email": "ada@example.com", "topics": {"Newsletter": "opt_out"}}
    )
    message = await harness.error(
        "update_contact", {"contact": "ada@example.com", "topics": {"Newsletter": "opt_in"}}
    )
    assert "opted out of topic 'Newsletter'" in message
    contact = await harness.call("get_contact", {"contact": "ada@example.com"})
    assert subscriptions(contact)["Newsletter"] == "opt_out"
    allowed = await harness.call(
        "update_contact",
        {"contact": "ada@example.com", "topics": {"Newsletter": "opt_in"}, "resubscribe": True},
    )
    assert subscriptions(allowed)["Newsletter"] == "opt_in"


async def test_opting_out_and_unsubscribing_need_no_flag(harness: Harness) -> None:
    await seed_schema(harness)
    await harness.call("create_contact", {"email": "ada@example.com"})
    updated = await harness.call(
        "update_contact",
        {"contact": "ada@example.com", "unsubscribed": True, "topics": {"Newsletter": "opt_out"}},
    )
    assert updated["unsubscribed"] is True
    assert subscriptions(updated)["Newsletter"] == "opt_out"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"properties": {"plan": 5}}, "holds text"),
        ({"properties": {"seats": "five"}}, "holds numbers"),
        ({"properties": {"seats": True}}, "`properties.seats`"),
        ({"properties": {"company": "Acme"}}, "Known properties: plan (string), seats (number)"),
        ({"add_segments": ["Gold"]}, "No segment 'Gold'. Known segments: 'Beta', 'VIP'"),
        ({"remove_segments": ["nope"]}, "create_segment"),
        ({"add_segments": ["VIP"], "remove_segments": ["vip"]}, "both add_segments and remove"),
        ({"topics": {"Weekly": "opt_in"}}, "No topic 'Weekly'"),
        ({"topics": {"Newsletter": "yes"}}, "`topics.Newsletter`"),
        ({"add_segments": "VIP"}, "`add_segments`"),
        ({"first_name": "Ada", "topics": {"Nope": "opt_out"}}, "No topic 'Nope'"),
    ],
)
async def test_bad_membership_input_is_refused_before_anything_is_written(
    harness: Harness, arguments: dict[str, Any], expected: str
) -> None:
    await seed_schema(harness)
    await harness.call("create_contact", {"email": "ada@example.com", "first_name": "Old"})
    before = await harness.call("get_contact", {"contact": "ada@example.com"})
    message = await harness.error("update_contact", {"contact": "ada@example.com", **arguments})
    assert expected in message
    assert await harness.call("get_contact", {"contact": "ada@example.com"}) == before


async def test_create_contact_with_unknown_segment_writes_nothing(harness: Harness) -> None:
    await seed_schema(harness)
    message = await harness.error(
        "create_contact", {"email": "ada@example.com", "segments": ["Nope"]}
    )
    assert "No segment 'Nope'" in message
    assert await harness.count_contacts() == 0


async def test_membership_changes_for_unknown_contacts_say_so(harness: Harness) -> None:
    await seed_schema(harness)
    message = await harness.error(
        "update_contact", {"contact": "ghost@example.com", "add_segments": ["VIP"]}
    )
    assert "No contact 'ghost@example.com'" in message


async def test_a_property_created_elsewhere_is_found_without_waiting_for_the_cache(
    harness: Harness,
) -> None:
    await harness.call("create_contact", {"email": "ada@example.com"})
    await harness.error("update_contact", {"contact": "ada@example.com", "properties": {"x": "1"}})
    await harness.seed("POST", "/contact-properties", {"key": "x", "type": "string"})
    updated = await harness.call(
        "update_contact", {"contact": "ada@example.com", "properties": {"x": "1"}}
    )
    assert updated["properties"] == {"x": "1"}


async def test_the_consent_guard_tells_never_joined_from_opted_out(harness: Harness) -> None:
    await seed_schema(harness)
    await harness.call("create_contact", {"email": "ada@example.com"})
    message = await harness.error(
        "update_contact", {"contact": "ada@example.com", "topics": {"Launches": "opt_in"}}
    )
    # Launches is opt-in: Ada never chose it, so she did not "opt out" of it.
    assert "has not joined topic 'Launches', which is opt-in" in message
    assert "opted out" not in message
