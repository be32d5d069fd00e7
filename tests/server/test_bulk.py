"""Acting on sets of contacts: deletes confirmed by the server (an HMAC-bound preview,
and the person where the client can ask), snapshots, and formula-safe exports that
import reads back unchanged. Both protocol eras."""

import csv
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import MCPError
from mcp.client import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.services.bulk import CONFIRM_SECONDS, Confirmations, Selected
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.mirror import MirroredContact
from tests.server.conftest import Harness, open_harness

pytestmark = pytest.mark.anyio

ACME = [{"field": "domain", "op": "eq", "value": "acme.com"}]
# Values a spreadsheet would run, or that look like its escape: all must survive.
# Contacts in the faults test (the bench, bench/bulk_faults.py, runs 1,000).
FAULTY_SET = 60
TRICKY = ['=HYPERLINK("http://x")', "-5", "+1", "@cmd", "'quoted", "''twice", "plain"]


def settings(tmp_path: Path) -> ImportSettings:
    return ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path / "state")


async def account(h: Harness, acme: int = 15, others: int = 5) -> None:
    """acme.com contacts with properties and segments, and a few others."""
    vip = await h.seed("POST", "/segments", {"name": "VIP"})
    await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    await h.seed("POST", "/contact-properties", {"key": "seats", "type": "number"})
    for i in range(acme):
        created = await h.seed(
            "POST",
            "/contacts",
            {
                "email": f"user{i}@acme.com",
                "first_name": TRICKY[i % len(TRICKY)],
                "last_name": f"Number {i}",
                "unsubscribed": i % 4 == 0,
                "properties": {"plan": TRICKY[(i + 3) % len(TRICKY)], "seats": i},
            },
        )
        if i % 3 == 0:
            await h.seed("POST", f"/contacts/{created['id']}/segments/{vip['id']}")
    for i in range(others):
        await h.seed("POST", "/contacts", {"email": f"keep{i}@example.org"})


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows))


async def state_of(h: Harness, contact_id: str) -> dict[str, Any]:
    """A contact's fields, properties and segment names, as Resend has them."""
    found = await h.seed("GET", f"/contacts/{contact_id}")
    segments = await h.seed("GET", f"/contacts/{contact_id}/segments")
    return {
        **{k: found[k] for k in ("first_name", "last_name", "unsubscribed", "properties")},
        "segments": sorted(s["name"] for s in segments["data"]),
    }


async def selection(h: Harness, where: list[dict[str, Any]]) -> str:
    found = await h.call("search_contacts", {"where": where, "count_only": True})
    return str(found["selection"])


@pytest.fixture
async def harness_with_files(era: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in open_harness(era, None, settings(tmp_path)):
        yield h


async def test_a_delete_previews_then_deletes_exactly_what_it_showed(
    harness_with_files: Harness, tmp_path: Path
) -> None:
    h = harness_with_files
    await account(h)
    search = await selection(h, ACME)
    preview = (await h.call("delete_contacts", {"search": search}))["preview"]
    assert (preview["count"], len(preview["sample"]), preview["missing"]) == (15, 10, [])
    assert preview["requests"] >= 15
    assert await h.count_contacts() == 20  # a preview writes nothing
    answer = await h.call("delete_contacts", {"search": search, "confirm": preview["confirm"]})
    run = answer["run"]
    assert run["status"] == "completed"
    assert (run["result"]["done"], run["result"]["failed"]) == (15, 0)
    remaining = sorted(c["email"] for c in await h.all_contacts())
    assert remaining == [f"keep{i}@example.org" for i in range(5)]
    snapshot = Path(run["result"]["snapshot_file"])
    assert snapshot.parent == tmp_path / "state" / "snapshots"
    saved = read_csv(snapshot)
    expected = sorted(f"user{i}@acme.com" for i in range(15))
    assert sorted(row["email"] for row in saved) == expected
    # The same confirmation again: refused, and nothing more is deleted.
    again = await h.error("delete_contacts", {"search": search, "confirm": preview["confirm"]})
    assert "No contacts to delete" in again
    assert await h.count_contacts() == 5


async def test_a_snapshot_re_imports_the_deleted_contacts(
    harness_with_files: Harness,
) -> None:
    h = harness_with_files
    await account(h)
    before = {c["email"]: await state_of(h, c["id"]) for c in await h.all_contacts()}
    assert sum(1 for state in before.values() if state["segments"]) == 5  # compared too
    search = await selection(h, ACME)
    token = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
    outcome = (await h.call("delete_contacts", {"search": search, "confirm": token}))["run"]
    snapshot = outcome["result"]["snapshot_file"]
    preview = await h.job("preview_import", {"path": snapshot})
    assert preview["column_map"]["segments"] == "segments"  # names, not a property
    summary = await h.job(
        "import_contacts", {**preview["import_arguments"], "on_conflict": "upsert"}
    )
    assert (summary["created"], summary["failed"]) == (15, 0)
    for contact in await h.all_contacts():
        assert await state_of(h, contact["id"]) == before[contact["email"]], contact["email"]


@pytest.mark.parametrize(
    ("answer", "deleted"),
    [(ElicitResult(action="accept", content={"approve": True}), True),
     (ElicitResult(action="accept", content={"approve": False}), False),
     (ElicitResult(action="decline"), False),
     (ElicitResult(action="cancel"), False)],
)  # fmt: skip
async def test_where_the_client_can_ask_the_person_decides(
    era: str, tmp_path: Path, answer: ElicitResult, deleted: bool
) -> None:
    asked: list[str] = []

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return answer

    async for h in open_harness(era, None, settings(tmp_path), elicitation_callback=person):
        await account(h, acme=3, others=2)
        search = await selection(h, ACME)
        token = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
        assert asked == []  # the preview asks nobody
        result = await h.client.call_tool("delete_contacts", {"search": search, "confirm": token})
        assert len(asked) == 1
        assert "Delete 3 contacts" in asked[0]
        if deleted:
            assert not result.is_error, result.content
            assert await h.count_contacts() == 2
        else:
            assert result.is_error
            text = result.content[0]
            assert text.type == "text"
            assert "did not approve: nothing was deleted" in text.text
            assert await h.count_contacts() == 5


async def test_nobody_is_asked_to_approve_a_run_the_server_would_refuse(
    era: str, tmp_path: Path
) -> None:
    """The selection and the confirmation are checked before the person is asked: a "yes"
    is never asked for a run that is then refused as "selection changed"."""
    asked: list[str] = []

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": True})

    async for h in open_harness(era, None, settings(tmp_path), elicitation_callback=person):
        await account(h, acme=12, others=2)
        search = await selection(h, ACME)
        delete = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
        change = {"search": search, "add_segments": ["VIP"]}
        update = (await h.call("update_contacts", change))["preview"]["confirm"]
        await h.call("create_contact", {"email": "late@acme.com"})  # the search now has 13
        message = await h.error("delete_contacts", {"search": search, "confirm": delete})
        assert "The selection changed since the preview (12 contacts then, 13 now)" in message
        message = await h.error("update_contacts", {**change, "confirm": update})
        assert "The selection changed since the preview" in message
        assert asked == []
        assert await h.count_contacts() == 15  # nothing was deleted
        # A confirmation that fits is asked about once, and runs.
        again = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
        done = await h.client.call_tool("delete_contacts", {"search": search, "confirm": again})
        assert not done.is_error, done.content
        assert len(asked) == 1
        # Used: asking again for it is refused, without asking the person.
        message = await h.error("delete_contacts", {"search": search, "confirm": again})
        assert "No contacts to delete" in message
        assert len(asked) == 1


async def test_confirmations_that_do_not_fit_are_refused(harness_with_files: Harness) -> None:
    h = harness_with_files
    await account(h, acme=4, others=2)
    search = await selection(h, ACME)
    token = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    message = await h.error("delete_contacts", {"search": search, "confirm": forged})
    assert "not one this server issued" in message
    others = await selection(h, [{"field": "domain", "op": "eq", "value": "example.org"}])
    message = await h.error("delete_contacts", {"search": others, "confirm": token})
    assert "The selection changed since the preview (4 contacts then, 2 now)" in message
    # A contact joins the search after the preview: a new preview is needed.
    await h.call("create_contact", {"email": "late@acme.com"})
    message = await h.error("delete_contacts", {"search": search, "confirm": token})
    assert "(4 contacts then, 5 now)" in message
    assert await h.count_contacts() == 7  # nothing was deleted


async def test_bad_selections_are_refused_clearly(harness_with_files: Harness) -> None:
    h = harness_with_files
    await account(h, acme=2, others=1)
    assert "exactly one of `contacts`" in await h.error("delete_contacts", {})
    assert "No contacts to delete" in await h.error(
        "delete_contacts", {"contacts": ["ghost@nowhere.io"]}
    )
    too_many = [f"u{i}@example.com" for i in range(10_001)]
    message = await h.error("delete_contacts", {"contacts": too_many})
    assert "at most 10000" in message
    assert "Split the list" in message
    assert "`selection` of a search_contacts" in await h.error(
        "delete_contacts", {"search": "not a selection"}
    )
    assert await h.count_contacts() == 3


def test_a_confirmation_expires_after_ten_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    contact = MirroredContact("7c8272c4-ed16-4d01-8202-17fb3b1a04ea", "a@b.co", "", "", False, "x")
    selected = Selected([(contact, [])], [])
    confirmations = Confirmations(b"k" * 32)
    token = confirmations.issue("delete", selected, {"delete": True}, "Delete 1 contacts")
    assert confirmations.check(token, "delete", selected, {"delete": True}).count == 1
    with pytest.raises(UserFacingError, match="different change"):
        confirmations.check(token, "delete", selected, {"delete": False})
    later = time.time() + CONFIRM_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(UserFacingError, match="expired"):
        confirmations.check(token, "delete", selected, {"delete": True})
    with pytest.raises(UserFacingError, match="not one this server issued"):
        Confirmations(b"x" * 32).check(token, "delete", selected, {"delete": True})


async def test_an_export_is_formula_safe_and_re_imports_unchanged(
    harness_with_files: Harness, tmp_path: Path
) -> None:
    h = harness_with_files
    await account(h)
    search = await selection(h, ACME)
    result = await h.client.call_tool("export_contacts", {"search": search, "path": "acme.csv"})
    assert not result.is_error, result.content
    assert [block.type for block in result.content] == ["text", "resource_link"]
    assert result.structured_content is not None
    exported = result.structured_content["result"]
    assert (exported["rows"], len(exported["contacts"])) == (15, 15)  # ≤ 50: inline too
    raw = (tmp_path / "acme.csv").read_bytes()
    assert raw.count(b"\r\n") == 16  # RFC 4180 line ends
    cells = [cell for row in read_csv(tmp_path / "acme.csv") for cell in row.values()]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    before = {c["email"]: await state_of(h, c["id"]) for c in await h.all_contacts()}
    for contact in await h.all_contacts():
        if contact["email"].endswith("@acme.com"):
            await h.seed("DELETE", f"/contacts/{contact['id']}")
    preview = await h.job("preview_import", {"path": "acme.csv"})
    await h.job("import_contacts", {**preview["import_arguments"], "on_conflict": "upsert"})
    for contact in await h.all_contacts():  # fields, properties and segments, each equal
        assert await state_of(h, contact["id"]) == before[contact["email"]], contact["email"]
    assert {c["email"] for c in await h.all_contacts()} == set(before)


async def test_export_paths_are_checked_before_anything_is_written(
    harness_with_files: Harness, tmp_path: Path
) -> None:
    h = harness_with_files
    await account(h, acme=2, others=1)
    search = await selection(h, ACME)
    (tmp_path / "taken.csv").write_text("keep me")
    for path, expected in [
        ("../outside.csv", "not inside an allowed folder"),
        ("taken.csv", "already exists"),
        ("notes.txt", "must be a .csv"),
    ]:
        message = await h.error("export_contacts", {"search": search, "path": path})
        assert expected in message, message
    assert (tmp_path / "taken.csv").read_text() == "keep me"
    assert not (tmp_path.parent / "outside.csv").exists()
    # Replaced only when an export of this server wrote it (tests/server/test_export_files).
    refused = await h.error(
        "export_contacts", {"search": search, "path": "taken.csv", "overwrite": True}
    )
    assert "not written by an export of this server" in refused
    assert (tmp_path / "taken.csv").read_text() == "keep me"
    message = await h.error("export_contacts", {"search": search, "properties": ["nope"]})
    assert "Unknown properties: 'nope'" in message


async def test_a_delete_under_injected_faults_ends_with_every_contact_gone(
    tmp_path: Path,
) -> None:
    """20 % faults in all (429, 500, 503, and deletes applied whose answer is lost).

    One era: the faults meet the client and the job, the same in both (and 429s pause
    every request for a second, so the test is kept small; bench/bulk_faults.py: 1,000).
    """
    era = "auto"
    db = str(tmp_path / "account.db")
    async for h in open_harness(era, EmulatorOptions(db_path=db), settings(tmp_path)):
        await h.seed_contacts([f"u{i}@acme.com" for i in range(FAULTY_SET)])
        await h.seed_contacts([f"keep{i}@example.org" for i in range(10)])
    faults = EmulatorOptions(
        db_path=db, fault_429=0.05, fault_500=0.05, fault_503=0.05, drop_after_write=0.05, seed=3
    )
    async for h in open_harness(era, faults, settings(tmp_path)):
        search = await selection(h, ACME)
        token = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
        run = (await h.call("delete_contacts", {"search": search, "confirm": token}))["run"]
        while run["status"] == "working":
            run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
        outcome = run["result"]
        assert outcome["failed"] == 0, outcome
        # A delete applied whose answer was lost finds the contact gone when tried again.
        assert outcome["done"] + outcome["unchanged"] == FAULTY_SET
        assert outcome["requests"] > 2 * FAULTY_SET  # the faults were met, and overcome
        remaining = sorted(c["email"] for c in await h.all_contacts())
        assert remaining == sorted(f"keep{i}@example.org" for i in range(10))
        assert len(read_csv(Path(outcome["snapshot_file"]))) == FAULTY_SET


async def test_a_small_export_comes_back_inline_and_a_big_one_needs_a_path(
    harness_with_files: Harness,
) -> None:
    h = harness_with_files
    await account(h, acme=3, others=60)
    small = await h.call("export_contacts", {"search": await selection(h, ACME)})
    rows = small["result"]["contacts"]
    assert (small["result"]["file"], len(rows)) == (None, 3)
    assert {row["email"] for row in rows} == {"user0@acme.com", "user1@acme.com", "user2@acme.com"}
    # user0 is in VIP (every third contact is); the segment comes back by name.
    assert {row["email"]: row["segments"] for row in rows} == {
        "user0@acme.com": "VIP", "user1@acme.com": "", "user2@acme.com": ""
    }  # fmt: skip
    everyone = await selection(h, [])
    message = await h.error("export_contacts", {"search": everyone})
    assert "63 contacts are more than the 50" in message


def test_the_confirmation_secret_outlives_a_restart_and_a_torn_write(tmp_path: Path) -> None:
    contact = MirroredContact("7c8272c4-ed16-4d01-8202-17fb3b1a04ea", "a@b.co", "", "", False, "x")
    selected = Selected([(contact, [])], [])
    first = Confirmations.for_folder(tmp_path)
    token = first.issue("delete", selected, {"delete": True}, "Delete 1 contacts")
    key = tmp_path / "confirm.key"
    assert key.stat().st_mode & 0o777 == 0o600
    restarted = Confirmations.for_folder(tmp_path)
    assert restarted.check(token, "delete", selected, {"delete": True}).count == 1
    key.write_bytes(b"\x00" * 5)  # a key file cut short: replaced, never used as a key
    renewed = Confirmations.for_folder(tmp_path)
    assert len(key.read_bytes()) == 32
    with pytest.raises(UserFacingError, match="not one this server issued"):
        renewed.check(token, "delete", selected, {"delete": True})


def test_servers_starting_together_on_a_new_folder_sign_with_one_secret(tmp_path: Path) -> None:
    # Host windows opened at once: every server must read back the key the first one wrote.
    contact = MirroredContact("7c8272c4-ed16-4d01-8202-17fb3b1a04ea", "a@b.co", "", "", False, "x")
    selected = Selected([(contact, [])], [])
    starting = threading.Barrier(8)

    def start() -> Confirmations:
        starting.wait(timeout=10)
        return Confirmations.for_folder(tmp_path)

    with ThreadPoolExecutor(8) as pool:
        servers = list(pool.map(lambda _: start(), range(8)))
    token = servers[0].issue("delete", selected, {"delete": True}, "Delete 1 contacts")
    for server in [*servers, Confirmations.for_folder(tmp_path)]:
        assert server.check(token, "delete", selected, {"delete": True}).count == 1
    assert [p.name for p in tmp_path.iterdir()] == ["confirm.key"]


async def test_many_named_contacts_are_found_by_filling_the_mirror_first(
    harness_with_files: Harness,
) -> None:
    h = harness_with_files
    emails = [f"named{i}@example.com" for i in range(150)]
    await h.seed_contacts(emails)
    preview = (await h.call("delete_contacts", {"contacts": [*emails, "ghost@example.com"]}))[
        "preview"
    ]
    assert (preview["count"], preview["missing"]) == (150, ["ghost@example.com"])
    # Found by paging the account (a sync job, 100 a request), not 2 requests a name.
    jobs = (await h.call("get_job", {}))["recent"]
    assert [(job["kind"], job["status"]) for job in jobs] == [("sync", "completed")]
    assert await h.count_contacts() == 150


async def test_a_search_export_streams_in_chunks_with_every_contact_once(
    harness_with_files: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contacts_mcp.services import bulk

    h = harness_with_files
    await account(h, acme=15, others=8)
    monkeypatch.setattr(bulk, "EXPORT_CHUNK", 4)  # 23 contacts: 6 chunks, the last short
    everyone = await selection(h, [])
    done = await h.job("export_contacts", {"search": everyone, "path": str(tmp_path / "all.csv")})
    assert done["rows"] == 23
    rows = read_csv(tmp_path / "all.csv")
    assert [row["email"] for row in rows] == [c["email"] for c in await h.all_contacts()]
    assert sum(1 for row in rows if row["segments"] == "VIP") == 5


async def test_a_snapshot_holds_the_latest_values_not_the_mirrors(
    harness_with_files: Harness,
) -> None:
    h = harness_with_files
    await account(h, acme=12, others=0)
    await h.call("get_contact", {"contact": "user5@acme.com"})  # the mirror learns its plan
    await h.seed("PATCH", "/contacts/user5@acme.com", {"properties": {"plan": "changed"}})
    search = await selection(h, ACME)
    token = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
    run = (await h.call("delete_contacts", {"search": search, "confirm": token}))["run"]
    rows = read_csv(Path(run["result"]["snapshot_file"]))
    assert next(row for row in rows if row["email"] == "user5@acme.com")["plan"] == "changed"


@pytest.mark.parametrize("approve", [True, False])
async def test_a_late_answer_outlives_the_call_the_host_gave_up_on(
    tmp_path: Path, approve: bool
) -> None:
    """A 2025-11-25 host gives a call 60 s (here: 1 s) and drops it; the person answers
    later (here: 2 s). Their answer is kept, and the next call with the same confirmation
    uses it without asking again: a yes runs the delete exactly once, a no writes nothing."""
    asked: list[str] = []

    async def slow_person(
        context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        asked.append(params.message)
        await anyio.sleep(2)
        return ElicitResult(action="accept", content={"approve": approve})

    async for h in open_harness(
        "legacy", None, settings(tmp_path), elicitation_callback=slow_person
    ):
        await account(h, acme=3, others=2)
        search = await selection(h, ACME)
        token = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
        confirmed = {"search": search, "confirm": token}
        with pytest.raises(MCPError, match="timed out"):
            await h.client.call_tool("delete_contacts", confirmed, read_timeout_seconds=1)
        assert await h.count_contacts() == 5  # the host gave up; nothing ran
        # The model calls again: while the person is still deciding, the call waits on
        # the same question; then it has their answer.
        again = await h.client.call_tool("delete_contacts", confirmed)
        assert len(asked) == 1
        if approve:
            assert not again.is_error, again.content
            assert await h.count_contacts() == 2
            replay = await h.client.call_tool("delete_contacts", confirmed)
            assert replay.is_error  # already run: never twice
            assert await h.count_contacts() == 2
        else:
            assert again.is_error
            assert again.content[0].type == "text"
            assert "did not approve: nothing was deleted" in again.content[0].text
            assert await h.count_contacts() == 5
        assert len(asked) == 1
