"""update_contacts(undo=<job id>): a bulk update or delete put back, previewed and
confirmed like any set operation, through the MCP client in both eras. The emulator's
state after the undo equals its state before the job, but for a contact changed again in
between (left alone, listed) and a person who unsubscribed in between (stays so)."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from tests.server.conftest import Harness, open_harness
from tests.server.test_bulk import ACME, account, read_csv, selection, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def h(era: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in open_harness(era, None, settings(tmp_path)):
        yield harness


async def everything(h: Harness) -> dict[str, dict[str, Any]]:
    """Each contact as Resend holds it, by email: fields, property values, segment names
    and each topic's choice (the topic's default where the contact made none)."""
    topics = (await h.seed("GET", "/topics"))["data"]
    found: dict[str, dict[str, Any]] = {}
    for listed in await h.all_contacts():
        contact = await h.seed("GET", f"/contacts/{listed['id']}")
        segments = await h.seed("GET", f"/contacts/{listed['id']}/segments")
        chosen = await h.seed("GET", f"/contacts/{listed['id']}/topics")
        choices = {t["name"]: t["subscription"] for t in chosen["data"]}
        found[contact["email"]] = {
            "first_name": contact["first_name"],
            "last_name": contact["last_name"],
            "unsubscribed": contact["unsubscribed"],
            "properties": {k: v["value"] for k, v in contact["properties"].items()},
            "segments": sorted(s["name"] for s in segments["data"]),
            "topics": {
                t["name"]: choices.get(t["name"], t["default_subscription"]) for t in topics
            },  # fmt: skip
        }
    return found


async def with_topics(h: Harness) -> None:
    """The account of `tests.server.test_bulk`, with two topics: News (opt in unless
    chosen otherwise) and Offers (opt out unless chosen); user2 opted out of News."""
    await account(h)
    await h.seed("POST", "/topics", {"name": "News", "default_subscription": "opt_in"})
    await h.seed("POST", "/topics", {"name": "Offers", "default_subscription": "opt_out"})
    news = next(t for t in (await h.seed("GET", "/topics"))["data"] if t["name"] == "News")
    choice = [{"id": news["id"], "subscription": "opt_out"}]
    await h.seed("PATCH", "/contacts/user2@acme.com/topics", choice)


async def finish(h: Harness, run: dict[str, Any]) -> dict[str, Any]:
    while run["status"] == "working":
        run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
    assert run["status"] == "completed", run
    result: dict[str, Any] = run["result"]
    return result


async def confirmed(h: Harness, arguments: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Preview, then run exactly that: the preview, and the job's id once it ended."""
    preview = (await h.call("update_contacts", arguments))["preview"]
    run = (await h.call("update_contacts", {**arguments, "confirm": preview["confirm"]}))["run"]
    ended = await finish(h, run)
    assert ended["failed"] == 0, ended
    return preview, str(run["job_id"])


async def undo(h: Harness, job_id: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Undo the job: its preview, then its run's outcome and the undo's own job id."""
    preview = (await h.call("update_contacts", {"undo": job_id}))["preview"]
    answer = await h.call("update_contacts", {"undo": job_id, "confirm": preview["confirm"]})
    return preview, await finish(h, answer["run"]), str(answer["run"]["job_id"])


async def test_an_update_is_put_back_but_what_changed_since(h: Harness) -> None:
    await with_topics(h)
    before = await everything(h)
    search = await selection(h, ACME)
    change = {
        "search": search,
        "properties": {"plan": "pro", "seats": None},
        "add_segments": ["VIP"],
        # Offers is opt-out by default: Resend lists that like a choice, so opting in
        # takes the person's word (resubscribe).
        "topics": {"Offers": "opt_in"},
        "resubscribe": True,
    }
    _, job = await confirmed(h, change)
    after_job = await everything(h)
    assert after_job["user1@acme.com"]["segments"] == ["VIP"]
    # In between, elsewhere: user5's plan is changed again; user6 unsubscribes.
    await h.seed("PATCH", "/contacts/user5@acme.com", {"properties": {"plan": "enterprise"}})
    await h.seed("PATCH", "/contacts/user6@acme.com", {"unsubscribed": True})

    preview, outcome, undone = await undo(h, job)
    assert preview["change"].startswith(f"undo job {job} (set plan = 'pro', clear seats")
    assert (preview["count"], preview["to_change"]) == (15, 15)  # the mirror missed user5
    sample = preview["sample"][0]
    assert sample["email"] == "user14@acme.com"
    assert sample["before"] == {
        "plan": "pro",
        "seats": None,
        "in VIP": True,
        "topic Offers": "opt_in",
    }
    assert sample["after"] == {
        "plan": "@cmd",
        "seats": 14,
        "in VIP": False,
        "topic Offers": "opt_out",
    }
    assert (outcome["done"], outcome["changed_since"], outcome["refused"]) == (14, 1, 0)
    assert outcome["changed_since_sample"] == [
        "user5@acme.com: plan changed since the run (now enterprise)"
    ]
    now = await everything(h)
    for email, was in before.items():
        if email == "user5@acme.com":
            assert now[email] == {**after_job[email], "properties": {"plan": "enterprise"}}
        elif email == "user6@acme.com":
            assert now[email] == {**was, "unsubscribed": True}  # the rest put back
        else:
            assert now[email] == was, email
    failures = {row["email"]: row["reason"] for row in read_csv(Path(outcome["failures_file"]))}
    assert failures == {"user5@acme.com": "left alone: " + outcome["changed_since_sample"][0][16:]}
    # The mirror saw it at once: in VIP are those who were, and user5 (left alone).
    vip = [{"field": "segment", "op": "in", "value": "VIP"}]
    found = await h.call("search_contacts", {"where": vip, "count_only": True})
    assert found["count"] == sum("VIP" in c["segments"] for c in before.values()) + 1

    # An undo is undone in turn: back as the job left them (user5 and user6 aside), but
    # for the topic the first undo opted them out of: never opted back in.
    _, again, _ = await undo(h, undone)
    assert (again["done"], again["refused"]) == (14, 14)
    assert any("an undo never opts anyone back in" in note for note in again["notes"])
    now = await everything(h)
    for email in before:
        if email not in ("user5@acme.com", "user6@acme.com"):
            kept_out = {**after_job[email]["topics"], "Offers": "opt_out"}
            assert now[email] == {**after_job[email], "topics": kept_out}, email
