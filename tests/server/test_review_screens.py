"""Review screens (MCP Apps): the server side, through the MCP client in both eras.

A client that declares Apps gets the bulk review screen named on `update_contacts` and
`delete_contacts`, the app-only `approve_run`, and each preview's approval nonce in the
result's `_meta` (never where the model reads). A client without Apps gets exactly what
it got before. The nonce is one-time, bound to its preview and its caller, and a run
approved with it is exactly the previewed one.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

from contacts_mcp.server.screens import APPROVAL_META, BULK_REVIEW
from contacts_mcp.server.surface import Surface
from tests.server.conftest import open_harness
from tests.server.test_bulk import ACME, account, selection, settings

pytestmark = pytest.mark.anyio

APPS = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]


async def apps_harness(era: str, tmp_path: Path) -> Any:
    return open_harness(era, None, settings(tmp_path), extensions=APPS)


def nonce_of(answer: CallToolResult) -> str:
    assert answer.meta is not None, "a preview for an Apps client carries its nonce"
    nonce = answer.meta[APPROVAL_META]["nonce"]
    assert isinstance(nonce, str)
    # Where the model reads, the nonce is nowhere.
    assert nonce not in json.dumps(answer.structured_content)
    assert all(nonce not in block.model_dump_json() for block in answer.content)
    return nonce


async def test_a_client_without_apps_sees_no_screen_tool_and_no_nonce(
    era: str, tmp_path: Path
) -> None:
    async for h in open_harness(era, None, settings(tmp_path)):
        tools = {tool.name: tool for tool in (await h.client.list_tools()).tools}
        assert "approve_run" not in tools
        assert len(tools) == 26
        await account(h, acme=3, others=1)
        search = await selection(h, ACME)
        preview = await h.client.call_tool("delete_contacts", {"search": search})
        assert not preview.is_error
        assert APPROVAL_META not in (preview.meta or {})


async def test_an_apps_client_gets_the_screen_and_a_nonce_only_the_screen_sees(
    era: str, tmp_path: Path
) -> None:
    async for h in await apps_harness(era, tmp_path):
        tools = {tool.name: tool for tool in (await h.client.list_tools()).tools}
        for name in ("update_contacts", "delete_contacts"):
            assert (tools[name].meta or {})["ui"] == {"resourceUri": BULK_REVIEW}
        assert (tools["approve_run"].meta or {})["ui"] == {
            "resourceUri": BULK_REVIEW,
            "visibility": ["app"],
        }
        await account(h, acme=12, others=1)  # past 10: an update previews too
        search = await selection(h, ACME)
        preview = await h.client.call_tool("delete_contacts", {"search": search})
        change = {"search": search, "add_segments": ["VIP"]}
        update = await h.client.call_tool("update_contacts", change)
        assert nonce_of(preview) != nonce_of(update)
        assert await h.count_contacts() == 13  # previews write nothing


async def test_approve_runs_exactly_the_previewed_delete_once(era: str, tmp_path: Path) -> None:
    async for h in await apps_harness(era, tmp_path):
        await account(h, acme=4, others=2)
        search = await selection(h, ACME)
        nonce = nonce_of(await h.client.call_tool("delete_contacts", {"search": search}))
        approved = await h.client.call_tool("approve_run", {"nonce": nonce, "approve": True})
        assert not approved.is_error, approved.content
        assert approved.structured_content is not None
        run = approved.structured_content["run"]
        while run["status"] == "working":
            run = (await h.call("get_job", run["next_call"]["arguments"]))["job"]
        assert run["status"] == "completed"
        assert run["result"]["done"] == 4
        assert await h.count_contacts() == 2
        assert {c["email"].split("@")[1] for c in await h.all_contacts()} == {"example.org"}
        # Spent: a second approval with the same nonce is refused, and writes nothing.
        again = await h.error("approve_run", {"nonce": nonce, "approve": True})
        assert "not valid: already used" in again


async def test_cancel_changes_nothing_and_spends_the_nonce(era: str, tmp_path: Path) -> None:
    async for h in await apps_harness(era, tmp_path):
        await account(h, acme=12, others=1)
        search = await selection(h, ACME)
        change = {"search": search, "unsubscribed": True}
        before = await h.all_contacts()
        nonce = nonce_of(await h.client.call_tool("update_contacts", change))
        cancelled = await h.call("approve_run", {"nonce": nonce, "approve": False})
        assert cancelled == {"run": None, "cancelled": True}
        assert await h.all_contacts() == before
        message = await h.error("approve_run", {"nonce": nonce, "approve": True})
        assert "Nothing was changed" in message


async def test_a_forged_nonce_or_one_for_a_changed_selection_writes_nothing(
    era: str, tmp_path: Path
) -> None:
    async for h in await apps_harness(era, tmp_path):
        await account(h, acme=3, others=1)
        search = await selection(h, ACME)
        nonce = nonce_of(await h.client.call_tool("delete_contacts", {"search": search}))
        forged = nonce[:-4] + ("AAAA" if not nonce.endswith("AAAA") else "BBBB")
        assert "not valid" in await h.error("approve_run", {"nonce": forged, "approve": True})
        # The set changed since the preview: the approval is refused as a confirm would be.
        await h.call("create_contact", {"email": "late@acme.com"})
        message = await h.error("approve_run", {"nonce": nonce, "approve": True})
        assert "The selection changed since the preview" in message
        assert await h.count_contacts() == 5


async def test_the_review_screen_is_served_as_an_mcp_app(era: str, tmp_path: Path) -> None:
    async for h in await apps_harness(era, tmp_path):
        listed = {r.uri: r for r in (await h.client.list_resources()).resources}
        assert listed[BULK_REVIEW].mime_type == APP_MIME_TYPE
        read = await h.client.read_resource(BULK_REVIEW)
        [content] = read.contents
        assert content.mime_type == APP_MIME_TYPE
        text = getattr(content, "text", "")
        assert text.lstrip().lower().startswith("<!doctype html>")
        # Self-contained: nothing is fetched from outside when the host renders it.
        assert "<script src=" not in text
        assert 'rel="stylesheet" href=' not in text


REQUIRED = Surface(approval="required")


async def test_approval_required_refuses_a_run_nobody_approved(era: str, tmp_path: Path) -> None:
    """A client that can ask nobody: every bulk run is refused, and says why."""
    async for h in open_harness(era, None, settings(tmp_path), surface=REQUIRED):
        await account(h, acme=3, others=1)
        search = await selection(h, ACME)
        # Even a change of 3 contacts previews first: it would run at once otherwise.
        preview = (await h.call("update_contacts", {"search": search, "unsubscribed": True}))[
            "preview"
        ]
        update = {"search": search, "unsubscribed": True, "confirm": preview["confirm"]}
        message = await h.error("update_contacts", update)
        assert "only when a person approves them (--approval required)" in message
        assert "can ask nobody" in message
        token = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
        message = await h.error("delete_contacts", {"search": search, "confirm": token})
        assert "nothing was deleted" in message
        assert await h.count_contacts() == 4


async def test_approval_required_takes_the_screens_approve(era: str, tmp_path: Path) -> None:
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS, surface=REQUIRED):
        await account(h, acme=3, others=1)
        search = await selection(h, ACME)
        preview = await h.client.call_tool("delete_contacts", {"search": search})
        nonce = nonce_of(preview)
        assert preview.structured_content is not None
        token = preview.structured_content["preview"]["confirm"]
        # The model's own confirmation is not a person's approval.
        message = await h.error("delete_contacts", {"search": search, "confirm": token})
        assert "Approve in the review screen" in message
        approved = await h.call("approve_run", {"nonce": nonce, "approve": True})
        run = approved["run"]
        while run["status"] == "working":
            run = (await h.call("get_job", run["next_call"]["arguments"]))["job"]
        assert run["result"]["done"] == 3
        assert await h.count_contacts() == 1


async def test_approval_required_takes_a_persons_yes_in_a_form(era: str, tmp_path: Path) -> None:
    async def person(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"approve": True})

    async for h in open_harness(
        era, None, settings(tmp_path), elicitation_callback=person, surface=REQUIRED
    ):
        await account(h, acme=3, others=1)
        search = await selection(h, ACME)
        token = (await h.call("delete_contacts", {"search": search}))["preview"]["confirm"]
        done = await h.client.call_tool("delete_contacts", {"search": search, "confirm": token})
        assert not done.is_error, done.content
        assert await h.count_contacts() == 1
