"""SQLite files and a lock shared by the server processes on one data folder."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from subprocess import PIPE
from typing import Literal

import anyio
import anyio.lowlevel
import pytest

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig, open_client
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.services.mirror import Filter, Mirror
from contacts_mcp.services.schema import SchemaService
from contacts_mcp.services.sets import ContactsSets
from contacts_mcp.services.sharing import (
    BUSY_TIMEOUT_SECONDS,
    FolderLock,
    FolderLockTimeout,
    connect,
)

pytestmark = pytest.mark.anyio

# Another server process: holds the lock at `argv[1]`, says so, then waits to be killed.
HOLDER = """
import sys, anyio
from pathlib import Path
from subprocess import PIPE
from typing import Literal
from contacts_mcp.services.sharing import FolderLock

async def hold() -> None:
    async with FolderLock(Path(sys.argv[1])).held():
        print("held", flush=True)
        sys.stdin.readline()

anyio.run(hold)
"""


async def ignore_progress(done: float, total: float | None, message: str) -> None:
    pass


def test_a_shared_file_is_in_wal_mode_and_waits_for_another_writer(tmp_path: Path) -> None:
    db = connect(tmp_path / "folder" / "shared.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA busy_timeout").fetchone() == (BUSY_TIMEOUT_SECONDS * 1000,)
    db.close()


async def test_a_lock_another_process_holds_is_waited_for_and_freed_when_it_is_killed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locks" / "create.lock"
    lock = FolderLock(path)
    command = [sys.executable, "-c", HOLDER, str(path)]
    with anyio.fail_after(30):
        # Closing its stdin (on the way out) ends the holder if the test failed first.
        async with await anyio.open_process(command, stdin=PIPE, stdout=PIPE) as holder:
            assert holder.stdout is not None
            said = b""
            while not said.endswith(b"\n"):
                said += await holder.stdout.receive()
            assert said == b"held\n"
            told: list[str] = []

            async def waiting() -> None:
                told.append("waiting")

            with pytest.raises(FolderLockTimeout):
                async with lock.held(wait=0.3, on_wait=waiting):
                    pytest.fail("took a lock another process held")
            assert told == ["waiting"]
            # Killed, as a crashed or force-quit host's server is: the lock goes with it.
            holder.kill()
            await holder.wait()
        async with lock.held(wait=10):
            pass
    lock.close()


async def test_tasks_of_one_process_take_turns_and_a_cancelled_wait_leaves_it_usable(
    tmp_path: Path,
) -> None:
    lock = FolderLock(tmp_path / "sync.lock")
    inside: set[str] = set()
    overlapped = False

    async def take(name: str) -> None:
        nonlocal overlapped
        async with lock.held():
            overlapped |= bool(inside)
            inside.add(name)
            for _ in range(5):  # let the others run, and try to take it meanwhile
                await anyio.lowlevel.checkpoint()
            inside.discard(name)

    async def wait_for_it(give_up: Literal["timeout", "cancel"]) -> None:
        if give_up == "timeout":
            with pytest.raises(FolderLockTimeout):
                async with lock.held(wait=0.1):
                    pytest.fail("took a lock that was held")
        else:
            with anyio.move_on_after(0.1):  # a tool call cancelled while it waits
                async with lock.held():
                    pytest.fail("took a lock that was held")

    with anyio.fail_after(10):
        async with lock.held(), anyio.create_task_group() as others:
            others.start_soon(wait_for_it, "timeout")
            others.start_soon(wait_for_it, "cancel")
        async with anyio.create_task_group() as tasks:
            for name in ("a", "b", "c"):
                tasks.start_soon(take, name)
    assert not overlapped
    lock.close()


@asynccontextmanager
async def two_windows(
    tmp_path: Path, latencies: tuple[float, float], **locks: Path
) -> AsyncIterator[tuple[str, list[ContactsSets]]]:
    """Two host windows' servers on one account of 250 contacts, all in one segment: each
    with its own connections to the emulator's database and to the mirror, and the locks
    named in `locks` (`syncing`, `observing`) on the same files. Yields the segment's id."""
    db = tmp_path / "e.db"
    windows = [
        BackendConfig(
            api_key=LOCAL_API_KEY,
            local_db=str(db),
            emulator=EmulatorOptions(db_path=str(db), latency=latency),
        )
        for latency in latencies
    ]
    async with open_client(BackendConfig(api_key=LOCAL_API_KEY, local_db=str(db))) as seeder:
        segment = (await seeder.create_segment("Everyone")).id
        for n in range(250):  # three pages of the contacts' list, and of the segment's
            await seeder.create_contact(f"member{n}@example.com", segments=[segment])
    async with open_client(windows[0]) as one, open_client(windows[1]) as other:
        servers = [
            ContactsSets(
                client,
                SchemaService(client),
                Mirror(tmp_path / "mirror.sqlite"),
                **{name: FolderLock(path) for name, path in locks.items()},
            )
            for client in (one, other)
        ]
        yield segment, servers
        for server in servers:
            server.mirror.close()


def members(mirror_file: Path, segment_id: str) -> int:
    mirror = Mirror(mirror_file)
    found = mirror.search([Filter("segment", "in", segment_id)], limit=1, count_only=True)
    mirror.close()
    return found.count


async def test_two_servers_syncing_one_mirror_at_once_leave_it_whole(tmp_path: Path) -> None:
    lock = tmp_path / "sync.lock"
    async with two_windows(tmp_path, (0.001, 0.001), syncing=lock) as (segment, servers):
        with anyio.fail_after(60):
            async with anyio.create_task_group() as both:
                for sets in servers:
                    sync = partial(sets.sync, "full", properties=False, progress=ignore_progress)
                    both.start_soon(sync)
        assert servers[1].mirror.state().contacts == 250
    assert members(tmp_path / "mirror.sqlite", segment) == 250


async def test_two_servers_reading_one_segment_at_once_keep_all_its_members(
    tmp_path: Path,
) -> None:
    # The second window's server is the slower: its reading starts with the first one's
    # and ends after it.
    lock = tmp_path / "observe.lock"
    async with two_windows(tmp_path, (0.01, 0.03), observing=lock) as (segment, servers):
        await servers[0].sync("full", properties=False, progress=ignore_progress)
        with anyio.fail_after(60):
            async with anyio.create_task_group() as both:
                for sets in servers:
                    both.start_soon(sets.observe_segment, segment)
    assert members(tmp_path / "mirror.sqlite", segment) == 250
