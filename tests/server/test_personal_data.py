"""A person's access request: everything held about one email, from Resend and from
every local copy, after real tool calls put them there; in both eras. The request is
audited under a keyed hash, never the address."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from contacts_mcp.server.surface import AuditLog, Surface
from tests.server.test_local_data import seed_every_kind
from tests.server.test_private_files import Session, session

pytestmark = pytest.mark.anyio


async def access(h: Session, email: str) -> dict[str, Any]:
    answer = await h.client.call_tool("personal_data", {"email": email})
    assert not answer.is_error, answer.content
    found: dict[str, Any] | None = answer.structured_content
    assert found is not None
    return found


def kinds(answer: dict[str, Any]) -> set[str]:
    return {place["kind"] for place in answer["places"]}


async def test_everything_held_about_a_person_is_found(era: str, tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    audit_path = tmp_path / "audit" / "audit.log"
    surface = Surface(audit=AuditLog(audit_path))
    async with session(era, state, files, surface=surface) as h:
        await seed_every_kind(h, files)  # imports Ada, Ben, Cy; exports Ada; deletes Ben, Cy
        await h.call("update_contact", {"contact": "ada@example.com", "last_name": "Lovelace"})
        ada = await access(h, "ADA@example.com")  # any case
        cy = await access(h, "cy@example.com")
        nobody = await access(h, "nobody@example.com")
        refused = await h.client.call_tool("personal_data", {"email": "not an address"})
    # Ada: her contact at Resend, with what it holds, and each local copy.
    assert ada["resend"]["email"] == "ada@example.com"
    assert ada["resend"]["last_name"] == "Lovelace"
    assert {"mirror", "export", "import journal", "job", "audit log"} <= kinds(ada)
    [mirror] = [p for p in ada["places"] if p["kind"] == "mirror"]
    assert mirror["account"]
    assert mirror["records"][0]["first_name"] == "Ada"
    [export] = [p for p in ada["places"] if p["kind"] == "export"]
    assert export["where"] == str(files / "ada.csv")
    assert export["records"][0]["email"] == "ada@example.com"
    [audit] = [p for p in ada["places"] if p["kind"] == "audit log"]
    assert [line["tool"] for line in audit["records"]] == ["update_contact"]
    # Cy: deleted at Resend, still in the delete's snapshot and the import's journal.
    assert cy["resend"] is None
    # (and in the review screen's pending approval of that delete: its preview named her)
    assert {"snapshot", "import journal", "approval"} <= kinds(cy)
    assert "mirror" not in kinds(cy)
    [snapshot] = [p for p in cy["places"] if p["kind"] == "snapshot"]
    assert snapshot["count"] == 1
    assert snapshot["records"][0]["first_name"] == "Cy"
    # Nobody: nothing is held, and the answer says so plainly.
    assert (nobody["resend"], nobody["places"]) == (None, [])
    # Bad input: a clear error.
    assert refused.is_error
    assert "is not an email address" in refused.content[0].text  # type: ignore[union-attr]
    # Every request is audited, under a keyed hash: one per address, never the address.
    lines = [json.loads(line) for line in audit_path.read_text().splitlines()]
    requests = [line for line in lines if line["tool"] == "personal_data"]
    assert len(requests) == 3
    assert all(line["target"].startswith("hmac:") for line in requests)
    assert requests[0]["target"] != requests[1]["target"]
    assert "ada@example.com" not in json.dumps(requests)


async def test_the_text_answer_names_each_place(tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    async with session("auto", state, files) as h:
        await seed_every_kind(h, files)
        answer = await h.client.call_tool("personal_data", {"email": "cy@example.com"})
        nothing = await h.client.call_tool("personal_data", {"email": "zed@example.com"})
    text = answer.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Held about cy@example.com")
    assert "- Resend: no contact." in text
    assert "- snapshot: 1 record in " in text
    assert "not covered" in text
    assert nothing.content[0].text == (  # type: ignore[union-attr]
        "Nothing is held about zed@example.com: no contact at Resend, no local copy."
    )


async def test_a_remote_caller_sees_only_their_own_of_what_is_per_caller(tmp_path: Path) -> None:
    """Over HTTP each caller's jobs, uploads, exports, approvals and audit lines are
    theirs: another caller's access request does not read them (the account's own copies,
    such as the mirror, are every caller's)."""
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    who = {"name": "alice"}
    surface = Surface(audit=AuditLog(tmp_path / "audit.log"), caller=lambda: who["name"])
    async with session("auto", state, files, surface=surface) as h:
        await h.call("create_contact", {"email": "ada@example.com"})
        await h.job("export_contacts", {"contacts": ["ada@example.com"], "path": "ada.csv"})
        data = base64.b64encode(b"email\nada@example.com\n").decode()
        await h.call("upload_csv", {"data": data, "done": True})
        await h.call("search_contacts", {"where": []})
        alice = kinds(await access(h, "ada@example.com"))
        who["name"] = "mallory"
        mallory = kinds(await access(h, "ada@example.com"))
        who["name"] = "local"  # the operator, on this machine
        operator = kinds(await access(h, "ada@example.com"))
    assert {"mirror", "export", "upload", "job", "audit log"} <= alice
    assert mallory == {"mirror"}
    assert {"mirror", "export", "upload", "job", "audit log"} <= operator
