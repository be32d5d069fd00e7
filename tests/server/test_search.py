"""Whole-account search through the MCP surface: results equal a brute-force filter
over the emulator's data, the mirror's freshness is stated, our writes show at once,
syncs are consistent and resumable, and bad filters are refused clearly."""

import random
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from contacts_mcp.emulator import EmulatorOptions
from tests.server.conftest import Harness, open_harness

pytestmark = pytest.mark.anyio

DOMAINS = ["acme.com", "sub.acme.com", "notacme.com", "example.org", "Beta.io"]
PLANS = ["free", "pro", "Pro", "team", ""]
FIRST = ["Ada", "Grace", "Linus", "Alan", "Barbara", "", "Ken"]
SEGMENTS = ["VIP", "Beta", "Churned"]


async def generated_account(h: Harness, contacts: int = 150, seed: int = 7) -> None:
    rng = random.Random(seed)
    segment_ids = {
        name: (await h.seed("POST", "/segments", {"name": name}))["id"] for name in SEGMENTS
    }
    await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await h.seed("POST", "/contact-properties", {"key": "seats", "type": "number"})
    for i in range(contacts):
        properties: dict[str, Any] = {}
        if rng.random() < 0.8:
            properties["plan"] = rng.choice(PLANS)
        if rng.random() < 0.7:
            properties["seats"] = rng.choice([1, 2, 5, 10, 25, 2.5])
        body = {
            "email": f"user{i}@{rng.choice(DOMAINS)}",
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(["Lovelace", "Hopper", "", "Turing"]),
            "unsubscribed": rng.random() < 0.2,
            "properties": {k: v for k, v in properties.items() if v != ""},
        }
        created = await h.seed("POST", "/contacts", body)
        for segment_id in segment_ids.values():
            if rng.random() < 0.3:
                await h.seed("POST", f"/contacts/{created['id']}/segments/{segment_id}")


async def ground_truth(h: Harness) -> list[dict[str, Any]]:
    """Every contact, newest first, with its property values and segment names."""
    truth = []
    for item in await h.all_contacts():
        full = await h.seed("GET", f"/contacts/{item['id']}")
        segments = await h.seed("GET", f"/contacts/{item['id']}/segments")
        truth.append(
            {
                **item,
                "properties": {k: v["value"] for k, v in full["properties"].items()},
                "segments": {s["name"] for s in segments["data"]},
            }
        )
    return truth


def text(value: Any) -> str:
    return str(value or "").lower()


# (conditions, brute-force predicate) pairs: one per filter kind and op, and combinations.
Predicate = Callable[[dict[str, Any]], bool]
CASES: list[tuple[list[dict[str, Any]], Predicate]] = [
    ([{"field": "domain", "op": "eq", "value": "acme.com"}],
     lambda c: c["email"].lower().rsplit("@", 1)[1] == "acme.com"),
    ([{"field": "domain", "op": "eq", "value": "@BETA.IO"}],
     lambda c: c["email"].lower().endswith("@beta.io")),
    ([{"field": "domain", "op": "contains", "value": "acme"}],
     lambda c: "acme" in c["email"].lower().rsplit("@", 1)[1]),
    ([{"field": "email", "op": "contains", "value": "user1"}],
     lambda c: "user1" in c["email"].lower()),
    ([{"field": "email", "op": "eq", "value": "USER3@acme.com"}],
     lambda c: c["email"].lower() == "user3@acme.com"),
    ([{"field": "first_name", "op": "contains", "value": "a"}],
     lambda c: "a" in text(c["first_name"])),
    ([{"field": "first_name", "op": "empty"}], lambda c: not c["first_name"]),
    ([{"field": "last_name", "op": "eq", "value": "hopper"}],
     lambda c: text(c["last_name"]) == "hopper"),
    ([{"field": "unsubscribed", "op": "eq", "value": True}], lambda c: c["unsubscribed"]),
    ([{"field": "segment", "op": "in", "value": "VIP"}], lambda c: "VIP" in c["segments"]),
    ([{"field": "segment", "op": "not_in", "value": "vip"}],
     lambda c: "VIP" not in c["segments"]),
    ([{"field": "plan", "op": "eq", "value": "pro"}],
     lambda c: text(c["properties"].get("plan")) == "pro"),
    ([{"field": "plan", "op": "contains", "value": "e"}],
     lambda c: "e" in text(c["properties"].get("plan"))),
    ([{"field": "plan", "op": "empty"}], lambda c: not c["properties"].get("plan")),
    ([{"field": "seats", "op": "gt", "value": 2}],
     lambda c: c["properties"].get("seats") is not None and c["properties"]["seats"] > 2),
    ([{"field": "seats", "op": "lte", "value": 2.5}],
     lambda c: c["properties"].get("seats") is not None and c["properties"]["seats"] <= 2.5),
    ([{"field": "seats", "op": "eq", "value": 10}],
     lambda c: c["properties"].get("seats") == 10),
    ([{"field": "seats", "op": "not_empty"}], lambda c: c["properties"].get("seats") is not None),
    (
        [
            {"field": "domain", "op": "eq", "value": "acme.com"},
            {"field": "plan", "op": "eq", "value": "pro"},
            {"field": "segment", "op": "not_in", "value": "VIP"},
        ],
        lambda c: c["email"].lower().endswith("@acme.com")
        and text(c["properties"].get("plan")) == "pro"
        and "VIP" not in c["segments"],
    ),
    (
        [
            {"field": "segment", "op": "in", "value": "Beta"},
            {"field": "unsubscribed", "op": "eq", "value": False},
            {"field": "seats", "op": "gte", "value": 5},
        ],
        lambda c: "Beta" in c["segments"]
        and not c["unsubscribed"]
        and (c["properties"].get("seats") or 0) >= 5,
    ),
]  # fmt: skip


@pytest.fixture
async def account(era: str) -> AsyncIterator[tuple[Harness, list[dict[str, Any]]]]:
    async for h in open_harness(era):
        await generated_account(h)
        yield h, await ground_truth(h)


async def start_refresh(h: Harness, mode: str = "full", properties: bool = False) -> Any:
    """Refresh the mirror through search_contacts: its sync job, ended or not."""
    arguments = {"where": [], "count_only": True, "refresh": mode, "properties": properties}
    result = await h.client.call_tool("search_contacts", arguments)
    if result.is_error:  # a first fill that outlasted the call: its message names the job
        text = result.content[0]
        assert text.type == "text", text
        assert "is being filled" in text.text, text.text
        [job_id] = re.findall(r"job_[0-9a-f]{12}", text.text)[:1]
        return (await h.call("get_job", {"job_id": job_id, "wait_seconds": 0}))["job"]
    assert result.structured_content is not None
    if result.structured_content["synced"] is not None:
        return {"status": "completed", "result": result.structured_content["synced"]}
    return result.structured_content["refresh_job"]


async def refresh(h: Harness, mode: str = "full", properties: bool = False) -> Any:
    """Refresh the mirror through search_contacts; the sync's summary, once it ended."""
    job = await start_refresh(h, mode, properties)
    while job["status"] == "working":
        job = (await h.call("get_job", {"job_id": job["job_id"]}))["job"]
    assert job["status"] == "completed", job
    return job["result"]


async def search_all(h: Harness, where: list[dict[str, Any]], limit: int = 7) -> list[str]:
    """Every matching id, paging through the search `limit` at a time."""
    found: list[str] = []
    after = None
    while True:
        page = await h.call("search_contacts", {"where": where, "limit": limit, "after": after})
        found.extend(c["id"] for c in page["contacts"])
        after = page["next_after"]
        if after is None:
            return found


async def test_search_results_equal_a_brute_force_filter(
    account: tuple[Harness, list[dict[str, Any]]],
) -> None:
    h, truth = account
    synced = await refresh(h, "full", properties=True)
    assert synced["contacts"] == len(truth)
    for where, wanted in CASES:
        expected = [c["id"] for c in truth if wanted(c)]
        counted = await h.call("search_contacts", {"where": where, "count_only": True})
        assert counted["count"] == len(expected), where
        assert counted["contacts"] == []
        assert await search_all(h, where) == expected, where  # newest first, each once


async def test_a_first_search_fills_the_mirror_and_says_how_fresh_it_is(
    account: tuple[Harness, list[dict[str, Any]]],
) -> None:
    h, truth = account
    result = await h.client.call_tool("search_contacts", {"where": [], "count_only": True})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data is not None
    assert data["count"] == len(truth)  # "how many contacts do we have": one call
    assert data["mirror"]["contacts"] == len(truth)
    assert data["mirror"]["age_seconds"] is not None
    block = result.content[0]
    assert block.type == "text"
    assert f"{len(truth)} contacts match." in block.text
    assert "Changes made elsewhere since are not seen: refresh=new" in block.text
    assert "Property values: not read" in block.text
    assert data["mirror"]["refresh_requests"]["properties"] == len(truth)


async def test_property_filters_need_property_values_and_say_what_that_costs(
    account: tuple[Harness, list[dict[str, Any]]],
) -> None:
    h, truth = account
    await refresh(h, "full")
    where = [{"field": "plan", "op": "eq", "value": "pro"}]
    message = await h.error("search_contacts", {"where": where})
    assert "properties=true" in message
    assert f"({len(truth)} requests)" in message
    synced = await refresh(h, "new", properties=True)
    assert synced["properties_read"] == len(truth)
    expected = [c["id"] for c in truth if text(c["properties"].get("plan")) == "pro"]
    assert await search_all(h, where, limit=100) == expected


async def test_writes_through_this_server_show_in_search_at_once(harness: Harness) -> None:
    segment = await harness.seed("POST", "/segments", {"name": "VIP"})
    await harness.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await refresh(harness, "new", properties=True)
    vip = [{"field": "segment", "op": "in", "value": "VIP"}]
    created = await harness.call(
        "create_contact", {"email": "ada@acme.com", "properties": {"plan": "pro"}}
    )
    found = await harness.call(
        "search_contacts", {"where": [{"field": "domain", "op": "eq", "value": "acme.com"}]}
    )
    assert [c["email"] for c in found["contacts"]] == ["ada@acme.com"]
    await harness.call(
        "update_contact", {"contact": "ada@acme.com", "add_segments": [segment["id"]]}
    )
    assert (await harness.call("search_contacts", {"where": vip}))["count"] == 1
    pro = [{"field": "plan", "op": "eq", "value": "pro"}]
    assert (await harness.call("search_contacts", {"where": pro}))["count"] == 1
    await harness.call("update_contact", {"contact": created["id"], "properties": {"plan": "free"}})
    assert (await harness.call("search_contacts", {"where": pro}))["count"] == 0
    await harness.call("delete_contact", {"contact": "ada@acme.com"})
    assert (await harness.call("search_contacts", {"where": [], "count_only": True}))["count"] == 0


async def test_changes_made_elsewhere_show_after_a_refresh(harness: Harness) -> None:
    for i in range(30):
        await harness.seed("POST", "/contacts", {"email": f"old{i}@example.com"})
    first = await refresh(harness, "new")
    assert (first["mode"], first["contacts"]) == ("full", 30)  # never filled: all of it
    for i in range(5):
        await harness.seed("POST", "/contacts", {"email": f"new{i}@example.com"})
    everyone = {"where": [], "count_only": True}
    assert (await harness.call("search_contacts", everyone))["count"] == 30
    refreshed = await refresh(harness, "new")
    assert (refreshed["mode"], refreshed["new_contacts"]) == ("new", 5)
    # One page of contacts reaches known ones. No answer has needed a segment yet, so no
    # membership is read (not even the segment list).
    assert refreshed["requests"] == 1
    assert (await harness.call("search_contacts", everyone))["count"] == 35
    await harness.seed("DELETE", "/contacts/old0@example.com")
    assert (await harness.call("search_contacts", everyone))["count"] == 35  # not seen yet
    await refresh(harness, "full")
    assert (await harness.call("search_contacts", everyone))["count"] == 34


async def test_searches_during_a_sync_see_the_last_complete_mirror(era: str) -> None:
    async for h in open_harness(era, EmulatorOptions(latency=0.05), wait_seconds=0.05):
        await h.seed_contacts([f"a{i}@example.com" for i in range(40)])
        assert (await refresh(h, "full"))["contacts"] == 40
        await h.seed_contacts([f"b{i}@example.com" for i in range(260)])
        everyone = {"where": [], "count_only": True}
        answer = await h.call("search_contacts", {**everyone, "refresh": "full"})
        # The refresh outlasts the call: the answer comes from the previous sync.
        handle = answer["refresh_job"]
        assert (handle["status"], answer["count"], answer["synced"]) == ("working", 40, None)
        during = [(await h.call("search_contacts", everyone))["count"] for _ in range(2)]
        assert during == [40, 40]
        job = (await h.call("get_job", {"job_id": handle["job_id"], "wait_seconds": 50}))["job"]
        while job["status"] == "working":
            job = (await h.call("get_job", {"job_id": handle["job_id"]}))["job"]
        assert (await h.call("search_contacts", everyone))["count"] == 300


async def test_an_interrupted_sync_resumes_without_reading_again(era: str) -> None:
    async for h in open_harness(era, EmulatorOptions(latency=0.03), wait_seconds=0.05):
        await h.seed_contacts([f"u{i}@example.com" for i in range(1000)])
        job = await start_refresh(h, "full")
        job_id = job["job_id"]
        while job["done"] < 300:
            job = (await h.call("get_job", {"job_id": job_id, "wait_seconds": 0.05}))["job"]
        stopped = (await h.call("get_job", {"job_id": job_id, "cancel": True}))["job"]
        assert stopped["status"] == "cancelled"
        resumed = await refresh(h, "full")
        again = await refresh(h, "full")
        assert resumed["contacts"] == again["contacts"] == 1000
        # 10 pages of contacts and one list of segments for a whole sync; the resumed
        # one read at least the 3 pages done before the cancel no more.
        assert again["requests"] == 11
        assert resumed["requests"] <= again["requests"] - 3


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([{"field": "colour", "op": "eq", "value": "red"}], "Unknown field 'colour'"),
        ([{"field": "colour", "op": "eq", "value": "red"}], "a property: plan, seats"),
        ([{"field": "seats", "op": "gt", "value": "ten"}], "Property `seats` is a number"),
        ([{"field": "seats", "op": "contains", "value": "1"}], "it takes eq, gt"),
        ([{"field": "plan", "op": "gt", "value": 3}], "Property `plan` is a string"),
        (
            [{"field": "email", "op": "gt", "value": "a"}],
            "`email` takes the operators eq, contains",
        ),
        ([{"field": "unsubscribed", "op": "eq", "value": "yes"}], "true or false"),
        ([{"field": "created_at", "op": "lt", "value": "last week"}], "a date or time"),
        ([{"field": "segment", "op": "in", "value": "Nope"}], "Nope"),
    ],
)
async def test_bad_filters_are_refused_clearly(
    harness: Harness, where: list[dict[str, Any]], expected: str
) -> None:
    await harness.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await harness.seed("POST", "/contact-properties", {"key": "seats", "type": "number"})
    message = await harness.error("search_contacts", {"where": where})
    assert expected in message, message
    assert "Traceback" not in message


async def test_created_at_compares_as_time(harness: Harness) -> None:
    await harness.seed("POST", "/contacts", {"email": "a@example.com"})
    everyone = [{"field": "created_at", "op": "gt", "value": "2000-01-01"}]
    nobody = [{"field": "created_at", "op": "lt", "value": "2000-01-01T00:00:00Z"}]
    assert (await harness.call("search_contacts", {"where": everyone}))["count"] == 1
    assert (await harness.call("search_contacts", {"where": nobody}))["count"] == 0


async def test_a_row_by_row_import_writes_through_to_search(harness: Harness) -> None:
    await harness.seed("POST", "/contacts", {"email": "old@example.com", "first_name": "Old"})
    await refresh(harness, "full")
    csv_text = "email,first_name\nold@example.com,Renamed\nnew1@acme.com,A\nnew2@acme.com,B\n"
    summary = await harness.job(
        "import_contacts",
        {
            "csv_text": csv_text,
            "columns": {"email": "email", "first_name": "first_name"},
            "on_conflict": "upsert",
            "strategy": "rows",
        },
    )
    assert (summary["created"], summary["updated"]) == (2, 1)
    assert any(
        "What it created (2 contacts) reaches the search mirror" in n for n in summary["notes"]
    )
    acme = [{"field": "domain", "op": "eq", "value": "acme.com"}]
    found = await harness.call("search_contacts", {"where": acme})
    assert sorted(c["email"] for c in found["contacts"]) == ["new1@acme.com", "new2@acme.com"]
    # The row's update was recorded as written: no refresh needed, nothing in doubt.
    renamed = [{"field": "first_name", "op": "eq", "value": "Renamed"}]
    found = await harness.call("search_contacts", {"where": renamed})
    assert found["count"] == 1
    assert found["mirror"]["in_doubt"] == 0


async def test_an_api_import_says_which_contacts_it_cannot_vouch_for(harness: Harness) -> None:
    await harness.seed("POST", "/contacts", {"email": "old@example.com", "first_name": "Old"})
    await refresh(harness, "full")
    csv_text = "email,first_name\nold@example.com,Renamed\nnew1@acme.com,A\n"
    summary = await harness.job(
        "import_contacts",
        {
            "csv_text": csv_text,
            "columns": {"email": "email", "first_name": "first_name"},
            "on_conflict": "upsert",
            "strategy": "api",
        },
    )
    assert (summary["created"], summary["updated"]) == (1, 1)
    assert any("not vouched for" in note for note in summary["notes"])
    found = await harness.call("search_contacts", {"where": [], "count_only": True})
    assert (found["count"], found["mirror"]["in_doubt"]) == (2, 1)
    assert "1 contact changed by an import" in found["mirror"]["note"]
    await refresh(harness, "full")
    renamed = [{"field": "first_name", "op": "eq", "value": "Renamed"}]
    found = await harness.call("search_contacts", {"where": renamed})
    assert (found["count"], found["mirror"]["in_doubt"]) == (1, 0)
    assert "changed by an import" not in found["mirror"]["note"]


async def test_a_sync_under_injected_faults_mirrors_the_account_exactly(
    era: str, tmp_path: Path
) -> None:
    db = str(tmp_path / "account.db")
    # Filled without faults, so the fault sequence (seeded) meets the sync's requests
    # alone, the same on every machine.
    async for h in open_harness(era, EmulatorOptions(db_path=db)):
        await h.seed_contacts([f"u{i}@example.com" for i in range(250)])
        vip = await h.seed("POST", "/segments", {"name": "VIP"})
        for i in range(0, 250, 7):
            await h.seed("POST", f"/contacts/u{i}@example.com/segments/{vip['id']}")
    faults = EmulatorOptions(db_path=db, fault_429=0.07, fault_500=0.07, fault_503=0.07, seed=10)
    async for h in open_harness(era, faults):
        synced = await refresh(h, "full")
        assert synced["contacts"] == 250
        assert synced["requests"] > 3 + 1 + 1  # pages needed: faults were met, and overcome
        everyone = await search_all(h, [], limit=100)
        # Contacts imported together share a created_at; the mirror breaks such ties by
        # id, the API by insertion order: the same contacts, each once, newest first.
        truth = {c["id"]: c["created_at"] for c in await h.all_contacts()}
        assert sorted(everyone) == sorted(truth)
        times = [truth[contact_id] for contact_id in everyone]
        assert times == sorted(times, reverse=True)
        members = [{"field": "segment", "op": "in", "value": "VIP"}]
        assert (await h.call("search_contacts", {"where": members}))["count"] == 36


async def test_a_field_name_with_a_hidden_character_is_named_as_such(harness: Harness) -> None:
    where = [{"field": "\u200bemail", "op": "eq", "value": "ada@example.com"}]
    message = await harness.error("search_contacts", {"where": where})
    assert "contains an invisible or control character" in message
    assert "Unknown field" not in message


async def test_a_contact_without_a_name_has_null_names_in_search_as_in_get(
    harness: Harness,
) -> None:
    await harness.seed("POST", "/contacts", {"email": "ada@example.com"})
    found = (await harness.call("search_contacts", {"where": []}))["contacts"][0]
    got = await harness.call("get_contact", {"contact": "ada@example.com"})
    assert (found["first_name"], found["last_name"]) == (None, None)
    assert (got["first_name"], got["last_name"]) == (None, None)


async def test_counts_of_one_read_as_one(harness: Harness) -> None:
    await harness.seed("POST", "/contacts", {"email": "ada@example.com"})
    result = await harness.client.call_tool("search_contacts", {"where": [], "count_only": True})
    text = result.content[0]
    assert text.type == "text"
    assert text.text.startswith("1 contact matches.")
    listed = await harness.client.call_tool("list_contacts", {})
    first = listed.content[0]
    assert first.type == "text"
    assert first.text.startswith("1 contact, newest first")
