"""A person's erasure ("forget me"), end to end: seeded into every kind of local data by
real tool calls on two accounts, then forgotten on each; the whole data folder, both
accounts' databases (their Resend) and the exports are then read byte by byte, and their
address (in any case) and name appear nowhere but as the audit log's keyed hash, while
everyone else is untouched. In both eras.

Then what must not be reported as done: a contact Resend would not delete, and a person
a running import holds, are left whole and said to be; a second run finishes them.
"""

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

from contacts_mcp.backends import LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server.surface import AuditLog, Surface
from tests.server.conftest import open_harness
from tests.server.test_private_files import Session, session
from tests.server.test_review_screens import nonce_of

pytestmark = pytest.mark.anyio

ZEB = "Zebulonia.Quixthorpe@Example.com"  # as she gave it; Resend keeps any case
FIRST, LAST, NOTE = "Zebulonia", "Quixthorpe", "Vermillionfjord"
OTHERS = ("ada@example.com", "ben@example.com")


def traces(folder: Path) -> dict[str, list[str]]:
    """Each file under `folder` that holds her address (any case) or her name, and which."""
    marks = [ZEB.lower().encode(), FIRST.lower().encode(), LAST.lower().encode()]
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes().lower()
            hits = [mark.decode() for mark in marks if mark in data]
            if hits:
                found[str(path.relative_to(folder))] = hits
    return found


async def forget(h: Session, emails: list[str], **extra: Any) -> dict[str, Any]:
    preview = await h.call("forget_contacts", {"emails": emails, **extra})
    confirm = preview["preview"]["confirm"]
    run = (await h.call("forget_contacts", {"emails": emails, **extra, "confirm": confirm}))["run"]
    while run["status"] == "working":
        run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
    return {"preview": preview["preview"], "receipt": run}


async def seed_account_a(h: Session, files: Path) -> None:
    """Her, into every kind: two imports (her note, then a row that fails), an upload, a
    search, an export, a delete and its restore from the snapshot, an audited write."""
    (files / "people.csv").write_text(
        "email,first_name,last_name,note\n"
        f"{ZEB},{FIRST},{LAST},{NOTE}\nada@example.com,Ada,Byron,x\nben@example.com,Ben,Y,y\n"
    )
    columns = {"email": "email", "first_name": "first_name", "last_name": "last_name"}
    await h.job(
        "import_contacts",
        {
            "path": str(files / "people.csv"),
            "columns": {**columns, "note": "note"},
            "new_properties": {"note": "string"},
            "create_missing_properties": True,
            "on_conflict": "upsert",
            "strategy": "rows",
        },
    )
    (files / "ages.csv").write_text(f"email,age\n{ZEB},not a number\nada@example.com,36\n")
    await h.job(
        "import_contacts",
        {
            "path": str(files / "ages.csv"),
            "columns": {"email": "email", "age": "age"},
            "new_properties": {"age": "number"},
            "create_missing_properties": True,
            "on_conflict": "upsert",
            "strategy": "api",  # its parts and summary
        },
    )
    data = base64.b64encode(f"email,first_name\n{ZEB},{FIRST}\n".encode()).decode()
    await h.call("upload_csv", {"data": data, "done": True})
    await h.call("search_contacts", {"where": []})
    await h.job("export_contacts", {"contacts": [ZEB, "ada@example.com"], "path": "out.csv"})
    named = [ZEB, "ben@example.com"]
    preview = await h.call("delete_contacts", {"contacts": named})
    run = await h.call(
        "delete_contacts", {"contacts": named, "confirm": preview["preview"]["confirm"]}
    )
    snapshot = run["run"]["result"]["snapshot_file"]
    await h.job(
        "import_contacts",
        {"path": snapshot, "columns": columns, "on_conflict": "upsert", "strategy": "rows"},
    )
    await h.call("update_contact", {"contact": ZEB, "unsubscribed": True})
    await h.call("personal_data", {"email": ZEB})


async def test_a_person_forgotten_on_two_accounts_leaves_no_trace(era: str, tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    audit_path = tmp_path / "audit" / "audit.log"
    surface = Surface(audit=AuditLog(audit_path))
    other_db = state / "other-account.db"
    async with session(era, state, files, surface=surface) as a:
        await seed_account_a(a, files)
        # Account B (another database: another account), sharing the data folder.
        async with session(era, state, files, surface=surface, local_db=other_db) as b:
            await b.call("create_contact", {"email": ZEB, "first_name": FIRST, "last_name": LAST})
            await b.call("create_contact", {"email": "cleo@example.com", "first_name": "Cleo"})
            await b.call("search_contacts", {"where": []})
            await b.call("update_contact", {"contact": ZEB, "last_name": LAST})
            before = traces(state)
            # Forget her on account A: in any case, named twice.
            done_a = await forget(a, [ZEB.upper(), ZEB.lower()])
            done_b = await forget(b, [ZEB])
            ada = await a.call("get_contact", {"contact": "ada@example.com"})
            cleo = await b.call("get_contact", {"contact": "cleo@example.com"})
            gone = await a.client.call_tool("get_contact", {"contact": ZEB})
            again = await a.call("personal_data", {"email": ZEB})
    # Before: she was in every kind of local data.
    held = " ".join(before)
    for where in ("mirrors/", "snapshots/", "journal.sqlite", "failures.csv", "uploads/"):
        assert where in held, (where, before)
    assert "jobs.sqlite" in held
    assert "approvals.sqlite" in held
    assert "contacts.db" in held
    # The preview on A said what it would do, and that account B holds her too.
    preview = done_a["preview"]
    assert (preview["count"], preview["at_resend"]) == (1, 1)
    [person] = preview["people"]
    assert {"mirror", "snapshot", "export", "failure report", "import journal", "upload"} <= set(
        person["local"]
    )
    assert len(person["other_accounts"]) == 1
    # The receipt: deleted at Resend, each place removed, account B still to do.
    receipt_a = done_a["receipt"]["result"]
    [zeb] = receipt_a["people"]
    assert zeb["email"] == ZEB.lower()  # in the answer to the call that asked, only
    assert zeb["resend"] == "deleted"
    assert zeb["forgotten"] is True
    assert zeb["person"].startswith("hmac:")
    kinds = {place["kind"] for place in zeb["local"]}
    assert {"mirror", "snapshot", "export", "failure report", "import journal", "upload"} <= kinds
    assert {"job", "audit log", "approval"} <= kinds
    assert zeb["other_accounts"] == person["other_accounts"]
    assert receipt_a["not_covered"]
    [zeb_b] = done_b["receipt"]["result"]["people"]
    assert (zeb_b["resend"], zeb_b["forgotten"], zeb_b["other_accounts"]) == ("deleted", True, [])
    # After: nowhere in the data folder (both accounts' databases included), nor in the
    # export the server wrote, nor in the audit log but as her hash.
    assert traces(state) == {}
    assert traces(tmp_path / "audit") == {}
    assert ZEB.lower() not in (files / "out.csv").read_text().lower()
    assert gone.is_error
    assert (again["resend"], again["places"][0]["kind"]) == (None, "audit log")
    audit = [json.loads(line) for line in audit_path.read_text().splitlines()]
    hers = [line for line in audit if line["target"] == zeb["person"]]
    # Her audited writes and requests (the update, the access, the erasures) are kept.
    assert {"update_contact", "personal_data", "forget_contacts"} <= {line["tool"] for line in hers}
    # Everyone else is untouched.
    assert (ada["first_name"], ada["last_name"]) == ("Ada", "Byron")
    assert cleo["first_name"] == "Cleo"
    assert "ada@example.com" in (files / "out.csv").read_text()
    assert list((state / "snapshots").glob("deleted-*.csv"))
    snapshot = next((state / "snapshots").glob("deleted-*.csv")).read_text()
    assert "ben@example.com" in snapshot
    # The jobs journal keeps the erasure by reference only.
    with sqlite3.connect(state / "jobs.sqlite") as db:
        rows = db.execute("SELECT arguments FROM jobs WHERE kind = 'forget'").fetchall()
    assert rows
    assert all(json.loads(args)["people"][0].startswith("hmac:") for (args,) in rows)


async def test_the_preview_writes_nothing_and_a_confirmation_runs_once(tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    async with session("auto", state, files) as h:
        await h.call("create_contact", {"email": ZEB, "first_name": FIRST})
        await h.call("search_contacts", {"where": []})
        preview = await h.call("forget_contacts", {"emails": [ZEB]})
        still = await h.call("get_contact", {"contact": ZEB})
        confirm = preview["preview"]["confirm"]
        other = await h.client.call_tool(
            "forget_contacts", {"emails": ["ada@example.com"], "confirm": confirm}
        )
        suppressing = await h.client.call_tool(
            "forget_contacts", {"emails": [ZEB], "suppress": True, "confirm": confirm}
        )
        await h.call("forget_contacts", {"emails": [ZEB], "confirm": confirm})
        reused = await h.client.call_tool("forget_contacts", {"emails": [ZEB], "confirm": confirm})
        nobody = await h.client.call_tool("forget_contacts", {"emails": ["nobody@example.com"]})
        bad = await h.client.call_tool("forget_contacts", {"emails": ["not an address"]})
    assert still["first_name"] == FIRST
    assert other.is_error
    assert "not the same ones" in text(other)
    assert suppressing.is_error
    assert "different change" in text(suppressing)
    assert reused.is_error
    assert "already used" in text(reused)
    assert not nobody.is_error
    assert text(nobody) == (
        "Nothing is held about nobody@example.com: no contact at Resend, no local copy. "
        "Nothing to forget."
    )
    assert nobody.structured_content == {"preview": None, "run": None}
    assert bad.is_error
    assert "is not an email address" in text(bad)


def text(answer: CallToolResult) -> str:
    block = answer.content[0]
    assert block.type == "text"
    return block.text


class RefusingTransport(LocalTransport):
    """The local account, but Resend refuses to delete one contact (a key without the
    right, say): 403 for that address's delete."""

    def __init__(self, refused: str, db_path: str) -> None:
        super().__init__(EmulatorOptions(db_path=db_path))
        self.refused: str | None = refused

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and self.refused is not None:
            contact = await self.handle_async_request(
                httpx.Request("GET", request.url, headers=request.headers)
            )
            if contact.status_code == 200:
                await contact.aread()
                if contact.json().get("email", "").lower() == self.refused:
                    return httpx.Response(
                        403,
                        json={
                            "statusCode": 403,
                            "name": "restricted_api_key",
                            "message": "This API key is restricted to only send emails.",
                        },
                    )
        return await super().handle_async_request(request)


async def test_an_erasure_that_cannot_finish_says_so_and_a_second_run_finishes_it(
    era: str, tmp_path: Path
) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    imports = ImportSettings(files=FilePolicy(allowed_dirs=(files,)), state_dir=state)
    transport = RefusingTransport(ZEB.lower(), str(state / "contacts.db"))
    async for h in open_harness(era, imports=imports, transport=transport):
        s = Session(h.client)
        (files / "people.csv").write_text(f"email,first_name\n{ZEB},{FIRST}\nada@example.com,Ada\n")
        await s.job(
            "import_contacts",
            {
                "path": str(files / "people.csv"),
                "columns": {"email": "email", "first_name": "first_name"},
                "on_conflict": "upsert",
                "strategy": "rows",
            },
        )
        await s.call("search_contacts", {"where": []})
        # Resend refuses her delete: she is not forgotten, and nothing of hers is removed.
        first = await forget(s, [ZEB, "ada@example.com"])
        [zeb, ada] = first["receipt"]["result"]["people"]
        assert (zeb["resend"], zeb["forgotten"], zeb["local"]) == ("failed", False, [])
        assert "restricted" in zeb["resend_detail"] or "API key" in zeb["resend_detail"]
        assert (ada["resend"], ada["forgotten"]) == ("deleted", True)
        assert first["receipt"]["result"]["failed"] == 1
        assert ZEB.lower() in json.dumps(traces(state)) or traces(state)
        assert (await s.call("search_contacts", {"where": []}))["count"] == 1  # still hers
        # A running import holds her: she is blocked, and left whole.
        transport.refused = None
        [journal] = list((state / "imports").glob("*/journal.sqlite"))
        lock = journal.parent.parent / f"{journal.parent.name}.lock"
        holder = sqlite3.connect(lock, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            second = await forget(s, [ZEB])
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        [blocked] = second["receipt"]["result"]["people"]
        assert second["preview"]["people"][0]["blocked"]
        assert (blocked["resend"], blocked["forgotten"]) == ("blocked", False)
        assert "running" in blocked["resend_detail"]
        assert await s.call("get_contact", {"contact": ZEB})
        # Free again: a new run forgets her.
        third = await forget(s, [ZEB])
        [done] = third["receipt"]["result"]["people"]
        assert (done["resend"], done["forgotten"]) == ("deleted", True)
        assert traces(state) == {}


async def test_suppression_is_reported_as_it_went(tmp_path: Path) -> None:
    """Suppressed where the account has Resend's Suppressions API; where it has not, the
    erasure still happens and the receipt says the address was not suppressed."""
    for has_api in (True, False):
        folder = tmp_path / str(has_api)
        imports = ImportSettings(files=FilePolicy(allowed_dirs=(folder,)), state_dir=folder)
        options = EmulatorOptions(suppressions_api=has_api)
        async for h in open_harness("auto", options, imports):
            s = Session(h.client)
            await s.call("create_contact", {"email": ZEB})
            done = await forget(s, [ZEB], suppress=True)
            [zeb] = done["receipt"]["result"]["people"]
            assert zeb["resend"] == "deleted"
            assert zeb["suppressed"] is has_api
            assert zeb["forgotten"] is has_api
            listed = await h.emulator.get("/suppressions") if has_api else None
        if listed is not None:
            assert listed.json()["data"][0]["email"] == ZEB.lower()
        else:
            assert "Suppressions API" in zeb["suppression_detail"]
        assert any("keeps the address at Resend" in n for n in done["preview"]["notes"])


@pytest.mark.parametrize("approve", [True, False])
async def test_where_the_client_can_ask_the_person_approves_the_erasure(
    era: str, tmp_path: Path, approve: bool
) -> None:
    asked: list[str] = []

    async def person(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": approve})

    imports = ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path)
    async for h in open_harness(era, None, imports, elicitation_callback=person):
        await h.call("create_contact", {"email": ZEB, "first_name": FIRST})
        preview = await h.call("forget_contacts", {"emails": [ZEB]})
        assert asked == []  # the preview asks nobody
        confirm = preview["preview"]["confirm"]
        answer = await h.client.call_tool("forget_contacts", {"emails": [ZEB], "confirm": confirm})
        assert len(asked) == 1
        assert "Forget 1 person" in asked[0]
        assert "cannot be undone" in asked[0]
        assert answer.is_error is not approve
        assert await h.count_contacts() == (0 if approve else 1)


async def test_the_review_screen_approves_an_erasure_once(era: str, tmp_path: Path) -> None:
    """Where the host shows screens, the preview carries an approval nonce (in `_meta`
    only); the screen's Approve runs exactly the previewed erasure, once. Under
    `--approval required` the model's own confirmed call is refused, the screen's runs."""
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    surface = Surface(approval="required")
    async with session(era, state, files, surface=surface) as h:
        await h.call("create_contact", {"email": ZEB, "first_name": FIRST})
        await h.call("create_contact", {"email": "ada@example.com"})
        answer = await h.client.call_tool("forget_contacts", {"emails": [ZEB]})
        nonce = nonce_of(answer)
        confirm = (answer.structured_content or {})["preview"]["confirm"]
        by_model = await h.client.call_tool(
            "forget_contacts", {"emails": [ZEB], "confirm": confirm}
        )
        approved = await h.call("approve_run", {"nonce": nonce, "approve": True})
        again = await h.client.call_tool("approve_run", {"nonce": nonce, "approve": True})
        gone = await h.client.call_tool("get_contact", {"contact": ZEB})
        ada = await h.call("get_contact", {"contact": "ada@example.com"})
    assert by_model.is_error
    assert "nobody has" in text(by_model)
    run = approved["run"]
    assert run["kind"] == "forget"
    [zeb] = run["result"]["people"]
    assert (zeb["email"], zeb["resend"], zeb["forgotten"]) == (ZEB.lower(), "deleted", True)
    assert again.is_error
    assert "not valid" in text(again)
    assert gone.is_error
    assert ada["email"] == "ada@example.com"


async def test_a_delete_still_running_keeps_its_snapshot_and_holds_only_its_own(
    tmp_path: Path,
) -> None:
    """A bulk delete paced to 20 requests/s is deleting: forgetting one of
    the contacts it deletes leaves that snapshot whole (the run's last copy) and says so;
    forgetting someone it does not hold is complete."""
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    emails = [f"p{i:02d}@example.com" for i in range(80)]
    async with session("auto", state, files, rate_limit=20, wait_seconds=0.5) as h:
        await h.job(
            "import_contacts",
            {"csv_text": "email\n" + "\n".join([*emails, ZEB]) + "\n",
             "columns": {"email": "email"}, "on_conflict": "upsert", "strategy": "api"},
        )  # fmt: skip
        preview = await h.call("delete_contacts", {"contacts": emails})
        confirm = preview["preview"]["confirm"]
        started = await h.call("delete_contacts", {"contacts": emails, "confirm": confirm})
        job = started["run"]
        for _ in range(600):  # written once every contact was read afresh
            if [p for p in (state / "snapshots").glob("deleted-*.csv") if "fail" not in p.name]:
                break
            await anyio.sleep(0.05)
        held = (await forget(h, ["p79@example.com"]))["receipt"]["result"]["people"][0]
        running = (await h.call("get_job", {"job_id": job["job_id"], "wait_seconds": 0}))["job"]
        zeb = (await forget(h, [ZEB]))["receipt"]["result"]["people"][0]
        while job["status"] == "working":
            job = (await h.call("get_job", {"job_id": job["job_id"], "wait_seconds": 50}))["job"]
    assert job["status"] == "completed"
    assert running["status"] == "working", running
    assert (zeb["forgotten"], zeb["kept"]) == (True, [])
    assert held["forgotten"] is False, held
    [why] = held["kept"]
    assert why.endswith(": its bulk run is working")
