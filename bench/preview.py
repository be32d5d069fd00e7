"""Import preview of a 1,000,000-row CSV: wall time and peak memory, against the goals.

    python -m bench.preview [--rows 1000000] [--keep DIR]

Writes a realistic contacts file (email, names, company, plan, seats, signup date; ~0.5 %
invalid and ~0.5 % duplicate addresses) to a temporary directory, then runs `preview_table`
on it in a fresh subprocess, so the peak RSS is the preview's own and not the generator's.
Also times the email check's fast path, and the two fingerprint functions for dedupe.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from contacts_mcp.imports.mapping import check_email

GOAL_SECONDS = 10.0
GOAL_RSS_MB = 200.0
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "José", "Zoë"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
DOMAINS = ["gmail.com", "outlook.com", "example.org", "acme.io", "mail.example.co.uk"]
PLANS = ["free", "starter", "pro", "enterprise"]
COMPANIES = ["Acme", "Globex, Inc.", "Initech", 'Umbrella "Corp"', "Hooli", "Stark Industries"]
INVALID = ["", "not-an-email", "ann@", "ann @example.com", "a..b@example.com", "x@example.test"]


def write_csv(path: Path, rows: int, seed: int = 7) -> tuple[int, int]:
    """The file, and how many invalid and duplicate addresses it holds."""
    rng = random.Random(seed)
    invalid = duplicates = 0
    recent: deque[str] = deque(maxlen=5000)  # duplicates copy a recent address
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Email,First Name,Last Name,Company,Plan,Seats,Signup Date\r\n")
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            roll = rng.random()
            if roll < 0.005:
                email = rng.choice(INVALID)
                invalid += 1
            elif roll < 0.01 and recent:
                email = rng.choice(recent).upper()  # the same address in other case
                duplicates += 1
            else:
                local = f"{first}.{last}{i}".encode("ascii", "ignore").decode().lower()
                email = f"{local}@{rng.choice(DOMAINS)}"
                recent.append(email)
            company = rng.choice(COMPANIES).replace('"', '""')
            day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            out.write(
                f'{email},{first},{last},"{company}",{rng.choice(PLANS)},{rng.randint(1, 500)},'
                f"{day}\r\n"
            )
    return invalid, duplicates


def child(path: str) -> None:
    """Runs in the subprocess: preview the file, print the figures as JSON."""
    from contacts_mcp.imports.csvio import CSVTable
    from contacts_mcp.imports.preview import preview_table

    start = time.perf_counter()
    with open(path, "rb") as stream, CSVTable(stream) as table:
        report = preview_table(table, existing_properties={"plan": "string"})
    seconds = time.perf_counter() - start
    figures = {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "rows": report.rows,
        "importable": report.importable_rows,
        "invalid": report.invalid_emails.count,
        "duplicates": report.duplicate_emails.count,
        "type_problems": report.type_problems.count,
        "columns": report.column_map,
    }
    print(json.dumps(figures))


def peak_rss_mb() -> float:
    """This process's peak RSS since it started its current program.

    `ru_maxrss` would do, except that Linux carries the parent's peak over into a child
    that was forked (or vforked) from it; VmHWM belongs to the new program alone.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) / 1024


def time_per_call(fn: Callable[[str], object], values: list[str]) -> float:
    start = time.perf_counter()
    for value in values:
        fn(value)
    return (time.perf_counter() - start) / len(values) * 1e6


def blake2b_64(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little")


def main(rows: int, keep: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep or tmp) / "contacts.csv"
        start = time.perf_counter()
        invalid, duplicates = write_csv(path, rows)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {rows:,} rows, {size_mb:.1f} MB in {time.perf_counter() - start:.1f} s")
        print(f"  planted: {invalid:,} invalid, {duplicates:,} duplicate addresses")

        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bench.preview", "--child", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        figures = json.loads(done.stdout)
        # Linux folds the parent's peak into a forked child's ru_maxrss; shown for comparison.
        children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"preview_table on {figures['rows']:,} rows (fresh subprocess):")
    print(f"  preview time      : {figures['seconds']:6.2f} s   (goal ≤ {GOAL_SECONDS:.0f} s)")
    print(f"  subprocess wall   : {wall:6.2f} s   (with interpreter start and imports)")
    peak = figures["peak_rss_mb"]
    print(f"  peak RSS          : {peak:6.1f} MB  (goal ≤ {GOAL_RSS_MB:.0f} MB; VmHWM)")
    print(f"  ru_maxrss children: {children_mb:6.1f} MB  (can include this parent's peak)")
    print(
        f"  found             : {figures['importable']:,} importable, {figures['invalid']:,} "
        f"invalid, {figures['duplicates']:,} duplicates, {figures['type_problems']:,} type problems"
    )
    print(f"  column map        : {figures['columns']}")

    addresses = [f"{FIRST[i % 8]}.{LAST[i % 8]}{i}@Example.com".lower() for i in range(10**5)]
    fast = time_per_call(check_email, addresses)
    from email_validator import validate_email

    def slow(value: str) -> object:
        return validate_email(value, check_deliverability=False, allow_smtputf8=False, strict=True)

    slow_us = time_per_call(slow, addresses[:5000])
    print("email check:")
    print(f"  check_email fast path : {fast:5.2f} µs/address  (goal ≤ 3 µs)")
    print(f"  email-validator       : {slow_us:5.2f} µs/address")
    keys = [address.casefold() for address in addresses]
    print("dedupe fingerprint:")
    print(f"  hash()                : {time_per_call(hash, keys):5.2f} µs/address")
    print(f"  blake2b, 8 bytes      : {time_per_call(blake2b_64, keys):5.2f} µs/address")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write the CSV into this directory and keep it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
    else:
        main(args.rows, args.keep)
