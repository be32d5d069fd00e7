"""update_contacts(contacts=[…], merge=…): a group of duplicates merged into one, previewed
and confirmed like any set operation, and undone, through the MCP client in both eras."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from tests.server.conftest import Harness, open_harness
from tests.server.test_bulk import read_csv, settings
from tests.server.test_undo import everything, finish, undo

pytestmark = pytest.mark.anyio

ADA = ["ada@gmail.com", "a.da+news@googlemail.com", "ada@gmial.com"]


@pytest.fixture
async def h(era: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in open_harness(era, None, settings(tmp_path)):
        yield harness


PROPERTIES = (("plan", "string"), ("seats", "number"), ("company", "string"))
OTHER = "grace@example.com"


def people(vip: str, beta: str, news: str) -> list[dict[str, Any]]:
    """`POST /contacts` bodies, oldest first: Ada three times, with what a merge gives the
    kept one (a value it lacks on each, another segment, a topic opt-out, an unsubscribe)
    and a conflict (plan), then Grace (by the ids of segments VIP and Beta and topic
    News)."""
    first = {"email": ADA[0], "first_name": "Ada", "properties": {"plan": "pro"},
             "segments": [{"id": vip}],
             "topics": [{"id": news, "subscription": "opt_in"}]}  # fmt: skip
    second = {"email": ADA[1], "properties": {"plan": "free", "seats": 3},
              "segments": [{"id": beta}],
              "topics": [{"id": news, "subscription": "opt_out"}]}  # fmt: skip
    third = {"email": ADA[2], "last_name": "Lovelace", "unsubscribed": True,
             "properties": {"company": "Acme"}}  # fmt: skip
    return [first, second, third, {"email": OTHER, "properties": {"seats": 9}}]


async def three_adas(h: Harness) -> None:
    """One person three times (the oldest first), and someone else."""
    vip = await h.seed("POST", "/segments", {"name": "VIP"})
    beta = await h.seed("POST", "/segments", {"name": "Beta"})
    for key, kind in PROPERTIES:
        await h.seed("POST", "/contact-properties", {"key": key, "type": kind})
    news = await h.seed("POST", "/topics", {"name": "News", "default_subscription": "opt_in"})
    await h.seed("POST", "/topics", {"name": "Offers", "default_subscription": "opt_out"})
    for body in people(vip["id"], beta["id"], news["id"]):
        await h.seed("POST", "/contacts", body)


async def test_a_merge_gives_the_kept_contact_everything_and_is_undone(h: Harness) -> None:
    await three_adas(h)
    before = await everything(h)
    found = await h.call("search_contacts", {"where": [], "duplicates": True})
    [group] = found["duplicates"]
    emails = [contact["email"] for contact in group["contacts"]]
    assert sorted(emails) == sorted(ADA)

    arguments = {"contacts": emails, "merge": "auto"}
    preview = (await h.call("update_contacts", arguments))["preview"]
    assert preview["change"] == (
        "merge 3 contacts into ada@gmail.com (copy company, seats, add to 'Beta', opt out "
        "of 'News', unsubscribe), then delete a.da+news@googlemail.com, ada@gmial.com"
    )
    kept = preview["sample"][0]
    assert kept["email"] == "ada@gmail.com"
    assert kept["before"] == {"unsubscribed": False, "seats": None, "company": None,
                              "in Beta": False, "topic News": "opt_in"}  # fmt: skip
    assert kept["after"] == {"unsubscribed": True, "seats": 3, "company": "Acme",
                             "in Beta": True, "topic News": "opt_out"}  # fmt: skip
    assert [s["after"] for s in preview["sample"][1:]] == [{"deleted": True}] * 2
    notes = " ".join(preview["notes"])
    assert "plan: keeps 'pro' (a.da+news@googlemail.com has 'free')" in notes
    assert "Opt-outs always win" in notes
    assert await everything(h) == before  # a preview writes nothing

    answer = await h.call("update_contacts", {**arguments, "confirm": preview["confirm"]})
    outcome = await finish(h, answer["run"])
    assert (outcome["action"], outcome["done"], outcome["failed"]) == ("merge", 2, 0)
    assert outcome["requests"] == preview["requests"]  # the reads again, and the writes
    merged = await everything(h)
    assert sorted(merged) == ["ada@gmail.com", OTHER]
    assert merged["ada@gmail.com"] == {
        "first_name": "Ada",
        "last_name": None,
        "unsubscribed": True,
        "properties": {"plan": "pro", "seats": 3, "company": "Acme"},
        "segments": ["Beta", "VIP"],
        "topics": {"News": "opt_out", "Offers": "opt_out"},
    }
    snapshot = {row["email"]: row for row in read_csv(Path(outcome["snapshot_file"]))}
    assert sorted(snapshot) == sorted(ADA[1:])
    assert snapshot[ADA[1]]["topics"] == '{"News": "opt_out", "Offers": "opt_out"}'
    # Searches see it at once.
    beta = [{"field": "segment", "op": "in", "value": "Beta"}]
    assert (await h.call("search_contacts", {"where": beta, "count_only": True}))["count"] == 1

    # Undone: the two come back as they were, and the kept one is put back.
    preview, undone, _ = await undo(h, str(answer["run"]["job_id"]))
    assert (preview["to_change"], preview["changed_since"]) == (3, 0)
    assert (undone["done"], undone["changed_since"], undone["failed"]) == (3, 0, 0)
    # ... but for the opt-outs the merge gave it: an undo never opts anyone back in.
    assert undone["refused"] == 1
    after = await everything(h)
    opted_out = {"unsubscribed": True, "topics": {"News": "opt_out", "Offers": "opt_out"}}
    assert after == {**before, "ada@gmail.com": {**before["ada@gmail.com"], **opted_out}}


async def test_a_merge_undone_with_resubscribe_is_exactly_as_before(h: Harness) -> None:
    await three_adas(h)
    before = await everything(h)
    arguments = {"contacts": ADA, "merge": ADA[0]}
    preview = (await h.call("update_contacts", arguments))["preview"]
    answer = await h.call("update_contacts", {**arguments, "confirm": preview["confirm"]})
    await finish(h, answer["run"])
    # On the person's word that Ada opted out of nothing since the merge, the opt-outs the
    # merge gave the kept contact are taken back too.
    job = str(answer["run"]["job_id"])
    preview = (await h.call("update_contacts", {"undo": job, "resubscribe": True}))["preview"]
    assert (preview["to_change"], preview["refused"]) == (3, 0)
    confirmed = {"undo": job, "resubscribe": True, "confirm": preview["confirm"]}
    outcome = await finish(h, (await h.call("update_contacts", confirmed))["run"])
    assert (outcome["done"], outcome["refused"], outcome["failed"]) == (3, 0, 0)
    assert await everything(h) == before


async def test_what_cannot_be_merged_is_refused_and_changes_nothing(h: Harness) -> None:
    await three_adas(h)
    before = await everything(h)
    one = await h.error("update_contacts", {"contacts": ADA[:1], "merge": "auto"})
    assert "A merge takes 2 to 10 contacts" in one
    stranger = {"contacts": ADA[:2], "merge": OTHER}
    assert "which is not one of the contacts given" in await h.error("update_contacts", stranger)
    missing = {"contacts": [*ADA[:2], "nobody@example.com"], "merge": "auto"}
    assert "1 named contact does not exist" in await h.error("update_contacts", missing)
    mixed = {"contacts": ADA, "merge": "auto", "unsubscribed": True}
    assert "merge takes `contacts`" in await h.error("update_contacts", mixed)
    typos = {"contacts": [ADA[2], "ada@hotmial.com"], "merge": "auto"}
    await h.seed("POST", "/contacts", {"email": "ada@hotmial.com"})
    assert "on a misspelt domain" in await h.error("update_contacts", typos)
    # A confirmation binds the group and the one kept.
    preview = (await h.call("update_contacts", {"contacts": ADA, "merge": "auto"}))["preview"]
    other = {"contacts": ADA, "merge": ADA[1], "confirm": preview["confirm"]}
    assert "a different change" in await h.error("update_contacts", other)
    fewer = {"contacts": ADA[:2], "merge": "auto", "confirm": preview["confirm"]}
    assert "selection changed" in await h.error("update_contacts", fewer)
    after = await everything(h)
    del after["ada@hotmial.com"]
    assert after == before


async def test_a_merge_resumed_after_a_restart_finishes_and_still_undoes(h: Harness) -> None:
    from contacts_mcp.server.tools.merge import MERGE_JOB
    from contacts_mcp.services.bulk import BulkOutcome

    await three_adas(h)
    before = await everything(h)
    arguments = {"contacts": ADA, "merge": "auto"}
    preview = (await h.call("update_contacts", arguments))["preview"]
    answer = await h.call("update_contacts", {**arguments, "confirm": preview["confirm"]})
    await finish(h, answer["run"])
    # The work taken up again from the job's journaled arguments, as a server restarted
    # mid-run does: the contacts it deleted are gone, the kept one took everything.
    state = h.server.live_state()
    job = state.jobs.find(str(answer["run"]["job_id"]))

    async def progress(done: float, total: float | None, message: str) -> None:
        pass

    again = BulkOutcome.model_validate(await MERGE_JOB.work(state, job.arguments)(progress))
    assert (again.action, again.done, again.failed) == ("merge", 0, 0)
    assert sorted(await everything(h)) == ["ada@gmail.com", OTHER]
    # Its undo reads every snapshot the merge wrote: the two come back.
    preview, undone, _ = await undo(h, job.id)
    assert undone["done"] == 3
    assert sorted(await everything(h)) == sorted(before)


@pytest.mark.parametrize("approve", [True, False])
async def test_where_the_client_can_ask_the_person_decides(
    era: str, tmp_path: Path, approve: bool
) -> None:
    asked: list[str] = []

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": approve})

    async for h in open_harness(era, None, settings(tmp_path), elicitation_callback=person):
        await three_adas(h)
        before = await everything(h)
        arguments = {"contacts": ADA, "merge": "auto"}
        token = (await h.call("update_contacts", arguments))["preview"]["confirm"]
        assert asked == []
        result = await h.client.call_tool("update_contacts", {**arguments, "confirm": token})
        assert asked == ["Merge 3 contacts into ada@gmail.com. Approve?"]
        assert result.is_error is not approve
        after = await everything(h)
        assert (after == before) is not approve
