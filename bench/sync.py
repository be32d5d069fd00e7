"""Full syncs of large accounts into the mirror, from a standalone emulator: does it scale?

    python -m bench.sync [--contacts 100000,300000,1000000] [--segments 20] [--searches 30]

For each size, the emulator's database is written directly (fast), then served over HTTP
by `contacts-mcp emulator` with no effective rate limit, deliberately: this bench measures
raw sync speed, not pacing (at a team's 5 requests/s, 100,000 contacts in 20 segments are
about 3,200 pages: 11 minutes). The sync runs in a child process, through the same code as
`search_contacts` with `refresh: "full"`, so its CPU time and peak RSS are its own (the
emulator's work is in the wall time, not in the CPU time). Then another child searches the
synced mirror the way `search_contacts` does (state, note, search) for p50/p95.

Printed per size: wall seconds and contacts/s; the sync process's CPU seconds (linear in
contacts is the goal); requests against the pages the account needs (goal ≤ 1.05x); peak
RSS of the sync process (goal flat in account size, ≤ 200 MB at 1M); search p95 (goal
≤ 100 ms at 1M). Then, for the first size, a refresh of new contacts after 250 were added.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from bench.common import percentile
from bench.import_api import free_port, wait_for

# Stated and enforced, but far above what one client sends: "no limit" for the bench.
NO_LIMIT = 1_000_000
BATCH = 20_000


def fill(db: Path, contacts: int, segments: int) -> list[int]:
    """The account, written straight into the emulator's tables in large transactions
    (its schema made by the store itself); members per segment."""
    from contacts_mcp.emulator.store import Store

    store = Store(str(db))
    store.open()  # creates the schema
    store.close()
    rng = random.Random(3)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    segment_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(segments)]
    members = [0] * segments
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO segments (id, name, created_at) VALUES (?, ?, ?)",
        [(sid, f"Segment {i}", _stamp(start)) for i, sid in enumerate(segment_ids)],
    )
    rows: list[tuple[object, ...]] = []
    memberships: list[tuple[str, str]] = []
    for i in range(contacts):
        contact_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        email = f"person{i}@example{i % 97}.com"
        created = _stamp(start + timedelta(seconds=i))
        rows.append(
            (contact_id, email, email, "Person", f"Number {i}", rng.random() < 0.05, created)
        )
        # Segments of very different sizes: a few big ones, many small ones.
        for n in range(segments):
            if rng.random() < 0.6 / (n + 1):
                members[n] += 1
                memberships.append((segment_ids[n], contact_id))
        if len(rows) >= BATCH or i == contacts - 1:
            connection.executemany(
                "INSERT INTO contacts (id, email, email_key, first_name, last_name, "
                "unsubscribed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            connection.executemany(
                "INSERT INTO segment_members (segment_id, contact_id) VALUES (?, ?)", memberships
            )
            rows.clear()
            memberships.clear()
    connection.execute("COMMIT")
    connection.close()
    return members


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


async def sync_child(port: int, folder: Path, mode: str) -> None:
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
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": usage.ru_utime + usage.ru_stime,
                "peak_mb": usage.ru_maxrss / 1024,
                **summary.model_dump(),
            }
        )
    )


def search_child(folder: Path, runs: int) -> None:
    """p50/p95 of what `search_contacts` does on the mirror: its state, its note, the
    search (a count and a page, for a few kinds of condition)."""
    from contacts_mcp.services.mirror import Filter, Mirror
    from contacts_mcp.services.sets import ContactsSets

    mirror = Mirror(folder / "mirror.sqlite")
    segment = next(iter(mirror.segment_sizes()))
    small = list(mirror.segment_sizes())[-1]
    kinds = [
        [],
        [Filter("domain", "eq", "example5.com")],
        [Filter("segment", "in", segment)],
        [Filter("segment", "in", small), Filter("unsubscribed", "eq", False)],
        [Filter("first_name", "contains", "pers"), Filter("segment", "not_in", segment)],
    ]
    sets = ContactsSets.__new__(ContactsSets)
    sets._mirror = mirror
    samples: list[float] = []
    for _ in range(runs):
        for filters in kinds:
            for count_only in (True, False):
                started = time.perf_counter()
                state = mirror.state()
                sets.info(state)
                mirror.search(filters, limit=50, count_only=count_only)
                samples.append((time.perf_counter() - started) * 1000)
    mirror.close()
    print(json.dumps({"p50": percentile(samples, 50), "p95": percentile(samples, 95)}))


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.sync", "--child", *args],
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


def one_size(contacts: int, segments: int, searches: int, *, refresh: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "emulator.db"
        started = time.perf_counter()
        members = fill(db, contacts, segments)
        print(
            f"filled the emulator: {contacts:,} contacts, {segments} segments, "
            f"{sum(members):,} memberships in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        port = free_port()
        emulator = subprocess.Popen(
            [sys.executable, "-m", "contacts_mcp", "emulator", "--port", str(port),
             "--db", str(db), "--rate-limit", str(NO_LIMIT)],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(port)
            serving = _cpu_seconds(emulator.pid)
            full = run_child("sync", str(port), str(folder), "full")
            full["emulator_cpu"] = _cpu_seconds(emulator.pid) - serving
            full["search"] = run_child("search", str(searches), str(folder), "-")
            if refresh:
                add_contacts(db, 250)
                full["new"] = run_child("sync", str(port), str(folder), "new")
        finally:
            emulator.terminate()
            emulator.wait(timeout=60)
    # Pages the account needs: its contacts, one list of segments (up to 100 a page)
    # and each segment's members, 100 a page (an empty segment still takes one request).
    full["needed"] = (
        math.ceil(contacts / 100)
        + math.ceil(segments / 100)
        + sum(max(1, math.ceil(n / 100)) for n in members)
    )
    full["size"] = contacts
    return full


def _cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used so far (Linux: /proc), for the emulator's share."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(sizes: list[int], segments: int, searches: int) -> None:
    results = [one_size(n, segments, searches, refresh=i == 0) for i, n in enumerate(sizes)]
    print(
        f"\nfull syncs, {segments} segments (standalone emulator, no rate limit: raw speed; "
        "CPU is the sync process's own):"
    )
    print(
        f"  {'contacts':>9} | {'wall s':>7} | {'contacts/s':>10} | {'CPU s':>6} | "
        f"{'CPU µs/contact':>14} | {'requests/pages':>14} | {'peak RSS':>8} | "
        f"{'search p50':>10} | {'search p95':>10} | {'emulator CPU s':>14}"
    )
    for r in results:
        print(
            f"  {r['size']:>9,} | {r['seconds']:>7.1f} | {r['size'] / r['seconds']:>10,.0f} | "
            f"{r['cpu']:>6.1f} | {r['cpu'] / r['size'] * 1e6:>14.0f} | "
            f"{r['requests'] / r['needed']:>13.3f}x | {r['peak_mb']:>5.0f} MB | "
            f"{r['search']['p50']:>7.1f} ms | {r['search']['p95']:>7.1f} ms | "
            f"{r['emulator_cpu']:>14.1f}"
        )
    print("  goals: CPU µs/contact flat (time linear), ≤ 1.05x, peak RSS flat and ≤ 200 MB at 1M,")
    print("         search p95 ≤ 100 ms at 1M")
    print("  (wall time is the sync's CPU, the emulator's serving it, and the two waiting on")
    print("  each other: one request at a time)")
    new = results[0]["new"]
    print(f"refresh of new contacts after 250 were added elsewhere ({results[0]['size']:,}):")
    print(
        f"  {new['seconds']:.2f} s, {new['requests']} requests, {new['new_contacts']} new, "
        f"{new['contacts']:,} contacts mirrored"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", default="100000", help="sizes, comma-separated")
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--searches", type=int, default=30, help="runs of each search")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "A", "B", "C"))
    args = parser.parse_args()
    if args.child:
        kind, a, b, c = args.child
        if kind == "sync":
            anyio.run(sync_child, int(a), Path(b), c)
        else:
            search_child(Path(b), int(a))
    else:
        main([int(n) for n in args.contacts.split(",")], args.segments, args.searches)
