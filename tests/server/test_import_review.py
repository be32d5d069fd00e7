"""The import review screen, server side, through the MCP client in both eras.

A client that declares MCP Apps gets, with each preview_import answer, a one-time nonce
in `_meta` only (never where the model reads) approving the import of exactly that
preview's `import_arguments`; the screen's app-only `approve_import` spends it, with the
person's `on_conflict`. An edited mapping is checked by previewing again: that answer's
nonce approves the edited mapping. A client without Apps gets exactly today's answers.
Under `--approval required`, an import that would update existing contacts runs only on
a person's approval.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server.screens import APPROVAL_META, IMPORT_REVIEW
from contacts_mcp.server.surface import Surface
from tests.server.conftest import Harness, open_harness
from tests.server.test_review_screens import APPS

pytestmark = pytest.mark.anyio

# Ada exists already (an upsert updates her); a bad address, a duplicate, and two columns
# the edited mapping changes: Seats (a new number property) and Notes (skipped).
CSV = (
    "Email,First Name,Seats,Notes\n"
    "ada@example.com,Ada,3,first\n"
    "grace@example.com,Grace,12,second\n"
    "not-an-address,Nobody,1,third\n"
    "GRACE@example.com,Grace again,2,fourth\n"
    "alan@example.com,Alan,7,fifth\n"
)
EDITED = {"Email": "email", "First Name": "first_name", "Seats": "seats", "Notes": "skip"}


def settings(tmp_path: Path) -> ImportSettings:
    return ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path / "state")


def nonce_of(answer: CallToolResult) -> str:
    assert not answer.is_error, answer.content
    assert answer.meta is not None, "a preview for an Apps client carries its nonce"
    nonce = answer.meta[APPROVAL_META]["nonce"]
    assert isinstance(nonce, str)
    assert nonce not in json.dumps(answer.structured_content)
    assert all(nonce not in block.model_dump_json() for block in answer.content)
    return nonce


async def seed_ada(h: Harness) -> None:
    await h.seed("POST", "/contacts", {"email": "ada@example.com", "first_name": "Augusta"})


async def by_email(h: Harness) -> dict[str, dict[str, Any]]:
    """Every contact, read whole (a list leaves out property values), by email."""
    found = {}
    for listed in await h.all_contacts():
        contact = await h.seed("GET", f"/contacts/{listed['id']}")
        found[contact["email"]] = contact
    return found


async def property_keys(h: Harness) -> dict[str, str]:
    listed = await h.seed("GET", "/contact-properties")
    return {p["key"]: p["type"] for p in listed["data"]}


async def finished(h: Harness, run: dict[str, Any]) -> dict[str, Any]:
    while run["status"] == "working":
        run = (await h.call("get_job", run["next_call"]["arguments"]))["job"]
    assert run["status"] == "completed", run
    return run


async def test_a_client_without_apps_gets_todays_answers(era: str, tmp_path: Path) -> None:
    async for h in open_harness(era, None, settings(tmp_path)):
        names = {tool.name for tool in (await h.client.list_tools()).tools}
        assert "approve_import" not in names
        preview = await h.client.call_tool("preview_import", {"csv_text": CSV})
        assert not preview.is_error
        assert APPROVAL_META not in (preview.meta or {})
        message = await h.error("preview_import", {})
        assert "Give exactly one of `path`" in message
        assert "import screen" not in message


async def test_an_apps_client_gets_the_screen_and_a_nonce_only_the_screen_sees(
    era: str, tmp_path: Path
) -> None:
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS):
        tools = {tool.name: tool for tool in (await h.client.list_tools()).tools}
        assert (tools["preview_import"].meta or {})["ui"] == {"resourceUri": IMPORT_REVIEW}
        assert (tools["approve_import"].meta or {})["ui"] == {
            "resourceUri": IMPORT_REVIEW,
            "visibility": ["app"],
        }
        first = nonce_of(await h.client.call_tool("preview_import", {"csv_text": CSV}))
        again = nonce_of(await h.client.call_tool("preview_import", {"csv_text": CSV}))
        assert first != again  # one per answer
        # No file: the model is told the person can pick one in the screen.
        assert "pick a CSV file" in await h.error("preview_import", {})
        assert await h.count_contacts() == 0  # previews write nothing


async def test_approve_runs_exactly_the_checked_mapping_with_the_persons_choice(
    era: str, tmp_path: Path
) -> None:
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS):
        await seed_ada(h)
        proposed = await h.client.call_tool("preview_import", {"csv_text": CSV})
        assert proposed.structured_content is not None
        columns = proposed.structured_content["result"]["column_map"]
        assert columns["Notes"] != "skip"  # proposed as a new property
        # The person edits the mapping; the screen checks it by previewing again.
        edit = {"csv_text": CSV, "columns": EDITED, "new_properties": {"seats": "number"}}
        checked = await h.client.call_tool("preview_import", edit)
        nonce = nonce_of(checked)
        assert checked.structured_content is not None
        report = checked.structured_content["result"]
        assert report["new_properties"] == {"seats": "number"}
        assert (report["rows"], report["importable_rows"]) == (5, 3)

        approved = await h.call(
            "approve_import", {"nonce": nonce, "approve": True, "on_conflict": "upsert"}
        )
        assert approved["cancelled"] is False
        summary = (await finished(h, approved["run"]))["result"]
        assert (summary["created"], summary["updated"], summary["failed"]) == (2, 1, 1)
        assert summary["duplicates"] == 1
        assert await property_keys(h) == {"seats": "number"}  # no "notes": it was skipped
        contacts = await by_email(h)
        assert sorted(contacts) == ["ada@example.com", "alan@example.com", "grace@example.com"]
        assert contacts["ada@example.com"]["first_name"] == "Ada"  # upsert: updated
        seats = {e: c["properties"]["seats"]["value"] for e, c in contacts.items()}
        assert seats == {"ada@example.com": 3, "alan@example.com": 7, "grace@example.com": 12}
        # Spent: the same nonce cannot import again.
        again = {"nonce": nonce, "approve": True, "on_conflict": "upsert"}
        assert "not valid" in await h.error("approve_import", again)


async def test_skip_leaves_existing_contacts_as_they_are(era: str, tmp_path: Path) -> None:
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS):
        await seed_ada(h)
        nonce = nonce_of(await h.client.call_tool("preview_import", {"csv_text": CSV}))
        approved = await h.call("approve_import", {"nonce": nonce, "approve": True})
        summary = (await finished(h, approved["run"]))["result"]
        assert (summary["created"], summary["updated"], summary["skipped"]) == (2, 0, 1)
        contacts = await by_email(h)
        assert contacts["ada@example.com"]["first_name"] == "Augusta"


async def test_cancel_writes_nothing_and_spends_the_nonce(era: str, tmp_path: Path) -> None:
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS):
        nonce = nonce_of(await h.client.call_tool("preview_import", {"csv_text": CSV}))
        cancelled = await h.call("approve_import", {"nonce": nonce, "approve": False})
        assert cancelled == {"run": None, "cancelled": True}
        message = await h.error("approve_import", {"nonce": nonce, "approve": True})
        assert "Nothing was imported" in message
        assert await h.count_contacts() == 0
        assert await property_keys(h) == {}


async def test_forged_foreign_and_bulk_nonces_are_refused_and_write_nothing(
    era: str, tmp_path: Path
) -> None:
    who = {"name": "alice"}
    surface = Surface(caller=lambda: who["name"])
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS, surface=surface):
        nonce = nonce_of(await h.client.call_tool("preview_import", {"csv_text": CSV}))
        forged = nonce[:-4] + ("AAAA" if not nonce.endswith("AAAA") else "BBBB")
        yes = {"approve": True, "on_conflict": "upsert"}
        assert "not valid" in await h.error("approve_import", {"nonce": forged, **yes})
        # Another caller cannot use alice's nonce (nor spend it: it still works for her).
        who["name"] = "mallory"
        assert "not valid" in await h.error("approve_import", {"nonce": nonce, **yes})
        # A nonce for a bulk change approves no import.
        for i in range(12):
            await h.seed("POST", "/contacts", {"email": f"m{i}@acme.com"})
        delete = await h.client.call_tool("delete_contacts", {"contacts": ["m0@acme.com"]})
        bulk = nonce_of(delete)
        assert "not valid" in await h.error("approve_import", {"nonce": bulk, **yes})
        # Nor does an import's nonce approve a bulk change.
        mallory = nonce_of(await h.client.call_tool("preview_import", {"csv_text": CSV}))
        refused = await h.client.call_tool("approve_run", {"nonce": mallory, "approve": True})
        assert refused.is_error
        assert await h.count_contacts() == 12
        assert await property_keys(h) == {}
        who["name"] = "alice"
        approved = await h.call("approve_import", {"nonce": nonce, **yes})
        assert (await finished(h, approved["run"]))["result"]["created"] == 3


REQUIRED = Surface(approval="required")


async def test_approval_required_refuses_an_update_nobody_approved(
    era: str, tmp_path: Path
) -> None:
    """A client that can ask nobody: an upsert import is refused; creating only and dry
    runs run as before."""
    async for h in open_harness(era, None, settings(tmp_path), surface=REQUIRED):
        await seed_ada(h)
        columns = {"Email": "email", "First Name": "first_name"}
        upsert = {"csv_text": CSV, "columns": columns, "on_conflict": "upsert"}
        message = await h.error("import_contacts", upsert)
        assert "only when a person approves (--approval required)" in message
        assert "can ask nobody" in message
        assert await h.count_contacts() == 1
        dry = await h.job("import_contacts", {**upsert, "dry_run": True})
        assert dry["dry_run"] is True
        assert await h.count_contacts() == 1
        created = await h.job("import_contacts", {**upsert, "on_conflict": "skip"})
        assert (created["created"], created["skipped"]) == (2, 1)
        assert (await by_email(h))["ada@example.com"]["first_name"] == "Augusta"


async def test_approval_required_takes_the_screens_approve(era: str, tmp_path: Path) -> None:
    surface = Surface(approval="required")
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS, surface=surface):
        await seed_ada(h)
        preview = await h.client.call_tool("preview_import", {"csv_text": CSV})
        nonce = nonce_of(preview)
        assert preview.structured_content is not None
        arguments = preview.structured_content["result"]["import_arguments"]
        model = {**arguments, "csv_text": CSV, "on_conflict": "upsert"}
        message = await h.error("import_contacts", model)
        assert "approves in the import screen" in message
        assert await h.count_contacts() == 1
        approved = await h.call(
            "approve_import", {"nonce": nonce, "approve": True, "on_conflict": "upsert"}
        )
        assert (await finished(h, approved["run"]))["result"]["updated"] == 1
        assert (await by_email(h))["ada@example.com"]["first_name"] == "Ada"


@pytest.mark.parametrize("yes", [True, False])
async def test_approval_required_asks_where_the_client_can(
    era: str, tmp_path: Path, yes: bool
) -> None:
    asked: list[str] = []

    async def person(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": yes})

    async for h in open_harness(
        era, None, settings(tmp_path), elicitation_callback=person, surface=REQUIRED
    ):
        await seed_ada(h)
        columns = {"Email": "email", "First Name": "first_name"}
        upsert = {"csv_text": CSV, "columns": columns, "on_conflict": "upsert"}
        if yes:
            summary = await h.job("import_contacts", upsert)
            assert (summary["created"], summary["updated"]) == (2, 1)
        else:
            assert "did not approve" in await h.error("import_contacts", upsert)
            assert await h.count_contacts() == 1
        assert len(asked) == 1
        assert "updating contacts that already exist" in asked[0]
        # Creating only is not asked about.
        await h.job("import_contacts", {**upsert, "on_conflict": "skip"})
        assert len(asked) == 1


async def test_a_read_only_server_offers_no_import_approval(era: str, tmp_path: Path) -> None:
    surface = Surface(read_only=True)
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS, surface=surface):
        names = {tool.name for tool in (await h.client.list_tools()).tools}
        assert "preview_import" in names
        assert "approve_import" not in names
        preview = await h.client.call_tool("preview_import", {"csv_text": CSV})
        assert not preview.is_error
        assert APPROVAL_META not in (preview.meta or {})
