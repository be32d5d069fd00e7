"""A contact deleted from the emulator leaves no trace in its database file or WAL: the
local account's file is personal data, and deleting a contact is how a person is forgotten."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

from contacts_mcp.api.client import ResendClient, build_http_client
from contacts_mcp.api.pacing import RatePacer
from contacts_mcp.emulator import EmulatorOptions, create_app
from contacts_mcp.emulator.store import Store

pytestmark = pytest.mark.anyio

EMAIL = "Zebulonia.Quixthorpe@Example.org"
FIRST, LAST = "Zebulonia", "Quixthorpe"
# Two values, so that an old version of the row must go too.
COLOURS = ("marzipanlilac", "tangerinequartz")
OTHERS = ["ada@example.com", "grace@example.com", "alan@example.com"]


@dataclass
class Emulator:
    client: ResendClient
    store: Store
    db_path: Path


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    db_path = tmp_path / "contacts.db"
    # A stated limit far above what the tests send, so that the pacer never waits.
    app = create_app(EmulatorOptions(db_path=str(db_path), stated_rate_limit=1000))
    transport = httpx.ASGITransport(app=app)
    async with build_http_client(base_url="http://emulator", transport=transport) as http:
        client = ResendClient(http, api_key="re_test", pacer=RatePacer())
        yield Emulator(client, app.state.store, db_path)
    app.state.store.close()


async def create_people(client: ResendClient) -> str:
    """The contact to forget, among others, in a segment and a topic; returns its id."""
    await client.create_contact_property("colour", "string")
    segment = (await client.create_segment("Friends")).id
    topic = (await client.create_topic("News", "opt_in")).id
    for other in OTHERS:
        await client.create_contact(
            other, first_name="Other", properties={"colour": "grey"}, segments=[segment]
        )
    created = await client.create_contact(
        EMAIL,
        first_name=FIRST,
        last_name=LAST,
        properties={"colour": COLOURS[0]},
        segments=[segment],
        topics={topic: "opt_out"},
    )
    await client.update_contact(EMAIL, properties={"colour": COLOURS[1]})
    return created.id


def on_disk(db_path: Path) -> bytes:
    """The database file and its companions, lower-cased, as they are on disk now."""
    files = [db_path, *(db_path.with_name(db_path.name + end) for end in ("-wal", "-shm"))]
    return b"".join(path.read_bytes() for path in files if path.exists()).lower()


def traces(db_path: Path, contact_id: str) -> list[str]:
    """What of the forgotten contact is still on disk."""
    raw = on_disk(db_path)
    found = [EMAIL, FIRST, LAST, *COLOURS, contact_id]
    return [value for value in found if value.lower().encode() in raw]


async def test_a_deleted_contact_leaves_nothing_on_disk(emulator: Emulator) -> None:
    contact_id = await create_people(emulator.client)
    assert traces(emulator.db_path, contact_id) == [EMAIL, FIRST, LAST, *COLOURS, contact_id]

    deleted = await emulator.client.delete_contact(EMAIL.upper())

    assert deleted.contact == contact_id
    assert traces(emulator.db_path, contact_id) == []
    raw = on_disk(emulator.db_path)
    assert all(other.encode() in raw for other in OTHERS)
    emulator.store.close()
    assert traces(emulator.db_path, contact_id) == []


async def test_a_reader_of_the_file_delays_the_erasure_but_not_the_delete(
    emulator: Emulator,
) -> None:
    contact_id = await create_people(emulator.client)
    # Another process's emulator, in the middle of a read: the WAL cannot be truncated.
    with closing(sqlite3.connect(emulator.db_path, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM contacts").fetchone()
        with anyio.fail_after(5):  # not the 30 s busy timeout
            await emulator.client.delete_contact(EMAIL)
        reader.execute("COMMIT")

    # The next write finishes the erasure.
    await emulator.client.create_contact("someone.else@example.com")
    assert traces(emulator.db_path, contact_id) == []
    with closing(sqlite3.connect(emulator.db_path)) as db:
        left = db.execute(
            "SELECT (SELECT COUNT(*) FROM property_values WHERE contact_id = ?)"
            " + (SELECT COUNT(*) FROM segment_members WHERE contact_id = ?)"
            " + (SELECT COUNT(*) FROM topic_subscriptions WHERE contact_id = ?)",
            (contact_id, contact_id, contact_id),
        ).fetchone()[0]
    assert left == 0
