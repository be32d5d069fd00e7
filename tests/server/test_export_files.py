"""Files written where others write too: an export never writes through a link or pipe
planted in its folder, never writes into the server's data folder, and `overwrite`
replaces only the server's own exports. Snapshots are private to their user."""

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from tests.server.conftest import Harness, open_harness
from tests.server.test_bulk import ACME, account, selection
from tests.server.test_bulk_change import finish

pytestmark = pytest.mark.anyio


@pytest.fixture
async def h(era: str, tmp_path: Path) -> AsyncIterator[Harness]:
    # The import folder holds the server's data folder, as a home folder would.
    settings = ImportSettings(
        files=FilePolicy(allowed_dirs=(tmp_path / "home",)), state_dir=tmp_path / "home" / "data"
    )
    (tmp_path / "home").mkdir()
    async for harness in open_harness(era, None, settings):
        await account(harness, acme=2, others=1)
        yield harness


async def export(h: Harness, path: str, **extra: object) -> str:
    """The error of exporting the acme.com contacts to `path`; "" once written."""
    arguments = {"search": await selection(h, ACME), "path": path, **extra}
    result = await h.client.call_tool("export_contacts", arguments)
    if result.is_error:
        text = result.content[0]
        assert text.type == "text"
        return text.text
    assert result.structured_content is not None
    assert (await finish(h, result.structured_content))["rows"] == 2
    return ""


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".partial"))


async def test_overwrite_replaces_only_this_servers_own_exports(h: Harness, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "mine.csv").write_text("a person's own file")
    refused = await export(h, "mine.csv", overwrite=True)
    assert "not written by an export of this server" in refused
    assert (home / "mine.csv").read_text() == "a person's own file"
    assert await export(h, "out.csv") == ""
    taken = await export(h, "out.csv")
    assert "already exists" in taken
    assert await export(h, "out.csv", overwrite=True) == ""  # its own, unchanged
    assert "user0@acme.com" in (home / "out.csv").read_text()
    (home / "out.csv").write_text("edited since")
    edited = await export(h, "out.csv", overwrite=True)
    assert "changed since" in edited
    assert (home / "out.csv").read_text() == "edited since"
    assert leftovers(home) == []


async def test_a_link_or_pipe_planted_in_the_folder_is_never_written_through(
    h: Harness, tmp_path: Path
) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside.txt"
    outside.write_text("not yours")
    # Where the partial file used to go, and the names themselves.
    (home / "a.csv.partial").symlink_to(outside)
    os.mkfifo(home / "b.csv.partial")
    (home / "c.csv").symlink_to(outside)
    os.mkfifo(home / "d.csv")
    with anyio.fail_after(30):  # a pipe opened for writing would block forever
        assert await export(h, "a.csv") == ""
        assert await export(h, "b.csv") == ""
        linked = await export(h, "c.csv", overwrite=True)
        piped = await export(h, "d.csv", overwrite=True)
    assert outside.read_text() == "not yours"
    assert "user0@acme.com" in (home / "a.csv").read_text()
    assert "user0@acme.com" in (home / "b.csv").read_text()
    assert "is a link" in linked
    assert "not a regular file" in piped
    assert stat.S_ISFIFO(os.lstat(home / "d.csv").st_mode)
    # The planted ones are left as they were; ours leave nothing behind.
    assert leftovers(home) == ["a.csv.partial", "b.csv.partial"]
    assert os.path.islink(home / "a.csv.partial")


async def test_an_export_never_writes_into_the_data_folder(h: Harness, tmp_path: Path) -> None:
    home = tmp_path / "home"
    search = await selection(h, ACME)
    preview = (await h.call("delete_contacts", {"search": search}))["preview"]
    deleted = await h.call("delete_contacts", {"search": search, "confirm": preview["confirm"]})
    snapshot = Path((await finish(h, deleted["run"]))["snapshot_file"])
    assert snapshot.parent == home / "data" / "snapshots"
    kept = snapshot.read_bytes()
    for path, overwrite in [
        (str(snapshot), True),
        (f"data/snapshots/{snapshot.name}", True),
        ("data/snapshots/new.csv", False),
        ("data/new.csv", False),
    ]:
        refused = await export(h, path, overwrite=overwrite)
        assert "the server's own data folder" in refused, refused
    assert snapshot.read_bytes() == kept
    assert not (home / "data" / "new.csv").exists()
    # The last copy of deleted people: this user's alone.
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(snapshot.parent).st_mode) == 0o700


async def test_a_value_a_csv_cannot_carry_stops_the_write_before_anything_happens(
    h: Harness, tmp_path: Path
) -> None:
    await h.seed("POST", "/contacts", {"email": "nul@acme.com", "properties": {"plan": "a\x00b"}})
    refused = await export(h, "nul.csv")
    assert "nul@acme.com's plan holds a NUL character" in refused
    assert not (tmp_path / "home" / "nul.csv").exists()
    search = await selection(h, ACME)
    preview = (await h.call("delete_contacts", {"search": search}))["preview"]
    refused = await h.error("delete_contacts", {"search": search, "confirm": preview["confirm"]})
    assert "holds a NUL character" in refused
    assert "nothing was deleted" in refused
    assert await h.count_contacts() == 4  # nothing deleted: the snapshot comes first
    assert leftovers(tmp_path / "home" / "data" / "snapshots") == []


async def test_a_snapshot_restores_topic_choices_and_never_opts_an_existing_contact_in(
    h: Harness, tmp_path: Path
) -> None:
    weekly = await h.seed("POST", "/topics", {"name": "Weekly", "default_subscription": "opt_in"})
    offers = await h.seed("POST", "/topics", {"name": "Offers", "default_subscription": "opt_out"})
    choices = [
        {"id": weekly["id"], "subscription": "opt_out"},
        {"id": offers["id"], "subscription": "opt_in"},
    ]
    for email in ("gone@acme.com", "back@acme.com"):
        await h.seed("POST", "/contacts", {"email": email, "topics": choices})
    named = {"contacts": ["gone@acme.com", "back@acme.com"]}
    preview = (await h.call("delete_contacts", named))["preview"]
    # The preview prices the snapshot's reads of topic choices, one request each.
    assert "each contact's topic choices" in preview["notes"][0]
    confirmed = {**named, "confirm": preview["confirm"]}
    deleted = await finish(h, (await h.call("delete_contacts", confirmed))["run"])
    assert deleted["done"] == 2
    # Meanwhile one address is created again elsewhere, with the topics' defaults.
    await h.seed("POST", "/contacts", {"email": "back@acme.com"})
    summary = await h.job(
        "import_contacts",
        {
            "path": deleted["snapshot_file"],
            "columns": {"email": "email", "topics": "topics"},
            "on_conflict": "upsert",
            "strategy": "rows",
        },
    )
    assert (summary["created"], summary["updated"], summary["failed"]) == (1, 1, 0)

    async def topics_of(email: str) -> dict[str, str]:
        listed = await h.seed("GET", f"/contacts/{email}/topics")
        return {t["name"]: t["subscription"] for t in listed["data"]}

    # Restored as they were; the existing contact takes the opt-out, never the opt-in.
    assert await topics_of("gone@acme.com") == {"Weekly": "opt_out", "Offers": "opt_in"}
    assert await topics_of("back@acme.com") == {"Weekly": "opt_out", "Offers": "opt_out"}
