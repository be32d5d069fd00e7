"""Row-by-row import against the emulator limited to 5 requests/s (a Resend team's
default; `--limit` changes it), clean and under faults.

    python -m bench.import_rows [--rows 10000] [--existing 0.1] [--limit 5] [--skip-faults]

At 5 requests/s each run of 10,000 rows takes about 35 minutes: `--rows` shortens it.

1. 10,000 rows (10 % of them existing contacts, upsert) through the MCP tool with
   strategy "rows": achieved request rate vs the limit (goal ≥ 90 %), share of 429s
   (goal ≤ 1 %), requests per row (goal ≤ 1.1).
2. The same file into a fresh database with 20 % injected faults (5 % each: 429, 500,
   503, write applied but response lost): contacts lost and duplicated (goal 0), and
   requests per row.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client

from bench.common import add_limit_flag, direct_emulator, finish_job
from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, BackendConfig, LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts response statuses (and lost responses) on the way back from the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.statuses: Counter[int | str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            self.statuses["lost"] += 1
            raise
        self.statuses[response.status_code] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def write_csv(path: Path, rows: int) -> list[str]:
    emails = [f"person{i}@example.com" for i in range(rows)]
    with path.open("w", encoding="utf-8") as out:
        out.write("Email,First Name,Last Name\n")
        for i, email in enumerate(emails):
            out.write(f"{email},Person,Number {i}\n")
    return emails


async def seed(db: Path, emails: list[str]) -> None:
    """Pre-create some of the file's contacts through an unlimited emulator on the same file."""
    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        for email in emails:
            (
                await http.post("/contacts", json={"email": email, "first_name": "Old"})
            ).raise_for_status()


async def run_import(
    folder: Path, db: Path, options: EmulatorOptions
) -> tuple[dict[str, Any], Counter[int | str], float]:
    transport = CountingTransport(LocalTransport(options))
    config = BackendConfig(
        api_key=LOCAL_API_KEY, base_url=LOCAL_BASE_URL, rate_limit=None, transport=transport
    )
    settings = ImportSettings(
        files=FilePolicy(allowed_dirs=(folder,)), state_dir=folder / "state", row_concurrency=8
    )
    arguments = {
        "path": "contacts.csv",
        "columns": {"Email": "email", "First Name": "first_name", "Last Name": "last_name"},
        "on_conflict": "upsert",
        "strategy": "rows",
    }
    async with Client(build_server(config, settings)) as client:
        started = time.perf_counter()
        result, _calls = await finish_job(
            client, await client.call_tool("import_contacts", arguments)
        )
        elapsed = time.perf_counter() - started
    if result.is_error or result.structured_content is None:
        raise SystemExit(f"import failed: {result.content}")
    return result.structured_content["result"], transport.statuses, elapsed


def check_database(db: Path, emails: list[str]) -> tuple[int, int]:
    """(lost, duplicated) contacts compared with the file."""
    with sqlite3.connect(db) as conn:
        stored = [email.lower() for (email,) in conn.execute("SELECT email FROM contacts")]
    counts = Counter(stored)
    lost = sum(1 for email in emails if email not in counts)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicated


def report(label: str, summary: dict[str, Any], statuses: Counter[int | str], elapsed: float,
           limit: int, rows: int) -> None:  # fmt: skip
    requests = sum(statuses.values())
    rate = requests / elapsed
    print(f"{label}:")
    print(f"  rows             : {rows} in {elapsed:.1f} s  ({rows / elapsed:.1f} rows/s)")
    print(
        f"  outcome          : {summary['created']} created, {summary['updated']} updated, "
        f"{summary['skipped']} skipped, {summary['failed']} failed"
    )
    print(f"  requests         : {requests} = {requests / rows:.3f} per row  (goal ≤ 1.1)")
    print(f"  achieved rate    : {rate:.1f} req/s = {rate / limit:.1%} of {limit}/s  (goal ≥ 90%)")
    share = statuses[429] / requests if requests else 0.0
    print(f"  429 responses    : {statuses[429]} = {share:.2%}  (goal ≤ 1% without faults)")
    other = {k: v for k, v in statuses.items() if k not in (200, 201)}
    print(f"  non-2xx / lost   : {dict(sorted(other.items(), key=str))}")


async def main(rows: int, existing_share: float, limit: int, faults: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        emails = write_csv(folder / "contacts.csv", rows)
        existing = emails[:: max(1, round(1 / existing_share))] if existing_share > 0 else []

        db = folder / "clean.db"
        await seed(db, existing)
        summary, statuses, elapsed = await run_import(
            folder, db, EmulatorOptions(db_path=str(db), rate_limit=limit)
        )
        report(f"rows import, {len(existing)} existing, limit {limit} req/s", summary,
               statuses, elapsed, limit, rows)  # fmt: skip
        lost, duplicated = check_database(db, emails)
        print(f"  lost / duplicated: {lost} / {duplicated}")

        if faults:
            db = folder / "faults.db"
            await seed(db, existing)
            options = EmulatorOptions(
                db_path=str(db),
                rate_limit=limit,
                fault_429=0.05,
                fault_500=0.05,
                fault_503=0.05,
                drop_after_write=0.05,
                seed=11,
            )
            summary, statuses, elapsed = await run_import(folder, db, options)
            report("same import under 20 % injected faults", summary, statuses, elapsed,
                   limit, rows)  # fmt: skip
            lost, duplicated = check_database(db, emails)
            print(f"  lost / duplicated: {lost} / {duplicated}  (goal 0 / 0)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--existing", type=float, default=0.1, help="share of existing contacts")
    add_limit_flag(parser)
    parser.add_argument("--skip-faults", action="store_true")
    args = parser.parse_args()
    anyio.run(main, args.rows, args.existing, args.limit, not args.skip_faults)
