"""update_contacts(undo=<job id>): a bulk update, delete or import put back, previewed
and confirmed like any set operation, through the MCP client in both eras. The emulator's
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
            },
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
    assert failures == {"user5@acme.com": "left alone: plan changed since the run (now enterprise)"}
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


async def test_an_undo_never_opts_anyone_back_in(h: Harness) -> None:
    await account(h)  # every 4th acme.com contact unsubscribed already
    before = await everything(h)
    search = await selection(h, ACME)
    change = {"search": search, "unsubscribed": True, "properties": {"plan": "gone"}}
    _, job = await confirmed(h, change)
    preview, outcome, _ = await undo(h, job)
    # The 11 the job unsubscribed stay so; every plan is put back.
    assert (preview["to_change"], preview["refused"]) == (15, 11)
    assert any("unless told that none of them unsubscribed" in n for n in preview["notes"])
    assert (outcome["done"], outcome["refused"], outcome["changed_since"]) == (15, 11, 0)
    now = await everything(h)
    for email, was in before.items():
        if email.endswith("@acme.com"):
            assert now[email] == {**was, "unsubscribed": True}, email
        else:
            assert now[email] == was
    reasons = {row["reason"] for row in read_csv(Path(outcome["failures_file"]))}
    assert reasons == {"stays unsubscribed (an undo never opts anyone back in)"}
    assert any("If none did, undo again with resubscribe=true" in n for n in outcome["notes"])
    # On the person's word that none of them unsubscribed since, those come back too.
    await h.call("search_contacts", {"where": [], "refresh": "full", "count_only": True})
    token = (await h.call("update_contacts", {"undo": job, "resubscribe": True}))["preview"]
    assert (token["to_change"], token["refused"]) == (11, 0)
    assert any("resubscribe=true: the unsubscribes" in n for n in token["notes"])
    confirmed_again = {"undo": job, "resubscribe": True, "confirm": token["confirm"]}
    # The confirmation binds resubscribe: without it, it is refused.
    assert "a different change" in await h.error(
        "update_contacts", {"undo": job, "confirm": token["confirm"]}
    )
    run = (await h.call("update_contacts", confirmed_again))["run"]
    assert (await finish(h, run))["done"] == 11
    assert await everything(h) == before


async def test_a_delete_is_undone_from_its_snapshot_topics_included(h: Harness) -> None:
    await with_topics(h)
    before = await everything(h)
    search = await selection(h, ACME)
    preview = (await h.call("delete_contacts", {"search": search}))["preview"]
    answer = await h.call("delete_contacts", {"search": search, "confirm": preview["confirm"]})
    await finish(h, answer["run"])
    job = str(answer["run"]["job_id"])
    assert await h.count_contacts() == 5
    # In between, user3's address is created again elsewhere: that contact is left alone.
    await h.seed("POST", "/contacts", {"email": "user3@acme.com", "first_name": "New"})
    await h.call("search_contacts", {"where": [], "refresh": "full", "count_only": True})

    preview, outcome, restored = await undo(h, job)
    assert (preview["count"], preview["to_change"], preview["changed_since"]) == (15, 14, 1)
    assert preview["changed_since_sample"] == ["user3@acme.com: exists again at Resend"]
    assert preview["sample"][0]["before"] == {"exists": False}
    assert any("new id and creation date" in note for note in preview["notes"])
    assert (outcome["done"], outcome["changed_since"], outcome["failed"]) == (14, 1, 0)
    now = await everything(h)
    assert now.keys() == before.keys()
    for email, was in before.items():
        if email == "user3@acme.com":
            assert now[email]["first_name"] == "New"
        else:
            assert now[email] == was, email
    assert now["user2@acme.com"]["topics"]["News"] == "opt_out"
    # Searches see them at once.
    found = await h.call("search_contacts", {"where": ACME, "count_only": True})
    assert found["count"] == 15
    # Undone once: a second undo finds nothing left to restore.
    error = await h.error("update_contacts", {"undo": job})
    assert "Nothing to undo" in error
    assert "15 deleted by it exist again" in error

    # The restore is undone in turn: the contacts it created are deleted again (after a
    # snapshot), but one changed since, which is left alone.
    await h.seed("PATCH", "/contacts/user7@acme.com", {"first_name": "Changed"})
    await h.call("search_contacts", {"where": [], "refresh": "full", "count_only": True})
    preview, outcome, again = await undo(h, restored)
    assert (preview["to_change"], preview["changed_since"]) == (13, 1)
    assert preview["changed_since_sample"] == [
        "user7@acme.com: first_name changed since the run (now Changed)"
    ]
    assert preview["sample"][0]["after"] == {"exists": False}
    assert (outcome["done"], outcome["changed_since"], outcome["failed"]) == (13, 1, 0)
    left = {c["email"] for c in await h.all_contacts()}
    assert left == {f"keep{i}@example.org" for i in range(5)} | {
        "user3@acme.com",
        "user7@acme.com",
    }
    # And that undo too: the 13 come back once more, from the undo's own snapshot.
    _, outcome, _ = await undo(h, again)
    assert outcome["done"] == 13
    assert len(await h.all_contacts()) == 20


async def test_what_cannot_be_undone_is_refused_and_changes_nothing(h: Harness) -> None:
    await account(h, acme=12, others=0)
    assert "No job 'job_nope'" in await h.error("update_contacts", {"undo": "job_nope"})
    search = await selection(h, ACME)
    _, job = await confirmed(h, {"search": search, "add_segments": ["VIP"]})
    mixed = {"undo": job, "unsubscribed": True}
    assert "undo takes only a job id" in await h.error("update_contacts", mixed)
    exported = await h.call("export_contacts", {"search": search})
    error = await h.error("update_contacts", {"undo": exported["job_id"]})
    assert "is an export: undo takes the id of an update_contacts" in error
    preview = (await h.call("update_contacts", {"undo": job}))["preview"]
    token = preview["confirm"]
    run = (await h.call("update_contacts", {"undo": job, "confirm": token}))["run"]
    await finish(h, run)
    members = await h.seed("GET", "/segments")
    assert "Nothing to undo" in await h.error("update_contacts", {"undo": job})
    # The confirmation of a run that ended is refused, and nothing is written again.
    await h.seed("POST", "/contacts/user1@acme.com/segments/" + members["data"][0]["id"])
    await h.call("search_contacts", {"where": [], "refresh": "full", "count_only": True})
    used = await h.error("update_contacts", {"undo": job, "confirm": token})
    assert "That confirmation was already used" in used
    assert (await h.seed("GET", "/contacts/user1@acme.com/segments"))["data"]
    # A damaged record of what the job changed is named, and nothing is changed.
    nonce = h.server.live_state().jobs.find(job).arguments["nonce"]
    [journal] = h.server.live_state().snapshots.glob(f"updated-*-{nonce}-before.csv")
    with journal.open("a", encoding="utf-8", newline="") as damaged:
        damaged.write("user2@acme.com,id-2,not json,{}\r\n")
    damage = await h.error("update_contacts", {"undo": job})
    assert f"Line 10 of {journal.name} is damaged (its before or after is not JSON)" in damage
    assert "Remove that line to undo the rest" in damage
    # An import that changed nothing (a dry run), or whose changes to existing contacts
    # Resend does not report (its Contact Imports API), has nothing to undo.
    rows: dict[str, Any] = {"csv_text": "email,plan\nuser1@acme.com,x\n", "dry_run": True}
    rows |= {"columns": {"email": "email"}, "on_conflict": "upsert"}
    dry = await h.call("import_contacts", rows)
    error = await h.error("update_contacts", {"undo": dry["job_id"]})
    assert "was a dry run: it changed nothing" in error
    api = {**rows, "dry_run": False, "strategy": "api"}
    imported = await h.call("import_contacts", api)
    await finish(h, imported)
    error = await h.error("update_contacts", {"undo": imported["job_id"]})
    assert "Nothing to undo: what job" in error
    assert "of the 1 existing contact it updated through Resend's Contact Imports API" in error


async def test_an_import_upsert_is_undone_but_what_changed_since(h: Harness) -> None:
    await with_topics(h)
    news = next(t for t in (await h.seed("GET", "/topics"))["data"] if t["name"] == "News")
    choice = [{"id": news["id"], "subscription": "opt_out"}]
    await h.seed("PATCH", "/contacts/user3@acme.com/topics", choice)
    before = await everything(h)
    # Three existing contacts change (names, values, a segment and a topic opt-out);
    # user3 is already as the file says (Offers is opt-out by default); two are new.
    lines = [
        "email,first_name,plan,seats",
        "user0@acme.com,Ada,pro,0",
        'user1@acme.com,=HYPERLINK("http://x"),team,1',
        "user2@acme.com,Grace,pro,2",
        f"user3@acme.com,{before['user3@acme.com']['first_name']},"
        f"{before['user3@acme.com']['properties']['plan']},3",
        "new1@example.net,Linus,free,1",
        "new2@example.net,Ken,free,2",
    ]
    arguments = {
        "csv_text": "\n".join(lines) + "\n",
        "columns": {"email": "email", "first_name": "first_name", "plan": "plan", "seats": "seats"},
        "on_conflict": "upsert",
        "segments": ["VIP"],
        "topics": {"Offers": "opt_out", "News": "opt_out"},
    }
    imported = await h.call("import_contacts", arguments)
    summary = await finish(h, imported)
    job = str(imported["job_id"])
    assert summary["strategy"] == "rows"  # auto: an upsert runs row by row
    assert (summary["created"], summary["updated"], summary["skipped"]) == (2, 3, 1)
    assert any(f"update_contacts(undo='{job}')" in note for note in summary["notes"])
    after_import = await everything(h)
    assert after_import["user0@acme.com"]["first_name"] == "Ada"
    assert "VIP" in after_import["user1@acme.com"]["segments"]
    # In between, elsewhere: user1's plan changes again; user2 unsubscribes; new2's name
    # is corrected.
    await h.seed("PATCH", "/contacts/user1@acme.com", {"properties": {"plan": "enterprise"}})
    await h.seed("PATCH", "/contacts/user2@acme.com", {"unsubscribed": True})
    await h.seed("PATCH", "/contacts/new2@example.net", {"first_name": "Kenneth"})
    await h.call("search_contacts", {"where": [], "refresh": "full", "count_only": True})

    preview, outcome, _ = await undo(h, job)
    assert preview["change"] == f"undo job {job} (an import: 2 created, 3 updated)"
    # The mirror holds no property values (list pages carry none): user1's new plan is
    # found by the run, which reads each contact afresh.
    assert (preview["count"], preview["to_change"], preview["changed_since"]) == (5, 4, 1)
    assert preview["changed_since_sample"] == [
        "new2@example.net: first_name changed since the run (now Kenneth)"
    ]
    assert any("the job created are deleted again" in n for n in preview["notes"])
    by_email = {s["email"]: s for s in preview["sample"]}
    assert by_email["new1@example.net"]["after"] == {"exists": False}
    assert (
        by_email["user0@acme.com"]["after"]["first_name"] == before["user0@acme.com"]["first_name"]
    )
    assert (outcome["done"], outcome["changed_since"], outcome["failed"]) == (3, 2, 0)
    assert sorted(outcome["changed_since_sample"]) == [
        "new2@example.net: first_name changed since the run (now Kenneth)",
        "user1@acme.com: plan changed since the run (now enterprise)",
    ]
    now = await everything(h)
    assert set(now) == set(before) | {"new2@example.net"}
    assert now["new2@example.net"] == after_import["new2@example.net"] | {"first_name": "Kenneth"}
    for email, was in before.items():
        if email == "user1@acme.com":
            changed = after_import[email]["properties"] | {"plan": "enterprise"}
            assert now[email] == after_import[email] | {"properties": changed}
        elif email == "user2@acme.com":
            assert now[email] == was | {"unsubscribed": True}  # the rest put back
        elif email == "user0@acme.com":  # never opted back in without the person's word
            assert now[email] == was | {"topics": was["topics"] | {"News": "opt_out"}}
        else:
            assert now[email] == was, email
    assert outcome["refused"] == 1
    # What it deleted was snapshotted first, and the mirror saw it at once.
    assert outcome["snapshot_file"]
    assert {r["email"] for r in read_csv(Path(outcome["snapshot_file"]))} == {"new1@example.net"}
    found = await h.call("search_contacts", {"where": [], "count_only": True})
    assert found["count"] == len(before) + 1
    # On the person's word that user0 did not opt out themselves, that comes back too.
    token = (await h.call("update_contacts", {"undo": job, "resubscribe": True}))["preview"]
    assert (token["to_change"], token["refused"]) == (1, 0)
    answer = {"undo": job, "resubscribe": True, "confirm": token["confirm"]}
    await finish(h, (await h.call("update_contacts", answer))["run"])
    assert (await everything(h))["user0@acme.com"] == before["user0@acme.com"]


async def test_an_import_through_the_imports_api_is_undone_for_what_it_created(
    h: Harness,
) -> None:
    await account(h, acme=4, others=0)
    before = await everything(h)
    lines = ["email,first_name", "user1@acme.com,Changed", "new1@example.net,Linus"]
    lines += ["new2@example.net,Ken", "new3@example.net,"]
    arguments = {
        "csv_text": "\n".join(lines) + "\n",
        "columns": {"email": "email", "first_name": "first_name"},
        "on_conflict": "upsert",
        "strategy": "api",
    }
    imported = await h.call("import_contacts", arguments)
    summary = await finish(h, imported)
    job = str(imported["job_id"])
    assert (summary["strategy"], summary["created"], summary["updated"]) == ("api", 3, 1)
    assert any("only what it created" in note for note in summary["notes"])
    await h.seed("PATCH", "/contacts/new3@example.net", {"unsubscribed": True})
    await h.call("search_contacts", {"where": [], "refresh": "full", "count_only": True})
    preview, outcome, _ = await undo(h, job)
    assert (preview["count"], preview["to_change"], preview["changed_since"]) == (3, 2, 1)
    assert preview["changed_since_sample"] == [
        "new3@example.net: unsubscribed changed since the run (now true)"
    ]
    assert any("of the 1 existing contact it updated through" in n for n in preview["notes"])
    assert (outcome["done"], outcome["changed_since"]) == (2, 1)
    now = await everything(h)
    assert set(now) == set(before) | {"new3@example.net"}
    # What the API's upsert did to user1 is not known, so it is not put back.
    assert now["user1@acme.com"]["first_name"] == "Changed"


@pytest.mark.parametrize(
    ("answer", "changed"),
    [(ElicitResult(action="accept", content={"approve": True}), True),
     (ElicitResult(action="decline"), False)],
)  # fmt: skip
async def test_where_the_client_can_ask_the_person_decides(
    era: str, tmp_path: Path, answer: ElicitResult, changed: bool
) -> None:
    asked: list[str] = []
    yes = ElicitResult(action="accept", content={"approve": True})

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return answer if params.message.startswith("Undo") else yes

    async for h in open_harness(era, None, settings(tmp_path), elicitation_callback=person):
        await account(h, acme=12, others=0)
        search = await selection(h, ACME)
        change = {"search": search, "properties": {"plan": "pro"}}
        token = (await h.call("update_contacts", change))["preview"]["confirm"]
        run = (await h.call("update_contacts", {**change, "confirm": token}))["run"]
        job = (await finish(h, run)) and str(run["job_id"])
        asked.clear()
        token = (await h.call("update_contacts", {"undo": job}))["preview"]["confirm"]
        result = await h.client.call_tool("update_contacts", {"undo": job, "confirm": token})
        assert asked == [f"Undo job {job}: put back 12 contacts. Approve?"]
        assert result.is_error is not changed
        plans = {(await h.seed("GET", f"/contacts/user{i}@acme.com"))["properties"]["plan"]["value"]
                 for i in range(12)}  # fmt: skip
        assert (plans != {"pro"}) is changed
