"""One database file, several emulators: every `--local` server runs one on the per-user
database, and `contacts-mcp emulator` may serve it too."""

import json
import sys
from pathlib import Path
from subprocess import PIPE

import anyio
import pytest

from contacts_mcp.emulator.store import PageRequest, Store

pytestmark = pytest.mark.anyio

EMAILS = [f"someone{n}@example.com" for n in range(40)]

# One emulator process: opens the store (the first ones create the file and its schema
# together), says it is ready, waits for "go", creates every address (in reverse order in
# half of them), and prints which it created and how many `contact.created` events fired.
CREATOR = """
import json, sys
from contacts_mcp.emulator.store import PageRequest, Store

store = Store(sys.argv[1])
events = []
store.contact_listener = lambda kind, contact, segments: events.append(kind)
store.open()
print("ready", flush=True)
sys.stdin.readline()
emails = json.loads(sys.argv[2])
created = [
    email
    for email in (emails if int(sys.argv[3]) % 2 else emails[::-1])
    if store.create_contact(
        email=email, first_name=None, last_name=None, unsubscribed=False, values={},
        segment_ids=[], subscriptions={},
    )[1]
]
store.close()
print(json.dumps({"created": created, "events": events}), flush=True)
"""


async def test_emulators_on_one_file_create_each_address_once(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    outputs: list[bytes] = []

    async def emulator(number: int, ready: anyio.Event, go: anyio.Event) -> None:
        command = [sys.executable, "-c", CREATOR, str(db), json.dumps(EMAILS), str(number)]
        async with await anyio.open_process(command, stdin=PIPE, stdout=PIPE) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            said = b""
            while b"\n" not in said:
                said += await process.stdout.receive()
            ready.set()
            await go.wait()
            await process.stdin.send(b"go\n")
            async for chunk in process.stdout:
                said += chunk
            assert await process.wait() == 0
        outputs.append(said.split(b"\n", 1)[1])

    readies = [anyio.Event() for _ in range(4)]
    go = anyio.Event()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            for number, ready in enumerate(readies):
                tasks.start_soon(emulator, number, ready, go)
            for ready in readies:
                await ready.wait()
            go.set()

    results = [json.loads(output) for output in outputs]
    created = sorted(email for result in results for email in result["created"])
    assert created == sorted(EMAILS)
    assert sum(len(result["events"]) for result in results) == len(EMAILS)
    store = Store(str(db))
    assert sorted(c.email for c in store.list_contacts(PageRequest()).items) == sorted(EMAILS)
    store.close()
