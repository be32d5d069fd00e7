"""update_contacts: one change to many contacts, previewed and confirmed by the server
(past 10 contacts), planned per contact from the mirror, with the consent guard applied
contact by contact. Both protocol eras."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from contacts_mcp.backends import LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.services import bulk
from tests.server.conftest import Harness, open_harness
from tests.server.test_bulk import ACME, account, read_csv, selection, settings, state_of

pytestmark = pytest.mark.anyio

# Contacts in the faults test (kept small: every 429 pauses all requests for a second).
FAULTY_SET = 60
CHANGE = {"add_segments": ["VIP"], "unsubscribed": True, "properties": {"plan": "pro"}}


@pytest.fixture
async def h(era: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in open_harness(era, None, settings(tmp_path)):
        yield harness


async def states(h: Harness) -> dict[str, dict[str, Any]]:
    return {c["email"]: await state_of(h, c["id"]) for c in await h.all_contacts()}


async def finish(h: Harness, run: dict[str, Any]) -> dict[str, Any]:
    while run["status"] == "working":
        run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
    assert run["status"] == "completed", run
    result: dict[str, Any] = run["result"]
    return result


async def test_a_change_previews_then_does_exactly_what_it_showed(h: Harness) -> None:
    await account(h)  # 15 at acme.com: every 3rd in VIP, every 4th unsubscribed
    before = await states(h)
    search = await selection(h, ACME)
    preview = (await h.call("update_contacts", {"search": search, **CHANGE}))["preview"]
    assert await states(h) == before  # a preview writes nothing
    assert (preview["count"], preview["to_change"], preview["already"]) == (15, 15, 0)
    assert preview["refused"] == 0
    assert preview["change"] == "unsubscribe, set plan = 'pro', add to 'VIP'"
    # Per contact: 1 read (its values and unsubscribe, as they were before, for the
    # journal an undo reads) and 1 PATCH, plus 1 POST for each of the 10 not yet in VIP,
    # and 1 page of VIP's members re-checked at run time.
    assert preview["requests"] == 15 + 15 + 10 + 1
    first = preview["sample"][0]
    assert first["email"] == "user14@acme.com"
    assert first["before"] == {"unsubscribed": False, "segments": []}
    assert first["after"] == {"unsubscribed": True, "plan": "pro", "segments": ["VIP"]}
    rechecked = "segment 'VIP''s members, each contact's property values are re-checked"
    assert any(rechecked in n for n in preview["notes"])
    assert any("undo=<its job id> puts back" in n for n in preview["notes"])

    confirmed = {"search": search, **CHANGE, "confirm": preview["confirm"]}
    outcome = await finish(h, (await h.call("update_contacts", confirmed))["run"])
    assert (outcome["done"], outcome["unchanged"], outcome["failed"]) == (15, 0, 0)
    assert outcome["requests"] == preview["requests"]
    after = await states(h)
    for email, state in after.items():
        if email.endswith("@acme.com"):
            assert state["unsubscribed"] is True
            assert state["properties"]["plan"]["value"] == "pro"
            assert state["segments"] == ["VIP"]
        else:
            assert state == before[email]
    # The mirror saw it at once: the search needs no refresh.
    vip = [{"field": "segment", "op": "in", "value": "VIP"}]
    found = await h.call("search_contacts", {"where": vip, "count_only": True})
    assert found["count"] == 15

    # Replayed after the run: nothing is left to change, and nothing is written.
    again = {"search": search, **CHANGE, "confirm": preview["confirm"]}
    assert "Nothing to change: all 15 contacts" in await h.error("update_contacts", again)
    # One changed back elsewhere needs the change again, but the confirmation was used:
    # refused, and nothing is written.
    await h.seed("PATCH", "/contacts/user14@acme.com", {"unsubscribed": False})
    await h.call("search_contacts", {"where": [], "refresh": "full", "count_only": True})
    assert "That confirmation was already used" in await h.error("update_contacts", again)
    assert (await states(h))["user14@acme.com"]["unsubscribed"] is False


async def test_contacts_already_as_asked_cost_no_request(h: Harness) -> None:
    await account(h)
    search = await selection(h, ACME)
    preview = (await h.call("update_contacts", {"search": search, "add_segments": ["vip"]}))[
        "preview"
    ]
    # 1 request re-checks VIP's members at run time; the 5 members then cost none.
    assert (preview["to_change"], preview["already"], preview["requests"]) == (10, 5, 11)
    confirmed = {"search": search, "add_segments": ["vip"], "confirm": preview["confirm"]}
    outcome = await finish(h, (await h.call("update_contacts", confirmed))["run"])
    assert (outcome["done"], outcome["unchanged"], outcome["requests"]) == (10, 5, 11)


async def test_a_few_contacts_change_at_once_with_the_consent_guard_per_contact(
    h: Harness,
) -> None:
    await account(h, acme=6, others=1)  # user0 and user4 unsubscribed
    named = [f"user{i}@acme.com" for i in range(6)]
    noop = await h.error("update_contacts", {"contacts": named, "unsubscribed": False})
    assert "4 of the 6 contacts are already as asked, and 2 are held back" in noop
    assert "resubscribe=true" in noop
    change = {"contacts": named, "unsubscribed": False, "properties": {"plan": "basic"}}
    outcome = await finish(h, (await h.call("update_contacts", change))["run"])
    # ≤ 10 contacts: run at once, no preview needed; the guard holds back the whole
    # contact (its plan is not changed either).
    assert (outcome["done"], outcome["unchanged"], outcome["refused"]) == (4, 0, 2)
    rows = read_csv(Path(outcome["failures_file"]))
    assert sorted(row["email"] for row in rows) == ["user0@acme.com", "user4@acme.com"]
    assert all("resubscribe=true" in row["reason"] for row in rows)
    states_now = await states(h)
    assert states_now["user0@acme.com"]["unsubscribed"] is True  # held back
    assert states_now["user0@acme.com"]["properties"]["plan"]["value"] != "basic"
    assert states_now["user1@acme.com"]["properties"]["plan"]["value"] == "basic"
    # When the people asked: they are opted back in.
    back = await h.call(
        "update_contacts",
        {"contacts": ["user0@acme.com", "user4@acme.com"], "unsubscribed": False,
         "resubscribe": True},
    )  # fmt: skip
    assert (await finish(h, back["run"]))["done"] == 2
    assert (await states(h))["user4@acme.com"]["unsubscribed"] is False


async def test_topic_opt_ins_are_held_back_for_those_who_opted_out(h: Harness) -> None:
    await account(h, acme=4, others=0)
    news = await h.seed("POST", "/topics", {"name": "News", "default_subscription": "opt_in"})
    contacts = await h.all_contacts()
    out = next(c for c in contacts if c["email"] == "user1@acme.com")
    choice = [{"id": news["id"], "subscription": "opt_out"}]
    await h.seed("PATCH", f"/contacts/{out['id']}/topics", choice)
    named = [c["email"] for c in contacts]
    opt_in = await h.call("update_contacts", {"contacts": named, "topics": {"news": "opt_in"}})
    outcome = await finish(h, opt_in["run"])
    # Three are opted in by the topic's default already; user1 chose to opt out.
    assert (outcome["done"], outcome["unchanged"], outcome["refused"]) == (0, 3, 1)
    reason = read_csv(Path(outcome["failures_file"]))[0]["reason"]
    assert reason.startswith("refused: opted out of topic 'News'")
    opt_out = await h.call("update_contacts", {"contacts": named, "topics": {"News": "opt_out"}})
    # Each contact's choices are read first: user1 is already opted out.
    ended = await finish(h, opt_out["run"])
    assert (ended["done"], ended["unchanged"]) == (3, 1)
    for contact in contacts:
        topics = await h.seed("GET", f"/contacts/{contact['id']}/topics")
        assert [t["subscription"] for t in topics["data"]] == ["opt_out"]


async def test_bad_changes_are_refused_and_write_nothing(h: Harness) -> None:
    await account(h, acme=12, others=2)
    before = await states(h)
    search = await selection(h, ACME)
    assert "Nothing to change. Give" in await h.error("update_contacts", {"search": search})
    assert "exactly one of `contacts`" in await h.error("update_contacts", {"unsubscribed": True})
    assert "No segment" in await h.error(
        "update_contacts", {"search": search, "add_segments": ["Nope"]}
    )
    assert "No topic" in await h.error(
        "update_contacts", {"search": search, "topics": {"Nope": "opt_in"}}
    )
    assert "Unknown contact property" in await h.error(
        "update_contacts", {"search": search, "properties": {"nope": 1}}
    )
    assert "in both add_segments and remove_segments" in await h.error(
        "update_contacts", {"search": search, "add_segments": ["VIP"], "remove_segments": ["vip"]}
    )
    assert "The selection is empty" in await h.error(
        "update_contacts", {"contacts": [" "], "unsubscribed": True}
    )
    assert "No contacts to update" in await h.error(
        "update_contacts", {"contacts": ["ghost@nowhere.io"], "unsubscribed": True}
    )
    too_many = [f"u{i}@example.com" for i in range(10_001)]
    message = await h.error("update_contacts", {"contacts": too_many, "unsubscribed": True})
    assert "at most 10000" in message
    # A no-op for everyone: neither of the others is in VIP.
    keep = [{"field": "domain", "op": "eq", "value": "example.org"}]
    nobody = await h.error(
        "update_contacts", {"search": await selection(h, keep), "remove_segments": ["VIP"]}
    )
    assert "Nothing to change: all 2 contacts are already as asked" in nobody
    preview = (await h.call("update_contacts", {"search": search, "unsubscribed": True}))["preview"]
    other_change = {"search": search, "add_segments": ["VIP"], "confirm": preview["confirm"]}
    assert "for a different change" in await h.error("update_contacts", other_change)
    forged = {"search": search, "unsubscribed": True, "confirm": preview["confirm"][:-3] + "xyz"}
    assert "not one this server issued" in await h.error("update_contacts", forged)
    other_action = {"search": search, "confirm": preview["confirm"]}
    assert "not one this server issued for this action" in await h.error(
        "delete_contacts", other_action
    )
    await h.call("create_contact", {"email": "late@acme.com"})
    late = {"search": search, "unsubscribed": True, "confirm": preview["confirm"]}
    assert "(12 contacts then, 13 now)" in await h.error("update_contacts", late)
    after = await states(h)
    del after["late@acme.com"]
    assert after == before


async def test_an_expired_confirmation_is_refused(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await account(h, acme=12, others=0)
    before = await states(h)
    search = await selection(h, ACME)
    monkeypatch.setattr(bulk, "CONFIRM_SECONDS", -1)  # issued already expired
    token = (await h.call("update_contacts", {"search": search, "unsubscribed": True}))["preview"][
        "confirm"
    ]
    monkeypatch.undo()
    message = await h.error(
        "update_contacts", {"search": search, "unsubscribed": True, "confirm": token}
    )
    assert "expired" in message
    assert await states(h) == before


async def test_a_confirmation_is_used_once(h: Harness) -> None:
    await account(h, acme=12, others=0)
    news = await h.seed("POST", "/topics", {"name": "News", "default_subscription": "opt_in"})
    search = await selection(h, ACME)
    # Topics are always written (the mirror does not know them): a replay would write.
    change = {"search": search, "topics": {news["id"]: "opt_out"}}
    token = (await h.call("update_contacts", change))["preview"]["confirm"]
    await finish(h, (await h.call("update_contacts", {**change, "confirm": token}))["run"])
    assert "already used" in await h.error("update_contacts", {**change, "confirm": token})


@pytest.mark.parametrize(
    ("answer", "changed"),
    [(ElicitResult(action="accept", content={"approve": True}), True),
     (ElicitResult(action="accept", content={"approve": False}), False),
     (ElicitResult(action="decline"), False),
     (None, True)],  # the client cannot be asked: the confirmation alone decides
)  # fmt: skip
async def test_where_the_client_can_ask_the_person_decides(
    era: str, tmp_path: Path, answer: ElicitResult | None, changed: bool
) -> None:
    asked: list[str] = []

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        assert answer is not None
        return answer

    callback = None if answer is None else person
    async for h in open_harness(era, None, settings(tmp_path), elicitation_callback=callback):
        await account(h, acme=12, others=0)
        search = await selection(h, ACME)
        change = {"search": search, "add_segments": ["VIP"]}
        token = (await h.call("update_contacts", change))["preview"]["confirm"]
        assert asked == []
        result = await h.client.call_tool("update_contacts", {**change, "confirm": token})
        assert asked == ([] if answer is None else ["Update 12 contacts: add to 'VIP'. Approve?"])
        members = await h.seed("GET", "/segments")
        vip = members["data"][0]["id"]
        count = len((await h.seed("GET", f"/segments/{vip}/contacts?limit=100"))["data"])
        if changed:
            assert not result.is_error, result.content
            assert count == 12
        else:
            assert result.is_error
            text = result.content[0]
            assert text.type == "text"
            assert "nothing was changed" in text.text
            assert count == 4


async def test_a_change_under_injected_faults_ends_with_every_contact_as_asked(
    tmp_path: Path,
) -> None:
    """20 % faults in all (429, 500, 503, and writes applied whose answer is lost)."""
    era = "auto"
    db = str(tmp_path / "account.db")
    async for h in open_harness(era, EmulatorOptions(db_path=db), settings(tmp_path)):
        await h.seed("POST", "/segments", {"name": "VIP"})
        await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
        await h.seed_contacts([f"u{i}@acme.com" for i in range(FAULTY_SET)])
        await h.seed_contacts([f"keep{i}@example.org" for i in range(5)])
    faults = EmulatorOptions(
        db_path=db, fault_429=0.05, fault_500=0.05, fault_503=0.05, drop_after_write=0.05, seed=5
    )
    async for h in open_harness(era, faults, settings(tmp_path)):
        search = await selection(h, ACME)
        token = (await h.call("update_contacts", {"search": search, **CHANGE}))["preview"][
            "confirm"
        ]
        run = await h.call("update_contacts", {"search": search, **CHANGE, "confirm": token})
        outcome = await finish(h, run["run"])
        assert (outcome["done"], outcome["failed"]) == (FAULTY_SET, 0), outcome
        assert outcome["requests"] > 2 * FAULTY_SET  # the faults were met, and overcome
    async for h in open_harness(era, EmulatorOptions(db_path=db), settings(tmp_path)):
        wrong = [
            email
            for email, state in (await states(h)).items()
            if email.endswith("@acme.com")
            and (state["unsubscribed"], state["properties"], state["segments"])
            != (True, {"plan": {"type": "string", "value": "pro"}}, ["VIP"])
        ]
        assert wrong == []


async def test_a_cancelled_change_keeps_what_it_finished_and_a_new_preview_covers_the_rest(
    era: str, tmp_path: Path
) -> None:
    # 80 contacts at 0.2 s a request, 8 at a time: at least 2 s of work; the call
    # returns after 0.3 s and the job is cancelled at once.
    slow = EmulatorOptions(latency=0.2)
    async for h in open_harness(era, slow, settings(tmp_path), wait_seconds=0.3):
        await h.seed("POST", "/segments", {"name": "VIP"})
        await h.seed_contacts([f"u{i}@acme.com" for i in range(80)])
        # Filled whole (memberships too, as the change will need them).
        first = {"where": ACME, "count_only": True, "refresh": "full"}
        found = await h.client.call_tool("search_contacts", first)
        while found.is_error:  # the first fill outlasts a 0.3 s call: wait on its job
            sync = (await h.call("get_job", {}))["recent"][0]
            await h.call("get_job", {"job_id": sync["job_id"], "wait_seconds": 50})
            found = await h.client.call_tool("search_contacts", {"where": ACME, "count_only": True})
        assert found.structured_content is not None
        search = found.structured_content["selection"]
        change = {"search": search, "add_segments": ["VIP"]}
        token = (await h.call("update_contacts", change))["preview"]["confirm"]
        handle = (await h.call("update_contacts", {**change, "confirm": token}))["run"]
        assert handle["status"] == "working"
        stopped = (await h.call("get_job", {"job_id": handle["job_id"], "cancel": True}))["job"]
        assert stopped["status"] == "cancelled"
        segment = (await h.seed("GET", "/segments"))["data"][0]["id"]
        members = await h.seed("GET", f"/segments/{segment}/contacts?limit=100")
        added = len(members["data"])
        assert added < 80
        # The mirror saw each one done: a new preview plans exactly the rest.
        again = (await h.call("update_contacts", change))["preview"]
        assert (again["to_change"], again["already"]) == (80 - added, added)
        assert "already used" in await h.error("update_contacts", {**change, "confirm": token})


async def test_a_preview_on_a_stale_mirror_sees_changes_made_elsewhere(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await account(h)  # user0, 3, 6, 9 and 12 in VIP
    # The mirror is filled now, memberships included.
    await h.call("search_contacts", {"where": [], "count_only": True, "refresh": "full"})
    search = await selection(h, ACME)
    vip = (await h.seed("GET", "/segments"))["data"][0]["id"]
    contacts = {c["email"]: c["id"] for c in await h.all_contacts()}
    await h.seed("POST", f"/contacts/{contacts['user1@acme.com']}/segments/{vip}")  # elsewhere
    fresh = await h.call("update_contacts", {"search": search, "add_segments": ["VIP"]})
    assert fresh["preview"]["already"] == 5  # within 15 minutes: the mirror as it is
    monkeypatch.setattr(bulk, "FRESH_SECONDS", -1)  # every sync is now too old
    stale = await h.call("update_contacts", {"search": search, "add_segments": ["VIP"]})
    assert stale["preview"]["already"] == 6  # synced again first
    await h.seed("DELETE", f"/contacts/{contacts['user3@acme.com']}/segments/{vip}")
    named = [f"user{i}@acme.com" for i in range(5)]
    few = await h.call("update_contacts", {"contacts": named, "remove_segments": ["VIP"]})
    outcome = await finish(h, few["run"])  # VIP re-checked at run time: user3 left already
    # VIP's page, the account's page (the 3 absent from VIP still exist), the 2 removals.
    assert (outcome["done"], outcome["unchanged"], outcome["requests"]) == (2, 3, 1 + 1 + 2)


async def test_nobody_is_asked_about_an_expired_confirmation(
    era: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": True})

    async for h in open_harness(era, None, settings(tmp_path), elicitation_callback=person):
        await account(h, acme=12, others=0)
        search = await selection(h, ACME)
        monkeypatch.setattr(bulk, "CONFIRM_SECONDS", -1)
        token = (await h.call("update_contacts", {"search": search, "unsubscribed": True}))[
            "preview"
        ]["confirm"]
        monkeypatch.undo()
        confirmed = {"search": search, "unsubscribed": True, "confirm": token}
        assert "expired" in await h.error("update_contacts", confirmed)
        assert asked == []


class AnswersNamingNothing(LocalTransport):
    """The emulator, but every segment join is answered `200 {}` (a shape Resend never
    uses): applied when `applied`, else never sent on."""

    def __init__(self, applied: bool) -> None:
        super().__init__()
        self.applied = applied

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if request.method == "POST" and len(parts) == 4 and parts[2] == "segments":
            if self.applied:
                await super().handle_async_request(request)
            return httpx.Response(200, json={})
        return await super().handle_async_request(request)


@pytest.mark.parametrize("applied", [True, False])
async def test_a_write_answered_unreadably_counts_only_as_what_a_re_read_shows(
    era: str, tmp_path: Path, applied: bool
) -> None:
    transport = AnswersNamingNothing(applied)
    async for h in open_harness(era, None, settings(tmp_path), transport=transport):
        await account(h)  # 15 at acme.com, 5 of them in VIP already
        search = await selection(h, ACME)
        change = {"search": search, "add_segments": ["VIP"]}
        preview = (await h.call("update_contacts", change))["preview"]
        assert preview["to_change"] == 10
        confirmed = {**change, "confirm": preview["confirm"]}
        outcome = await finish(h, (await h.call("update_contacts", confirmed))["run"])
        members = [s for s in (await states(h)).values() if s["segments"] == ["VIP"]]
        if applied:  # the re-read shows each join: done, though no answer said so
            assert (outcome["done"], outcome["failed"]) == (10, 0)
            assert len(members) == 15
        else:  # never reported done: failed, with the reason in the file
            assert (outcome["done"], outcome["failed"]) == (0, 10)
            assert len(members) == 5
            reasons = {row["reason"] for row in read_csv(Path(outcome["failures_file"]))}
            assert len(reasons) == 1
            assert "POST /contacts/{id}/segments/{id}" in reasons.pop()
