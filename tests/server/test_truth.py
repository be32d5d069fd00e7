"""Sets acted on as they really are: the four ways the mirror used to lie, as a person
meets them on the emulator, each in both protocol eras.

1. Property values changed by an import, or elsewhere, were never seen again.
2. A segment membership changed elsewhere was trusted by a delete of that segment.
3. A property search that outlived the wait budget answered with an error and lost its job.
4. An import's new contacts had their segments read again, one request each.
"""

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contacts_mcp.backends import LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from tests.server.conftest import Harness, open_harness
from tests.server.test_bulk import read_csv, settings
from tests.server.test_bulk_change import finish
from tests.server.test_search import refresh

pytestmark = pytest.mark.anyio

PLAN_PRO = [{"field": "plan", "op": "eq", "value": "pro"}]


class CountingTransport(LocalTransport):
    """The in-process emulator, counting what the server asks of it by method and path
    shape (ids replaced by `{id}`)."""

    def __init__(self, options: EmulatorOptions) -> None:
        super().__init__(options)
        self.requests: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        shape = "/".join("{id}" if len(part) == 36 or "@" in part else part for part in parts)
        self.requests[f"{request.method} /{shape}"] += 1
        return await super().handle_async_request(request)


@pytest.fixture
async def counted(era: str, tmp_path: Path) -> AsyncIterator[tuple[Harness, CountingTransport]]:
    transport = CountingTransport(EmulatorOptions())
    async for h in open_harness(era, None, settings(tmp_path), transport=transport):
        yield h, transport


async def plan_of(h: Harness, email: str) -> Any:
    return (await h.seed("GET", f"/contacts/{email}"))["properties"]["plan"]["value"]


async def free_plans_mirrored(h: Harness, emails: list[str]) -> Any:
    """An empty segment "VIP", a `plan` property, these contacts on plan "free", and the
    mirror filled with their values; returns the segment."""
    segment = await h.seed("POST", "/segments", {"name": "VIP"})
    await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    for email in emails:
        await h.seed("POST", "/contacts", {"email": email, "properties": {"plan": "free"}})
    await refresh(h, "full", properties=True)
    return segment


async def import_csv(h: Harness, csv_text: str, strategy: str, **extra: Any) -> Any:
    columns = {"email": "email", "plan": "plan"}
    if "first_name" in csv_text.splitlines()[0]:
        columns["first_name"] = "first_name"
    return await h.job(
        "import_contacts",
        {
            "csv_text": csv_text,
            "columns": columns,
            "on_conflict": "upsert",
            "strategy": strategy,
            **extra,
        },
    )


@pytest.mark.parametrize("strategy", ["rows", "api"])
async def test_a_value_an_import_changed_is_searched_exported_and_changed_as_resend_has_it(
    counted: tuple[Harness, CountingTransport], strategy: str, tmp_path: Path
) -> None:
    h, _ = counted
    await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await h.call("create_contact", {"email": "ada@acme.com", "properties": {"plan": "enterprise"}})
    await refresh(h, "full", properties=True)
    await import_csv(h, "email,plan\nada@acme.com,pro\n", strategy)
    assert await plan_of(h, "ada@acme.com") == "pro"

    found = await h.call(
        "search_contacts", {"where": PLAN_PRO, "refresh": "full", "properties": True}
    )
    assert found["count"] == 1
    assert found["mirror"]["in_doubt"] == 0
    assert "all changes" not in found["mirror"]["note"]

    exported = await h.job("export_contacts", {"contacts": ["ada@acme.com"]})
    assert [row["plan"] for row in exported["contacts"]] == ["pro"]

    # The person's change is written, never skipped on the mirror's word.
    changed = await h.call(
        "update_contacts", {"contacts": ["ada@acme.com"], "properties": {"plan": "enterprise"}}
    )
    run = changed["run"]
    while run["status"] == "working":
        run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
    assert (run["result"]["done"], run["result"]["unchanged"]) == (1, 0)
    assert await plan_of(h, "ada@acme.com") == "enterprise"


async def test_a_value_changed_elsewhere_is_seen_after_a_full_refresh_with_properties(
    harness: Harness,
) -> None:
    h = harness
    await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await h.seed("POST", "/contacts", {"email": "ada@acme.com", "properties": {"plan": "free"}})
    await refresh(h, "full", properties=True)
    await h.seed("PATCH", "/contacts/ada@acme.com", {"properties": {"plan": "pro"}})  # dashboard
    stale = await h.call("search_contacts", {"where": PLAN_PRO})
    assert stale["count"] == 0
    note = stale["mirror"]["note"]
    assert "Property values: read for 1 of 1 contacts" in note
    assert "all changes" not in note
    fresh = await h.call(
        "search_contacts", {"where": PLAN_PRO, "refresh": "full", "properties": True}
    )
    assert fresh["count"] == 1
    assert fresh["synced"]["properties_read"] == 1
    # A horizon re-reads only the older values: none, just after that read.
    again = await h.call(
        "search_contacts",
        {"where": PLAN_PRO, "refresh": "new", "properties": True, "max_age_minutes": 60},
    )
    assert again["synced"]["properties_read"] == 0


async def test_a_delete_of_a_segment_leaves_alone_who_left_it_elsewhere(
    counted: tuple[Harness, CountingTransport],
) -> None:
    h, transport = counted
    segment = await h.seed("POST", "/segments", {"name": "Trial"})
    for i in range(12):
        await h.seed("POST", "/contacts", {"email": f"t{i}@acme.com", "segments": [segment]})
    trial = [{"field": "segment", "op": "in", "value": "Trial"}]
    search = (await h.call("search_contacts", {"where": trial, "count_only": True}))["selection"]
    preview = (await h.call("delete_contacts", {"search": search}))["preview"]
    assert preview["count"] == 12
    assert any("re-check" in note or "read afresh" in note for note in preview["notes"])
    # The dashboard: t3 leaves the segment after the (fresh) sync and the preview.
    await h.seed("DELETE", f"/contacts/t3@acme.com/segments/{segment['id']}")
    answer = await h.call("delete_contacts", {"search": search, "confirm": preview["confirm"]})
    run = answer["run"]
    while run["status"] == "working":
        run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
    outcome = run["result"]
    assert (outcome["done"], outcome["no_longer_matching"]) == (11, 1)
    assert outcome["no_longer_matching_sample"] == [
        "t3@acme.com: no longer matches: segment in 'Trial'"
    ]
    assert (await h.seed("GET", "/contacts/t3@acme.com"))["email"] == "t3@acme.com"
    rows = read_csv(Path(outcome["failures_file"]))
    assert [row["email"] for row in rows] == ["t3@acme.com"]
    snapshot = read_csv(Path(outcome["snapshot_file"]))
    assert sorted(row["email"] for row in snapshot) == sorted(
        f"t{i}@acme.com" for i in range(12) if i != 3
    )
    # The re-check paged the segment: no read of anyone's segments one by one.
    assert transport.requests["GET /segments/{id}/contacts"] >= 1


async def test_an_update_re_checks_a_membership_changed_elsewhere_before_skipping(
    harness: Harness,
) -> None:
    h = harness
    segment = await h.seed("POST", "/segments", {"name": "VIP"})
    for i in range(12):
        body: dict[str, Any] = {"email": f"v{i}@acme.com"}
        if i < 6:
            body["segments"] = [segment]
        await h.seed("POST", "/contacts", body)
    acme = [{"field": "domain", "op": "eq", "value": "acme.com"}]
    search = (await h.call("search_contacts", {"where": acme, "count_only": True}))["selection"]
    change = {"search": search, "add_segments": ["VIP"]}
    preview = (await h.call("update_contacts", change))["preview"]
    assert (preview["already"], preview["to_change"]) == (6, 6)
    await h.seed("DELETE", f"/contacts/v0@acme.com/segments/{segment['id']}")  # elsewhere
    run = (await h.call("update_contacts", {**change, "confirm": preview["confirm"]}))["run"]
    while run["status"] == "working":
        run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
    # v0 was "already" a member in the mirror; the run saw it had left, and added it.
    assert (run["result"]["done"], run["result"]["unchanged"]) == (7, 5)
    members = await h.seed("GET", f"/segments/{segment['id']}/contacts?limit=100")
    assert len(members["data"]) == 12


async def test_nothing_to_change_is_said_only_when_resend_agrees(harness: Harness) -> None:
    h = harness
    segment = await h.seed("POST", "/segments", {"name": "VIP"})
    for i in range(12):
        await h.seed("POST", "/contacts", {"email": f"n{i}@acme.com", "segments": [segment]})
    acme = [{"field": "domain", "op": "eq", "value": "acme.com"}]
    search = (await h.call("search_contacts", {"where": acme, "count_only": True}))["selection"]
    message = await h.error("update_contacts", {"search": search, "add_segments": ["VIP"]})
    assert "all 12 contacts are already as asked (checked against Resend just now" in message
    await h.seed("DELETE", f"/contacts/n5@acme.com/segments/{segment['id']}")  # elsewhere
    preview = (await h.call("update_contacts", {"search": search, "add_segments": ["VIP"]}))[
        "preview"
    ]
    assert (preview["to_change"], preview["already"]) == (1, 11)


async def test_a_property_search_that_outlasts_the_wait_answers_with_its_job(
    era: str, tmp_path: Path
) -> None:
    options = EmulatorOptions(latency=0.05)
    async for h in open_harness(era, options, settings(tmp_path), wait_seconds=0.5):
        await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
        await h.seed_contacts([f"p{i}@acme.com" for i in range(40)])
        filled = await refresh(h, "full")
        assert filled["contacts"] == 40
        asked = {"where": PLAN_PRO, "refresh": "new", "properties": True}
        first = await h.client.call_tool("search_contacts", asked)
        assert not first.is_error, first.content
        answer = first.structured_content
        assert answer is not None
        job = answer["refresh_job"]
        assert job is not None
        assert job["status"] == "working"
        assert "still being read" in answer["mirror"]["note"]
        assert answer["count"] == 0  # none of the values known yet is "pro"
        # A second search joins the running sync rather than starting another.
        second = await h.call("search_contacts", asked)
        assert second["refresh_job"]["job_id"] == job["job_id"]
        while job["status"] == "working":
            job = (await h.call("get_job", {"job_id": job["job_id"]}))["job"]
        assert job["status"] == "completed"
        assert job["result"]["properties_read"] == 40


@pytest.mark.parametrize("strategy", ["rows", "api"])
async def test_an_import_brings_its_new_contacts_in_without_reading_each_ones_segments(
    counted: tuple[Harness, CountingTransport], strategy: str
) -> None:
    h, transport = counted
    segment = await h.seed("POST", "/segments", {"name": "Newsletter"})
    await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await h.seed("POST", "/contacts", {"email": "old@acme.com"})
    await refresh(h, "full", properties=True)
    rows = "".join(f"n{i}@acme.com,pro\n" for i in range(150))
    transport.requests.clear()
    summary = await import_csv(h, "email,plan\n" + rows, strategy, segments=[segment["id"]])
    assert summary["created"] == 150
    if strategy == "api":
        # The schema, the segment, the recent imports, the upload, and its polls: the new
        # contacts wait for a search to need them. To journal what the import created (so
        # it can be undone): the newest contact before it (1 request), and after it those
        # newer, newest first (2 pages for 150), never the whole account.
        assert transport.requests.pop("GET /contacts/imports/{id}") >= 1
        assert transport.requests.pop("GET /contacts") == 3
        assert sum(transport.requests.values()) <= 5, transport.requests
    transport.requests.clear()
    newsletter = [{"field": "segment", "op": "in", "value": "Newsletter"}]
    found = await h.call("search_contacts", {"where": newsletter, "count_only": True})
    assert found["count"] == 150
    # Two list pages brought the 150 in, with their segments from the import: no read
    # of anyone's segments, one by one.
    assert transport.requests["GET /contacts"] == 2
    assert transport.requests["GET /contacts/{id}/segments"] == 0
    # Created by the import: their values are the file's, known without a read.
    pro = await h.call("search_contacts", {"where": PLAN_PRO, "count_only": True})
    assert pro["count"] == 150
    assert transport.requests["GET /contacts/{id}"] == 0


async def test_an_export_says_how_fresh_each_column_is_or_reads_it_fresh(
    harness: Harness,
) -> None:
    h = harness
    segment = await free_plans_mirrored(h, ["ada@acme.com"])
    # The dashboard, behind the server's back.
    await h.seed("PATCH", "/contacts/ada@acme.com", {"properties": {"plan": "pro"}})
    await h.seed("POST", f"/contacts/ada@acme.com/segments/{segment['id']}")
    mirrored = await h.job("export_contacts", {"contacts": ["ada@acme.com"]})
    assert [(r["plan"], r["segments"]) for r in mirrored["contacts"]] == [("free", "")]
    assert "as last read from Resend" in mirrored["freshness"]["plan"]
    assert "as of the last full sync" in mirrored["freshness"]["segments"]
    fresh = await h.job("export_contacts", {"contacts": ["ada@acme.com"], "fresh": True})
    assert [(r["plan"], r["segments"]) for r in fresh["contacts"]] == [("pro", "VIP")]
    assert fresh["freshness"]["plan"] == "read from Resend during this export"


async def test_a_contact_deleted_elsewhere_is_never_already_as_asked(harness: Harness) -> None:
    # Absent from the segment it should leave, because it no longer exists at all.
    h = harness
    segment = await h.seed("POST", "/segments", {"name": "VIP"})
    for i in range(14):
        await h.seed("POST", "/contacts", {"email": f"g{i}@acme.com"})
    acme = [{"field": "domain", "op": "eq", "value": "acme.com"}]
    search = (await h.call("search_contacts", {"where": acme, "count_only": True}))["selection"]
    await h.seed("DELETE", "/contacts/g3@acme.com")  # elsewhere
    message = await h.error("update_contacts", {"search": search, "remove_segments": ["VIP"]})
    assert "all 13 contacts are already as asked" in message
    assert "1 other selected contact was deleted from Resend since" in message
    # A run finds the same: the deleted contact is a failure, not "unchanged".
    await h.seed("POST", f"/contacts/g5@acme.com/segments/{segment['id']}")  # elsewhere
    preview = (await h.call("update_contacts", {"search": search, "remove_segments": ["VIP"]}))[
        "preview"
    ]
    assert (preview["to_change"], preview["already"]) == (1, 12)
    await h.seed("DELETE", "/contacts/g7@acme.com")  # elsewhere, between preview and run
    run = (
        await h.call(
            "update_contacts",
            {"search": search, "remove_segments": ["VIP"], "confirm": preview["confirm"]},
        )
    )["run"]
    while run["status"] == "working":
        run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
    result = run["result"]
    assert (result["done"], result["unchanged"], result["failed"]) == (1, 11, 1)
    failures = read_csv(Path(result["failures_file"]))
    assert [(row["email"], row["reason"]) for row in failures] == [
        ("g7@acme.com", "the contact no longer exists")
    ]


async def test_an_address_created_again_elsewhere_is_exported_fresh_and_imported(
    harness: Harness,
) -> None:
    h = harness
    segment = await free_plans_mirrored(h, ["ada@acme.com", "bob@acme.com"])
    # Elsewhere: Ada deleted and created again (a new id), Bob deleted.
    await h.seed("DELETE", "/contacts/ada@acme.com")
    await h.seed("POST", "/contacts", {"email": "ada@acme.com", "properties": {"plan": "pro"}})
    await h.seed("DELETE", "/contacts/bob@acme.com")
    fresh = await h.job("export_contacts", {"contacts": ["ada@acme.com"], "fresh": True})
    assert [(r["email"], r["plan"]) for r in fresh["contacts"]] == [("ada@acme.com", "pro")]
    assert "changed since by an import" not in str(fresh["freshness"])
    # An import creates Bob again: the next search finds him with the import's segment.
    summary = await import_csv(h, "email,plan\nbob@acme.com,pro\n", "api", segments=[segment["id"]])
    assert summary["created"] == 1
    vip = [{"field": "segment", "op": "in", "value": "VIP"}]
    found = await h.call("search_contacts", {"where": vip})
    assert [c["email"] for c in found["contacts"]] == ["bob@acme.com"]
    pro = await h.call("search_contacts", {"where": PLAN_PRO})
    assert sorted(c["email"] for c in pro["contacts"]) == ["ada@acme.com", "bob@acme.com"]


async def test_a_first_count_lists_the_contacts_alone_and_a_segment_search_reads_members(
    counted: tuple[Harness, CountingTransport],
) -> None:
    h, transport = counted
    vip = await h.seed("POST", "/segments", {"name": "VIP"})
    await h.seed_contacts([f"u{i}@example.com" for i in range(150)])
    for i in range(0, 150, 10):
        await h.seed("POST", f"/contacts/u{i}@example.com/segments/{vip['id']}")
    transport.requests.clear()
    counted_all = await h.call("search_contacts", {"where": [], "count_only": True})
    # What the plain API needs for a count: the contact pages, and nothing more.
    assert counted_all["count"] == 150
    assert transport.requests == Counter({"GET /contacts": 2})
    assert "Segment memberships not read yet" in counted_all["mirror"]["note"]
    # Meanwhile: an import writes through into VIP, and a contact joins VIP elsewhere.
    rows = "".join(f"n{i}@example.com,\n" for i in range(5))
    summary = await h.job(
        "import_contacts",
        {
            "csv_text": "email,plan\n" + rows,
            "columns": {"email": "email"},
            "on_conflict": "upsert",
            "strategy": "rows",
            "segments": [vip["id"]],
        },
    )
    assert summary["created"] == 5
    await h.seed("POST", f"/contacts/u1@example.com/segments/{vip['id']}")
    transport.requests.clear()
    members = [{"field": "segment", "op": "in", "value": "VIP"}]
    found = await h.call("search_contacts", {"where": members, "count_only": True})
    assert found["count"] == 15 + 5 + 1
    # The import's new contacts' page, the segment list, and VIP's one page of members.
    assert transport.requests == Counter(
        {"GET /contacts": 1, "GET /segments": 1, "GET /segments/{id}/contacts": 1}
    )
    assert "Segment memberships not read" not in found["mirror"]["note"]
    others = [{"field": "segment", "op": "not_in", "value": "VIP"}]
    assert (await h.call("search_contacts", {"where": others, "count_only": True}))["count"] == (
        155 - 21
    )
    transport.requests.clear()
    assert (await h.call("search_contacts", {"where": members, "count_only": True}))["count"] == 21
    assert transport.requests == Counter()  # read once: the mirror answers from now on


async def test_a_preview_then_its_import_read_the_schema_once(
    counted: tuple[Harness, CountingTransport],
) -> None:
    h, transport = counted
    await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    csv_text = "email,plan\n" + "".join(f"n{i}@acme.com,pro\n" for i in range(3))
    transport.requests.clear()
    await h.call("preview_import", {"csv_text": csv_text})
    summary = await import_csv(h, csv_text, "rows")
    assert summary["created"] == 3
    # The preview read it; the import checks its columns against that copy (Resend checks
    # each value again as it is written).
    assert transport.requests["GET /contact-properties"] == 1


async def test_a_change_that_names_no_segment_does_not_read_the_segment_list(
    counted: tuple[Harness, CountingTransport],
) -> None:
    h, transport = counted
    emails = [f"u{i}@acme.com" for i in range(3)]
    for email in emails:
        await h.seed("POST", "/contacts", {"email": email})
    transport.requests.clear()
    answer = await h.call("update_contacts", {"contacts": emails, "unsubscribed": True})
    assert (await finish(h, answer["run"]))["done"] == 3
    assert transport.requests["PATCH /contacts/{id}"] == 3
    assert transport.requests["GET /segments"] == 0  # nothing to name


async def test_a_named_export_finds_an_address_created_again_when_it_reads_values(
    harness: Harness,
) -> None:
    h = harness
    await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await h.seed("POST", "/contacts", {"email": "a0@acme.com", "properties": {"plan": "free"}})
    await h.call("search_contacts", {"where": [], "count_only": True})  # values not read
    await h.seed("DELETE", "/contacts/a0@acme.com")
    await h.seed("POST", "/contacts", {"email": "a0@acme.com", "properties": {"plan": "pro"}})
    exported = await h.job("export_contacts", {"contacts": ["a0@acme.com"]})
    # Reading its values found the mirror's contact deleted; the address, read again,
    # belongs to the new one.
    assert [(row["email"], row["plan"]) for row in exported["contacts"]] == [("a0@acme.com", "pro")]
