"""API-strategy import of a generated ~200 MB CSV: wall time and peak RSS of our process.

    python -m bench.import_api [--mb 200] [--limit 5]

The emulator runs as its own process (`contacts-mcp emulator`, enforcing `--limit`
requests/s: by default 5, a Resend team's default), as Resend would, so the
peak RSS measured is ours alone: reading, checking and normalizing the file, writing the
upload parts and streaming them out. The import itself runs in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

GOAL_NOTE = "(no goal set: figures to watch)"


def write_csv(path: Path, megabytes: int) -> int:
    rng = random.Random(5)
    plans = ["free", "starter", "pro", "enterprise"]
    limit = megabytes * 1024 * 1024
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("Email,First Name,Last Name,Company,Plan,Seats\n")
        while out.tell() < limit:
            out.write(
                f"person{rows}@example{rows % 97}.com,Person,Number {rows},"
                f"Company {rng.randint(1, 5000)},{rng.choice(plans)},{rng.randint(1, 500)}\n"
            )
            rows += 1
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("the emulator did not start")


async def child(port: int, folder: Path) -> None:
    """Run the import through the MCP tool; print seconds and peak RSS as JSON."""
    from mcp import Client

    from bench.common import finish_job
    from contacts_mcp.backends import BackendConfig
    from contacts_mcp.imports.files import FilePolicy
    from contacts_mcp.imports.settings import ImportSettings
    from contacts_mcp.server import build_server

    config = BackendConfig(api_key="re_bench_key", base_url=f"http://127.0.0.1:{port}")
    settings = ImportSettings(
        files=FilePolicy(allowed_dirs=(folder,), max_bytes=1024 * 1024 * 1024),
        state_dir=folder / "state",
        api_poll_interval=0.5,
    )
    arguments = {
        "path": "contacts.csv",
        "columns": {
            "Email": "email",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Company": "company",
            "Plan": "plan",
            "Seats": "seats",
        },
        "new_properties": {"company": "string", "plan": "string", "seats": "number"},
        "create_missing_properties": True,
        "on_conflict": "upsert",
        "strategy": "api",
    }
    async with Client(build_server(config, settings), read_timeout_seconds=3600) as client:
        started = time.perf_counter()
        result, _calls = await finish_job(
            client, await client.call_tool("import_contacts", arguments)
        )
        elapsed = time.perf_counter() - started
    assert result.structured_content is not None, result.content
    status = Path("/proc/self/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "peak_mb": peak_kb / 1024,
                "summary": result.structured_content["result"],
            }
        )
    )


def main(megabytes: int, limit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        rows = write_csv(folder / "contacts.csv", megabytes)
        size = (folder / "contacts.csv").stat().st_size / (1024 * 1024)
        print(f"generated {rows:,} rows, {size:.0f} MB in {time.perf_counter() - started:.1f} s")
        port = free_port()
        emulator = subprocess.Popen(
            [sys.executable, "-m", "contacts_mcp", "emulator", "--port", str(port),
             "--db", str(folder / "emulator.db"), "--rate-limit", str(limit)],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(port)
            done = subprocess.run(
                [sys.executable, "-m", "bench.import_api", "--child", str(port), str(folder)],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            emulator.terminate()
            emulator.wait(timeout=60)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    summary = figures["summary"]
    print(
        f"api import of {size:.0f} MB ({rows:,} rows) against a standalone emulator "
        f"at {limit} req/s:"
    )
    seconds = figures["seconds"]
    print(f"  wall time        : {seconds:.1f} s  ({rows / seconds:,.0f} rows/s)")
    print(f"  peak RSS (ours)  : {figures['peak_mb']:.1f} MB")
    print(
        f"  outcome          : {summary['created']:,} created, {summary['updated']:,} updated, "
        f"{summary['failed']:,} failed, {len(summary['import_ids'])} upload parts, "
        f"{summary['requests']} requests"
    )


if __name__ == "__main__":
    # Not at the top: bench.sync and bench.import_job import this module, and bench.sync's
    # child measures its own peak RSS.
    from bench.common import add_limit_flag

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200)
    add_limit_flag(parser)
    parser.add_argument("--child", nargs=2, metavar=("PORT", "DIR"))
    args = parser.parse_args()
    if args.child:
        anyio.run(child, int(args.child[0]), Path(args.child[1]))
    else:
        main(args.mb, args.limit)
