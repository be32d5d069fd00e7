"""Search and sync times of the contacts mirror at 100,000 contacts.

python -m bench.search [--contacts 100000] [--runs 50]

The account: 20 segments from half the contacts down to a handful, three properties per
contact (plan from a small set, a score, a city), a few hundred domains of very unequal
size. Prints the time of a full sync (staged in pages of 100, as the API lists them), the
file size, and p50/p95 of a count and of a 50-row page for each kind of filter.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from bench.common import percentile
from contacts_mcp.services.mirror import Filter, Mirror, MirroredContact

PAGE = 100
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Zoë", ""]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", ""]
PLANS = ["free", "starter", "pro", "enterprise"]
CITIES = [f"City {i}" for i in range(30)]
SEGMENT_SHARES = [
    0.5, 0.3, 0.2, 0.15, 0.1, 0.08, 0.05, 0.04, 0.03, 0.02,
    0.01, 0.01, 0.005, 0.005, 0.002, 0.002, 0.001, 0.001, 0.0005, 0.0001,
]  # fmt: skip
DOMAINS = ["gmail.com", "outlook.com", "acme.com", "example.org"] + [
    f"company{i}.com" for i in range(300)
]
DOMAIN_WEIGHTS = [30.0, 15.0, 2.0, 1.0] + [1 / (i + 2) for i in range(300)]


def account(size: int, seed: int) -> tuple[list[MirroredContact], dict[str, list[str]]]:
    """`size` contacts, newest first as the API lists them, and each segment's members."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    domains = rng.choices(DOMAINS, weights=DOMAIN_WEIGHTS, k=size)
    contacts = []
    for i in range(size):
        moment = start + timedelta(minutes=5 * i, microseconds=rng.randrange(1_000_000))
        # Postgres drops trailing zeros of the fraction, and so does Resend.
        created_at = moment.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".") + "+00"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        contacts.append(
            MirroredContact(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                email=f"{first or 'x'}.{last or 'y'}{i}@{domains[i]}".lower(),
                first_name=first,
                last_name=last,
                unsubscribed=rng.random() < 0.05,
                created_at=created_at,
                properties={
                    "plan": rng.choices(PLANS, weights=[50, 25, 20, 5])[0],
                    "score": rng.randint(0, 100),
                    "city": rng.choice(CITIES),
                },
            )
        )
    contacts.reverse()
    members = {
        f"seg-{n:02d}": [c.id for c in rng.sample(contacts, max(1, int(share * size)))]
        for n, share in enumerate(SEGMENT_SHARES)
    }
    return contacts, members


def full_sync(
    mirror: Mirror,
    contacts: Sequence[MirroredContact],
    members: dict[str, list[str]],
    *,
    with_properties: bool,
) -> float:
    """Seconds to stage the account page by page and finish."""
    started = time.perf_counter()
    mirror.begin_full_sync()
    for at in range(0, len(contacts), PAGE):
        page = contacts[at : at + PAGE]
        if not with_properties:
            page = [replace(c, properties=None) for c in page]
        mirror.stage_contacts(page, cursor=page[-1].id)
    mirror.start_segments([(sid, sid.upper()) for sid in members])
    for sid, ids in members.items():
        for at in range(0, len(ids), PAGE):
            page_ids = ids[at : at + PAGE]
            last = at + PAGE >= len(ids)
            mirror.stage_members(sid, page_ids, cursor=page_ids[-1], segment_done=last)
    mirror.finish_full_sync(time.time())
    return time.perf_counter() - started


def file_size(path: Path) -> str:
    wal = path.with_name(path.name + "-wal")
    wal_mib = wal.stat().st_size / 2**20 if wal.exists() else 0.0
    return f"{path.stat().st_size / 2**20:.1f} MiB (+ {wal_mib:.1f} MiB write-ahead log)"


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return percentile(samples, 50) * 1000, percentile(samples, 95) * 1000


def main(size: int, runs: int) -> None:
    contacts, members = account(size, seed=7)
    memberships = sum(len(ids) for ids in members.values())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mirror.sqlite3"
        mirror = Mirror(path)
        try:
            seconds = full_sync(mirror, contacts, members, with_properties=True)
            print(
                f"full sync of {size:,} contacts ({size // PAGE:,} pages) and {len(members)} "
                f"segments ({memberships:,} memberships), first: {seconds:.1f} s"
            )
            print(f"mirror file after it: {file_size(path)}")
            seconds = full_sync(mirror, contacts, members, with_properties=False)
            print(f"full sync again, list pages only (properties carried over): {seconds:.1f} s")
            print(f"mirror file after it (space of the old copy kept for reuse): {file_size(path)}")
            state = mirror.state()
            assert state.contacts == size
            assert state.properties_known == size
            big, small = "seg-00", "seg-09"
            cases: list[tuple[str, list[Filter]]] = [
                ("no filter", []),
                ("domain eq", [Filter("domain", "eq", "acme.com")]),
                ("email contains", [Filter("email", "contains", "grace.knuth1")]),
                ("property eq", [Filter("property", "eq", "pro", key="plan")]),
                ("property numeric gt", [Filter("property", "gt", 50, key="score")]),
                ("segment in (50%)", [Filter("segment", "in", big)]),
                ("segment in (2%)", [Filter("segment", "in", small)]),
                ("segment not_in (50%)", [Filter("segment", "not_in", big)]),
                (
                    "combined",
                    [
                        Filter("domain", "eq", "gmail.com"),
                        Filter("property", "eq", "enterprise", key="plan"),
                        Filter("segment", "not_in", "seg-01"),
                    ],
                ),
            ]
            print(f"search over {size:,} contacts, {runs} runs each:")
            for label, filters in cases:
                count = mirror.search(filters, limit=50, count_only=True).count
                p50, p95 = timed(partial(mirror.search, filters, limit=50, count_only=True), runs)
                print(f"  search {label} count: p50 {p50:.1f} ms, p95 {p95:.1f} ms  ({count:,})")
                p50, p95 = timed(partial(mirror.search, filters, limit=50), runs)
                print(f"  search {label} page of 50: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
            cursor = contacts[size // 2].id
            p50, p95 = timed(partial(mirror.search, [], limit=50, after=cursor), runs)
            print(f"  search page of 50 from a cursor mid-list: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        finally:
            mirror.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    arguments = parser.parse_args()
    main(arguments.contacts, arguments.runs)
