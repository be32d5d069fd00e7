"""A long import as a host sees it: every call must answer within the host's 60 s.

    python -m bench.import_job [--rows 700] [--limit 5] [--timeout 60] [--no-baseline]

A standalone emulator enforcing `--limit` requests/s (default 5, a Resend team's default)
stands in for Resend; the server runs as a real stdio subprocess (`contacts-mcp`, as
hosts spawn it), and the client gives each request `--timeout` seconds, as the
TypeScript SDK in Claude Desktop, VS Code and Cursor does (60 s). Printed: when
`import_contacts` returned (goal ≤ 25 s), the longest call, how many calls the import
took, and its total time. The baseline is the same import run to its end in one go (no
job, no host timeout), as the tool did before jobs: a host gave up on it at 60 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from bench.common import add_limit_flag
from bench.import_api import free_port, wait_for

COLUMNS = {"email": "email", "first_name": "first_name"}


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name\n")
        out.writelines(f"person{i}@example.com,Person {i}\n" for i in range(rows))


def start_emulator(folder: Path, name: str, limit: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "contacts_mcp", "emulator", "--port", str(port),
         "--db", str(folder / f"{name}.db"), "--rate-limit", str(limit)],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(port)
    return emulator, port


async def as_a_host(folder: Path, port: int, request_timeout: float) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "contacts_mcp", "--import-dir", str(folder)],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("RESEND_", "CONTACTS_"))},
            "RESEND_API_KEY": "re_bench_key",
            "RESEND_BASE_URL": f"http://127.0.0.1:{port}",
            "XDG_DATA_HOME": str(folder / "data"),
        },
    )
    # Row by row, as in the failure this measures (the emulator also has the imports API).
    arguments = {
        "path": "contacts.csv",
        "columns": COLUMNS,
        "on_conflict": "upsert",
        "strategy": "rows",
    }
    progress_reports = 0

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        nonlocal progress_reports
        progress_reports += 1

    durations: list[float] = []
    async with Client(params, mode="legacy") as client:
        started = time.perf_counter()
        result = await client.call_tool(
            "import_contacts",
            arguments,
            read_timeout_seconds=request_timeout,
            progress_callback=on_progress,
        )
        first_return = time.perf_counter() - started
        durations.append(first_return)
        answer = result.structured_content
        while not result.is_error and answer is not None and answer["status"] == "working":
            call_started = time.perf_counter()
            result = await client.call_tool(
                "get_job",
                {"job_id": answer["job_id"]},
                read_timeout_seconds=request_timeout,
                progress_callback=on_progress,
            )
            durations.append(time.perf_counter() - call_started)
            answer = None if result.structured_content is None else result.structured_content["job"]
        total = time.perf_counter() - started
    if result.is_error or answer is None:
        raise SystemExit(f"the import failed: {result.content}")
    return {
        "first_return": first_return,
        "longest_call": max(durations),
        "calls": len(durations),
        "total": total,
        "progress_reports": progress_reports,
        "summary": answer["result"],
    }


async def in_one_go(folder: Path, port: int) -> float:
    """The same import run to its end by one awaited call, as before jobs."""
    from contacts_mcp.backends import BackendConfig, open_client
    from contacts_mcp.imports.files import FilePolicy
    from contacts_mcp.imports.plan import ImportSource
    from contacts_mcp.imports.service import ImportService
    from contacts_mcp.imports.settings import ImportSettings
    from contacts_mcp.services.schema import SchemaService

    config = BackendConfig(api_key="re_bench_key", base_url=f"http://127.0.0.1:{port}")
    settings = ImportSettings(
        files=FilePolicy(allowed_dirs=(folder,)), state_dir=folder / "baseline-state"
    )
    async with open_client(config) as client:
        service = ImportService(client, SchemaService(client), settings, backend="baseline")
        started = time.perf_counter()
        summary = await service.run(
            ImportSource(path="contacts.csv"),
            columns=COLUMNS,
            on_conflict="upsert",
            strategy="rows",
        )
        elapsed = time.perf_counter() - started
    assert summary.failed == 0, summary
    return elapsed


def main(rows: int, limit: int, timeout: float, baseline: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(folder / "contacts.csv", rows)
        emulator, port = start_emulator(folder, "host", limit)
        try:
            host = anyio.run(as_a_host, folder, port, timeout)
        finally:
            emulator.terminate()
            emulator.wait(timeout=60)
        direct = None
        if baseline:
            emulator, port = start_emulator(folder, "baseline", limit)
            try:
                direct = anyio.run(in_one_go, folder, port)
            finally:
                emulator.terminate()
                emulator.wait(timeout=60)
    summary = host["summary"]
    print(f"import of {rows:,} rows at {limit} req/s, host request timeout {timeout:g} s (stdio):")
    print(f"  import_contacts returned after : {host['first_return']:.1f} s  (goal ≤ 25 s)")
    longest, calls, reports = host["longest_call"], host["calls"], host["progress_reports"]
    print(f"  longest call                   : {longest:.1f} s  (host gives {timeout:g} s)")
    print(f"  calls until done               : {calls} ({reports} progress reports)")
    print(f"  total time                     : {host['total']:.1f} s")
    print(
        f"  outcome                        : {summary['created']:,} created, "
        f"{summary['updated']:,} updated, {summary['failed']} failed, "
        f"{summary['requests']} requests"
    )
    if direct is not None:
        print(
            f"  same import in one go (before) : {direct:.1f} s; the job took "
            f"{host['total'] / direct:.3f}x, and no call outlived the host's timeout"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=700)
    add_limit_flag(parser)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    main(args.rows, args.limit, args.timeout, not args.no_baseline)
