"""What the search results screen asks of search_contacts, in both protocol eras: pages in
each sort order, each contact once and in the right place across pages; a cursor of one
order refused in another; and the matches counted per segment, from the mirror's
memberships, or said to be unknown while they are not read."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.server.conftest import Harness, open_harness
from tests.server.test_search import SEGMENTS, generated_account, ground_truth

pytestmark = pytest.mark.anyio

ORDERS = ["newest", "oldest", "email", "name"]
ACME = [{"field": "domain", "op": "contains", "value": "acme"}]
WHERES: list[list[dict[str, Any]]] = [
    [],
    ACME,
    [{"field": "unsubscribed", "op": "eq", "value": False}],
    [{"field": "segment", "op": "in", "value": "VIP"}],
    [{"field": "segment", "op": "not_in", "value": "Beta"}, *ACME],
]


@pytest.fixture
async def account(era: str) -> AsyncIterator[tuple[Harness, list[dict[str, Any]]]]:
    async for h in open_harness(era):
        await generated_account(h, contacts=45, seed=11)
        # Mixed case, to sort as shown: case-insensitively.
        for email, first, last in [
            ("Zed@acme.com", "zoe", "Adams"),
            ("amy@ACME.com", "Amy", ""),
            ("bob@acme.com", "", ""),
        ]:
            await h.seed(
                "POST", "/contacts", {"email": email, "first_name": first, "last_name": last}
            )
        yield h, await ground_truth(h)


def matches(contact: dict[str, Any], where: list[dict[str, Any]]) -> bool:
    """A brute-force reading of the conditions in WHERES."""
    for condition in where:
        field, op, value = condition["field"], condition["op"], condition["value"]
        if field == "domain" and value not in contact["email"].lower().rsplit("@", 1)[1]:
            return False
        if field == "unsubscribed" and contact["unsubscribed"] != value:
            return False
        if field == "segment" and (value in contact["segments"]) != (op == "in"):
            return False
    return True


def ordered(truth: list[dict[str, Any]], order: str) -> list[str]:
    """The ids in `order`, as the screen shows them sorted (`truth` is newest first)."""

    def name_key(c: dict[str, Any]) -> tuple[Any, ...]:
        first, last = (c["first_name"] or "").lower(), (c["last_name"] or "").lower()
        return (not first and not last, first, last, c["email"].lower(), c["id"])

    if order == "newest":
        return [c["id"] for c in truth]
    if order == "oldest":
        return [c["id"] for c in reversed(truth)]
    if order == "email":
        return [c["id"] for c in sorted(truth, key=lambda c: (c["email"].lower(), c["id"]))]
    return [c["id"] for c in sorted(truth, key=name_key)]


async def pages(
    h: Harness, where: list[dict[str, Any]], order: str, limit: int = 6
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every matching id, page after page in `order`; and each page's answer."""
    found: list[str] = []
    answers: list[dict[str, Any]] = []
    after = None
    while True:
        arguments: dict[str, Any] = {"where": where, "limit": limit, "sort": order}
        if after is not None:
            arguments["after"] = after
        page = await h.call("search_contacts", arguments)
        answers.append(page)
        assert page["sort"] == order
        found.extend(c["id"] for c in page["contacts"])
        after = page["next_after"]
        if after is None:
            return found, answers


async def full_refresh(h: Harness) -> None:
    answer = await h.call("search_contacts", {"where": [], "count_only": True, "refresh": "full"})
    assert answer["synced"] is not None, answer


async def test_each_order_pages_through_every_match_once_in_order(
    account: tuple[Harness, list[dict[str, Any]]],
) -> None:
    h, truth = account
    await full_refresh(h)
    for where in WHERES:
        matching = [c for c in truth if matches(c, where)]
        assert matching, where
        selections = set()
        for order in ORDERS:
            found, answers = await pages(h, where, order)
            assert found == ordered(matching, order), (where, order)
            assert {a["count"] for a in answers} == {len(matching)}
            selections.add(answers[0]["selection"])
            if order != "newest" and len(answers) > 1:
                assert answers[0]["next_after"].startswith(f"{order}:")
        # Sorting does not change what the search selects (for the bulk tools).
        assert len(selections) == 1


async def test_the_text_names_the_order(account: tuple[Harness, list[dict[str, Any]]]) -> None:
    h, truth = account
    await full_refresh(h)
    result = await h.client.call_tool(
        "search_contacts", {"where": ACME, "limit": 3, "sort": "email"}
    )
    block = result.content[0]
    assert block.type == "text"
    assert "; by email (" in block.text
    first = min((c for c in truth if matches(c, ACME)), key=lambda c: (c["email"].lower(), c["id"]))
    assert first["email"] in block.text.splitlines()[1]


async def test_a_cursor_of_another_order_or_an_unknown_one_is_refused(
    account: tuple[Harness, list[dict[str, Any]]],
) -> None:
    h, _ = account
    await full_refresh(h)
    by_email = await h.call("search_contacts", {"where": [], "limit": 5, "sort": "email"})
    newest = await h.call("search_contacts", {"where": [], "limit": 5})
    assert by_email["next_after"].startswith("email:")
    assert ":" not in newest["next_after"]  # the default order's cursor is the bare id

    refused = await h.error(
        "search_contacts",
        {"where": [], "limit": 5, "sort": "name", "after": by_email["next_after"]},
    )
    assert "continues a search sorted email, not name" in refused
    refused = await h.error(
        "search_contacts",
        {"where": [], "limit": 5, "sort": "oldest", "after": newest["next_after"]},
    )
    assert "continues a search sorted newest, not oldest" in refused
    refused = await h.error(
        "search_contacts", {"where": [], "limit": 5, "after": by_email["next_after"]}
    )
    assert "continues a search sorted email, not newest" in refused
    refused = await h.error(
        "search_contacts", {"where": [], "limit": 5, "sort": "email", "after": "email:nobody"}
    )
    assert "is not a contact of this search's results" in refused
    # The right order's cursor still goes on.
    again = await h.call(
        "search_contacts",
        {"where": [], "limit": 5, "sort": "email", "after": by_email["next_after"]},
    )
    assert again["contacts"][0]["id"] != by_email["contacts"][-1]["id"]


async def test_matches_are_counted_per_segment(
    account: tuple[Harness, list[dict[str, Any]]],
) -> None:
    h, truth = account
    await full_refresh(h)
    ids = {s["name"]: s["id"] for s in (await h.call("list_segments", {}))["segments"]}
    for where in WHERES:
        matching = [c for c in truth if matches(c, where)]
        for count_only in (True, False):
            answer = await h.call(
                "search_contacts", {"where": where, "count_only": count_only, "limit": 5}
            )
            expected = {name: sum(name in c["segments"] for c in matching) for name in SEGMENTS}
            got = {s["name"]: s["count"] for s in answer["segments"]}
            assert got == expected, where
            assert {s["name"]: s["id"] for s in answer["segments"]} == ids
            counts = [s["count"] for s in answer["segments"]]
            assert counts == sorted(counts, reverse=True)  # most first
    result = await h.client.call_tool("search_contacts", {"where": ACME, "count_only": True})
    block = result.content[0]
    assert block.type == "text"
    named = [
        f"{name} {sum(name in c['segments'] for c in truth if matches(c, ACME))}"
        for name in SEGMENTS
    ]
    line = next(line for line in block.text.splitlines() if line.startswith("In segments: "))
    assert sorted(line.removeprefix("In segments: ").rstrip(".").split(", ")) == sorted(
        n for n in named if not n.endswith(" 0")
    )


async def test_counts_per_segment_are_unknown_until_memberships_are_read(
    account: tuple[Harness, list[dict[str, Any]]],
) -> None:
    h, truth = account
    # A first search on fields alone fills the mirror without reading memberships.
    first = await h.call("search_contacts", {"where": ACME, "count_only": True})
    assert first["segments"] is None
    result = await h.client.call_tool("search_contacts", {"where": ACME, "limit": 3})
    block = result.content[0]
    assert block.type == "text"
    assert "In segments" not in block.text
    assert "Segment memberships not read yet" in block.text
    # A search on a segment reads them; then every answer counts.
    await h.call("search_contacts", {"where": WHERES[3], "count_only": True})
    after = await h.call("search_contacts", {"where": ACME, "count_only": True})
    matching = [c for c in truth if matches(c, ACME)]
    assert {s["name"]: s["count"] for s in after["segments"]} == {
        name: sum(name in c["segments"] for c in matching) for name in SEGMENTS
    }


async def test_a_segment_newer_than_the_last_full_sync_is_counted_and_named(
    account: tuple[Harness, list[dict[str, Any]]],
) -> None:
    h, truth = account
    await full_refresh(h)
    await h.call("create_segment", {"name": "Fresh"})
    acme = [c for c in truth if matches(c, ACME)]
    other = next(c for c in truth if not matches(c, ACME))
    for contact in [*acme[:2], other]:
        await h.call("update_contact", {"contact": contact["id"], "add_segments": ["Fresh"]})
    answer = await h.call("search_contacts", {"where": ACME, "count_only": True})
    fresh = [s for s in answer["segments"] if s["name"] == "Fresh"]
    assert [s["count"] for s in fresh] == [2]  # among the matches: not the other one
    everyone = await h.call("search_contacts", {"where": [], "count_only": True})
    assert [s["count"] for s in everyone["segments"] if s["name"] == "Fresh"] == [3]
