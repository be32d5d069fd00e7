"""The inventory of local data ("what do you keep?"): every kind, with its counts, as a
resource in both eras and from the command line, after real tool calls seeded each."""

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from contacts_mcp.server.resources import LOCAL_DATA
from tests.server.test_private_files import Session, session

pytestmark = pytest.mark.anyio


async def seed_every_kind(h: Session, files: Path) -> None:
    """Two imports (one bad row each time), a search, an export, a delete."""
    (files / "people.csv").write_text(
        "email,first_name\nada@example.com,Ada\nnot-an-email,Bob\nben@example.com,Ben\n"
        "cy@example.com,Cy\n"
    )
    await h.job(
        "import_contacts",
        {
            "path": str(files / "people.csv"),
            "columns": {"email": "email", "first_name": "first_name"},
            "on_conflict": "upsert",
            "strategy": "rows",  # its journal names every row's email
        },
    )
    await h.call("search_contacts", {"where": []})
    await h.job("export_contacts", {"contacts": ["ada@example.com"], "path": "ada.csv"})
    preview = await h.call("delete_contacts", {"contacts": ["cy@example.com", "ben@example.com"]})
    confirm = preview["preview"]["confirm"]
    await h.call(
        "delete_contacts", {"contacts": ["cy@example.com", "ben@example.com"], "confirm": confirm}
    )


def by_kind(inventory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {kind["kind"]: kind for kind in inventory["kinds"]}


def check(kinds: dict[str, dict[str, Any]], state: Path, files: Path) -> None:
    assert kinds["mirror"]["rows"] == 1  # Ada; Ben and Cy were deleted
    assert kinds["mirror"]["unit"] == "contact"
    [account] = kinds["mirror"]["accounts"]
    assert (state / "mirrors" / f"{account}.sqlite").exists()
    assert kinds["jobs"]["accounts"] == [account]
    assert kinds["jobs"]["rows"] >= 4  # the import, the sync, the export, the delete
    # The delete's snapshot (2 rows), and the import's undo journal (the 3 it created).
    assert (kinds["snapshots"]["files"], kinds["snapshots"]["rows"]) == (2, 5)
    assert kinds["failure reports"]["files"] == 1  # the import's bad row
    assert kinds["failure reports"]["rows"] == 1
    assert kinds["import journals"]["files"] == 2  # the journal and its summary
    assert kinds["import journals"]["rows"] >= 1
    assert (kinds["exports"]["files"], kinds["exports"]["rows"]) == (1, 1)
    assert kinds["local account"]["rows"] == 1
    assert kinds["uploads"]["files"] == 0
    for kind in kinds.values():
        if kind["files"]:
            assert kind["bytes"] > 0, kind
            assert kind["oldest"] <= kind["newest"], kind


async def test_the_inventory_lists_every_kind_seeded(era: str, tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    async with session(era, state, files) as h:
        await seed_every_kind(h, files)
        read = await h.client.read_resource(LOCAL_DATA)
    [contents] = read.contents
    assert hasattr(contents, "text")
    inventory = json.loads(contents.text)
    assert inventory["data_folder"] == str(state)
    check(by_kind(inventory), state, files)


async def test_data_status_from_the_command_line(tmp_path: Path) -> None:
    data_home = tmp_path / "xdg"
    state, files = data_home / "contacts-mcp", tmp_path / "files"
    files.mkdir()
    async with session("auto", state, files) as h:  # the default data folder of the CLI
        await seed_every_kind(h, files)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESEND_", "CONTACTS_MCP"))}
    env["XDG_DATA_HOME"] = str(data_home)
    command = [sys.executable, "-m", "contacts_mcp", "data", "status"]
    with anyio.fail_after(60):
        as_json = (await anyio.run_process([*command, "--json"], env=env)).stdout.decode()
        text = (await anyio.run_process(command, env=env)).stdout.decode()
    check(by_kind(json.loads(as_json)), state, files)
    assert f"Local data in {state}" in text
    assert "mirror: 1 file, 1 contact" in text
    assert "snapshots: 2 files, 5 contacts" in text
    assert "uploads: none" in text
    # Counts and places only: never a contact.
    assert "@example.com" not in text
    assert "@example.com" not in as_json
