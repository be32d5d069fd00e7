"""Several host windows on one data folder: real server processes over stdio, at once.

Claude Desktop and Claude Code each start their own `contacts-mcp`; with `--local` they
share the emulator's database, and whatever the backend they share the per-user data
folder (mirrors, job journal, locks). Here 2 or 4 of them create and update overlapping
contacts all at once: no call may fail, each new contact is reported created exactly
once, and every SQLite file ends intact.
"""

import os
import socket
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Literal

import anyio
import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio

Kind = Literal["local", "remote"]
"""`--local` on the shared database, or a Resend key and `--base-url` pointed at a
standalone `contacts-mcp emulator` serving that same database."""

CONTACTS_EACH = 16
LAST_NAME = "Shared"


def emails_for(window: int) -> list[str]:
    # Each window's second half is the next window's first half.
    start = window * CONTACTS_EACH // 2
    return [f"person{n}@example.com" for n in range(start, start + CONTACTS_EACH)]


class Together:
    """Lets `parties` tasks go on only once all of them have come."""

    def __init__(self, parties: int) -> None:
        self._missing = parties
        self._all_here = anyio.Event()

    async def wait(self) -> None:
        self._missing -= 1
        if self._missing == 0:
            self._all_here.set()
        await self._all_here.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def standalone_emulator(db: Path, env: dict[str, str]) -> AsyncIterator[str]:
    """`contacts-mcp emulator` on `db`; its base URL. Its rate limit is out of the way:
    each server paces itself at the limit it states, and this test is not about pacing."""
    port = free_port()
    command = [sys.executable, "-m", "contacts_mcp", "emulator", "--db", str(db)]
    command += ["--port", str(port), "--rate-limit", "100000"]
    async with await anyio.open_process(command, env=env, stdout=None, stderr=None) as process:
        try:
            with anyio.fail_after(30):
                while True:
                    assert process.returncode is None, "the emulator stopped"
                    try:
                        stream = await anyio.connect_tcp("127.0.0.1", port)
                    except OSError:
                        await anyio.sleep(0.05)  # starting up: poll, within the bound above
                    else:
                        await stream.aclose()
                        break
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            with anyio.fail_after(10):
                await process.wait()


@asynccontextmanager
async def no_emulator() -> AsyncIterator[str]:
    yield ""


def server_parameters(
    kind: Kind, db: Path, base_url: str, env: dict[str, str]
) -> StdioServerParameters:
    if kind == "local":
        return StdioServerParameters(
            command=sys.executable, args=["-m", "contacts_mcp", "--local", "--db", str(db)], env=env
        )
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "contacts_mcp", "--base-url", base_url],
        env={**env, "RESEND_API_KEY": "re_shared_folder_test"},
    )


@pytest.mark.parametrize(
    "kinds",
    [("local", "local"), ("local", "local", "remote", "remote")],
    ids=["2-local", "2-local-2-remote"],
)
async def test_windows_on_one_data_folder_create_each_contact_once_and_never_fail(
    kinds: tuple[Kind, ...], tmp_path: Path
) -> None:
    db = tmp_path / "emulator.db"
    data = tmp_path / "data"
    # The data folder of every platform (`default_db_path`), inside the test's folder.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEND_")}
    env |= {"XDG_DATA_HOME": str(data), "LOCALAPPDATA": str(data), "HOME": str(data)}
    everyone = {email for number in range(len(kinds)) for email in emails_for(number)}
    errors: list[str] = []
    created: Counter[str] = Counter()
    counted: list[int] = []
    started, written = Together(len(kinds)), Together(len(kinds))

    async def window(number: int, kind: Kind, base_url: str) -> None:
        async with Client(server_parameters(kind, db, base_url, env)) as client:
            await client.list_tools()
            await started.wait()

            async def create_then_update(email: str) -> None:
                answer = await client.call_tool("create_contact", {"email": email})
                if answer.is_error:
                    errors.append(f"window {number} create {email}: {answer.content}")
                    return
                assert answer.structured_content is not None
                if answer.structured_content["created"]:
                    created[email] += 1
                answer = await client.call_tool(
                    "update_contact",
                    {"contact": email, "first_name": f"W{number}", "last_name": LAST_NAME},
                )
                if answer.is_error:
                    errors.append(f"window {number} update {email}: {answer.content}")

            async with anyio.create_task_group() as calls:
                for email in emails_for(number):
                    calls.start_soon(create_then_update, email)
            # Then every window refreshes its account's mirror at once (the `--local` ones
            # share one), and counts from it.
            await written.wait()
            answer = await client.call_tool(
                "search_contacts",
                {"where": [{"field": "last_name", "op": "eq", "value": LAST_NAME}]}
                | {"count_only": True, "refresh": "full"},
            )
            if answer.is_error:
                errors.append(f"window {number} search: {answer.content}")
                return
            assert answer.structured_content is not None
            counted.append(answer.structured_content["count"])

    emulator = standalone_emulator(db, env) if "remote" in kinds else no_emulator()
    with anyio.fail_after(90):
        async with emulator as url, anyio.create_task_group() as windows:
            for number, kind in enumerate(kinds):
                windows.start_soon(window, number, kind, url)

    assert errors == []
    assert created == Counter(dict.fromkeys(everyone, 1))
    assert counted == [len(everyone)] * len(kinds)
    # Each contact once in the database, with the names of a window that updated it.
    with closing(sqlite3.connect(db)) as store:
        rows = store.execute("SELECT email, first_name, last_name FROM contacts").fetchall()
    assert sorted(email for email, _, _ in rows) == sorted(everyone)
    for email, first_name, last_name in rows:
        writers = {f"W{n}" for n in range(len(kinds)) if email in emails_for(n)}
        assert first_name in writers, (email, first_name)
        assert last_name == LAST_NAME
    # Every file the windows shared is intact: the database, mirrors and job journal.
    shared = [db, *data.rglob("*.sqlite")]
    assert len(shared) >= 3
    for path in shared:
        with closing(sqlite3.connect(path)) as file:
            assert file.execute("PRAGMA integrity_check").fetchone() == ("ok",), path
