"""An export of 100,000 contacts from the mirror, through the service behind export_contacts.

    python -m bench.export [--contacts 100000] [--segments 20]

A first process fills a mirror (two property values per contact, every contact in about
half the segments) and the emulator's schema; a second one exports every contact to a
CSV, so its peak RSS is the export's own. Printed: seconds (goal ≤ 10 s), rows and bytes
written, API requests made (segment names and property keys only), and peak RSS (goal
≤ 200 MB), beside the same process's RSS before the export started.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

PAGE = 1000


async def fill(folder: Path, contacts: int, segments: int) -> None:
    from bench.common import direct_emulator
    from contacts_mcp.emulator import EmulatorOptions
    from contacts_mcp.services.mirror import Mirror, MirroredContact

    options = EmulatorOptions(db_path=str(folder / "emulator.db"))
    async with direct_emulator(options) as http:
        for key, type_ in (("plan", "string"), ("seats", "number")):
            body = {"key": key, "type": type_}
            (await http.post("/contact-properties", json=body)).raise_for_status()
        made = [(await http.post("/segments", json={"name": f"Segment {i}"})).json()
                for i in range(segments)]  # fmt: skip
    mirror = Mirror(folder / "mirror.sqlite")
    mirror.begin_full_sync()
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(contacts)]
    for start in range(0, contacts, PAGE):
        page = [
            MirroredContact(
                id=ids[n], email=f"person{n}@example{n % 50}.com", first_name=f"First{n}",
                last_name=f"=Last {n}", unsubscribed=n % 9 == 0,
                created_at=f"2026-01-01 00:00:00.{n:06d}+00",
                properties={"plan": ("free", "pro", "-team")[n % 3], "seats": n % 40},
            )
            for n in range(start, min(start + PAGE, contacts))
        ]  # fmt: skip
        mirror.stage_contacts(page, cursor=page[-1].id)
    mirror.start_segments([(s["id"], s["name"]) for s in made])
    for index, segment in enumerate(made):
        members = [ids[n] for n in range(contacts) if (n + index) % 2 == 0]
        for start in range(0, len(members), PAGE):
            chunk = members[start : start + PAGE]
            last = start + PAGE >= len(members)
            mirror.stage_members(segment["id"], chunk, cursor=None, segment_done=last)
    mirror.finish_full_sync(time.time())
    mirror.close()


async def export(folder: Path) -> None:
    from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig, open_client
    from contacts_mcp.services.bulk import export_selected
    from contacts_mcp.services.mirror import Mirror
    from contacts_mcp.services.schema import SchemaService
    from contacts_mcp.services.sets import ContactsSets

    async def progress(done: float, total: float | None, message: str) -> None:
        return None

    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    config = BackendConfig(api_key=LOCAL_API_KEY, local_db=str(folder / "emulator.db"))
    mirror = Mirror(folder / "mirror.sqlite")
    target = folder / "export.csv"
    async with open_client(config) as client:
        sets = ContactsSets(client, SchemaService(client), mirror)
        started = time.perf_counter()
        outcome = await export_selected(
            client, sets, None, [], None, target, overwrite=False, written=None, progress=progress
        )
        seconds = time.perf_counter() - started
    mirror.close()
    figures = {
        "seconds": seconds,
        "rows": outcome.rows,
        "bytes": target.stat().st_size,
        "requests": outcome.requests,
        "refreshed": outcome.refreshed,
        "before_mb": before_mb,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(figures))


def child(phase: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.export", "--phase", phase, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    lines = done.stdout.strip().splitlines()
    figures: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return figures


def main(contacts: int, segments: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        child("fill", tmp, str(contacts), str(segments))
        filled = time.perf_counter() - started
        figures = child("export", tmp)
    print(f"export of {contacts:,} contacts from the mirror ({segments} segments, 2 properties):")
    print(f"  (mirror filled in {filled:.1f} s, in its own process)")
    print(f"  time     : {figures['seconds']:.1f} s  (goal ≤ 10 s)")
    print(
        f"  written  : {figures['rows']:,} rows, {figures['bytes'] / 1e6:.1f} MB; "
        f"{figures['requests']} API requests; refreshed first: {figures['refreshed']}"
    )
    print(
        f"  peak RSS : {figures['peak_mb']:.0f} MB  (goal ≤ 200 MB; "
        f"{figures['before_mb']:.0f} MB before the export)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--phase", choices=["fill", "export"], help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.phase == "fill":
        folder, count, segment_count = options.args
        anyio.run(fill, Path(folder), int(count), int(segment_count))
    elif options.phase == "export":
        anyio.run(export, Path(options.args[0]))
    else:
        main(options.contacts, options.segments)
