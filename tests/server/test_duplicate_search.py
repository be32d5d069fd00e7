"""Likely duplicates, as search_contacts groups them from the mirror: in both eras, with
the reason, the confidence and the contact to keep; conditions are refused with it."""

import pytest

from tests.server.conftest import Harness

pytestmark = pytest.mark.anyio


async def test_duplicates_are_grouped_with_their_reason_and_the_one_to_keep(
    harness: Harness,
) -> None:
    h = harness
    for email, first, last in [
        ("ada.lovelace@gmail.com", "Ada", "Lovelace"),  # the oldest: kept
        ("adalovelace+news@googlemail.com", "Ada", "Lovelace"),
        ("bob@gmial.com", "Bob", ""),
        ("bob@gmail.com", "Bob", ""),
        ("grace.hopper@navy.example", "Grace", "Hopper"),
        ("ghopper@navy.example", "Grace", "Hopper"),
        ("alan@example.org", "Alan", "Turing"),
    ]:
        named = {"first_name": first, **({"last_name": last} if last else {})}
        await h.call("create_contact", {"email": email, **named})
    found = await h.call("search_contacts", {"where": [], "duplicates": True})
    refused = await h.error("search_contacts", {"where": [{"field": "domain", "op": "eq",
                                                           "value": "gmail.com"}],
                                                "duplicates": True})  # fmt: skip
    assert found["count"] == 7
    assert found["contacts"] == []
    assert found["duplicate_groups"] == 3
    by_first = {group["contacts"][0]["email"]: group for group in found["duplicates"]}
    ada = by_first["ada.lovelace@gmail.com"]
    assert ada["confidence"] == "high"
    assert {"googlemail", "plus_tag", "gmail_dots"} <= set(ada["reasons"])
    assert ada["keep"] == ada["contacts"][0]["id"]
    bob = next(g for g in found["duplicates"] if "domain_typo" in g["reasons"])
    assert bob["confidence"] == "medium"
    kept = next(c for c in bob["contacts"] if c["id"] == bob["keep"])
    assert kept["email"] == "bob@gmail.com"  # never the misspelt one
    grace = next(g for g in found["duplicates"] if g["reasons"] == ["same_name"])
    assert grace["confidence"] == "low"
    assert [g["confidence"] for g in found["duplicates"]] == ["high", "medium", "low"]
    assert "duplicates=true looks across the whole account" in refused
