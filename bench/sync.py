"""A full sync of a large account into the mirror, from a standalone emulator.

    python -m bench.sync [--contacts 100000] [--segments 20]

The emulator's database is filled directly (fast), then served over HTTP by
`contacts-mcp emulator` with no effective rate limit, deliberately: this bench measures
raw sync speed, not pacing (at a team's 5 requests/s the ~3,200 pages of the default
account take about 11 minutes). The sync runs in a child process, through the same
code as `sync_contacts`, so its peak RSS is its own. Printed: seconds;
requests against the pages the account needs (goal ≤ 1.05x); peak RSS (goal ≤ 200 MB);
then a refresh of new contacts after 250 more were added elsewhere.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from bench.import_api import free_port, wait_for

# Stated and enforced, but far above what one client sends: "no limit" for the bench.
NO_LIMIT = 1_000_000


def fill(db: Path, contacts: int, segments: int) -> list[int]:
    """The account, written straight into the emulator's store; members per segment."""
    from contacts_mcp.emulator.store import Store

    rng = random.Random(3)
    store = Store(str(db))
    ids = [store.create_segment(f"Segment {i}").id for i in range(segments)]
    members = [0] * segments
    for i in range(contacts):
        # Segments of very different sizes: a few big ones, many small ones.
        chosen = [n for n in range(segments) if rng.random() < 0.6 / (n + 1)]
        for n in chosen:
            members[n] += 1
        store.create_contact(
            email=f"person{i}@example{i % 97}.com",
            first_name="Person",
            last_name=f"Number {i}",
            unsubscribed=rng.random() < 0.05,
            values={},
            segment_ids=[ids[n] for n in chosen],
            subscriptions={},
        )
    store.close()
    return members


async def child(port: int, folder: Path, mode: str) -> None:
    from contacts_mcp.backends import BackendConfig, open_client
    from contacts_mcp.services.mirror import Mirror
    from contacts_mcp.services.schema import SchemaService
    from contacts_mcp.services.sets import ContactsSets

    config = BackendConfig(api_key="re_bench_key", base_url=f"http://127.0.0.1:{port}")

    async def progress(done: float, total: float | None, message: str) -> None:
        return None

    mirror = Mirror(folder / "mirror.sqlite")
    async with open_client(config) as client:
        sets = ContactsSets(client, SchemaService(client), mirror)
        started = time.perf_counter()
        summary = await sets.sync(mode, properties=False, progress=progress)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    mirror.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, **summary.model_dump()}))


def run_child(port: int, folder: Path, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.sync", "--child", str(port), str(folder), mode],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def add_contacts(db: Path, count: int) -> None:
    from contacts_mcp.emulator.store import Store

    store = Store(str(db))
    for i in range(count):
        store.create_contact(
            email=f"newcomer{i}@example.com", first_name=None, last_name=None,
            unsubscribed=False, values={}, segment_ids=[], subscriptions={},
        )  # fmt: skip
    store.close()


def main(contacts: int, segments: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "emulator.db"
        started = time.perf_counter()
        members = fill(db, contacts, segments)
        print(
            f"filled the emulator: {contacts:,} contacts, {segments} segments, "
            f"{sum(members):,} memberships in {time.perf_counter() - started:.1f} s"
        )
        port = free_port()
        emulator = subprocess.Popen(
            [sys.executable, "-m", "contacts_mcp", "emulator", "--port", str(port),
             "--db", str(db), "--rate-limit", str(NO_LIMIT)],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(port)
            full = run_child(port, folder, "full")
            add_contacts(db, 250)
            new = run_child(port, folder, "new")
        finally:
            emulator.terminate()
            emulator.wait(timeout=60)
    # Pages the account needs: its contacts, one list of segments (up to 100 a page)
    # and each segment's members, 100 a page (an empty segment still takes one request).
    needed = (
        math.ceil(contacts / 100)
        + math.ceil(segments / 100)
        + sum(max(1, math.ceil(n / 100)) for n in members)
    )
    print(
        f"full sync of {contacts:,} contacts in {segments} segments "
        "(standalone emulator, no rate limit: raw speed):"
    )
    print(f"  time       : {full['seconds']:.1f} s  ({contacts / full['seconds']:,.0f} contacts/s)")
    print(
        f"  requests   : {full['requests']:,} for {needed:,} pages needed = "
        f"{full['requests'] / needed:.3f}x  (goal ≤ 1.05x)"
    )
    print(f"  peak RSS   : {full['peak_mb']:.0f} MB  (goal ≤ 200 MB)")
    print(f"  mirrored   : {full['contacts']:,} contacts, {full['segments']} segments")
    print("refresh of new contacts after 250 were added elsewhere:")
    print(
        f"  {new['seconds']:.2f} s, {new['requests']} requests, {new['new_contacts']} new, "
        f"{new['contacts']:,} contacts mirrored"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--child", nargs=3, metavar=("PORT", "DIR", "MODE"))
    args = parser.parse_args()
    if args.child:
        anyio.run(child, int(args.child[0]), Path(args.child[1]), args.child[2])
    else:
        main(args.contacts, args.segments)
