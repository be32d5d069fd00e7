"""50 concurrent HTTP sessions x 20 mixed calls against `--local`, and the same calls
over stdio in one session, for comparison.

    python -m bench.http_load [--sessions 50] [--calls 20]

Each server is a real `contacts-mcp` process on a seeded emulator database (200
contacts, 3 segments). The mix per session: reads (get_contact, list_contacts,
search_contacts counts, list_segments) and writes (create_contact, update_contact), in
a fixed rotation. Printed: p50 and p99 latency per call, errors (goal 0), calls/s, and
the server's peak RSS. The clients run in this process, on the same 2 cores. No rate
limit, deliberately (`--local` states 10,000 requests/s): this bench loads the server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client, StdioServerParameters

from bench.common import median, percentile
from contacts_mcp.emulator.store import Store

TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - for the bench's own server
SEEDED = 200


def seed(db: Path) -> None:
    store = Store(str(db))
    segments = [store.create_segment(f"Segment {i}").id for i in range(3)]
    for i in range(SEEDED):
        store.create_contact(
            email=f"person{i}@example{i % 7}.com", first_name=f"P{i}", last_name=None,
            unsubscribed=False, values={}, segment_ids=[segments[i % 3]], subscriptions={},
        )  # fmt: skip
    store.close()


def mix(session: int, calls: int) -> list[tuple[str, dict[str, Any]]]:
    """A fixed rotation of reads and writes, distinct per session."""
    rotation: list[tuple[str, dict[str, Any]]] = []
    for n in range(calls):
        person = f"person{(session * 7 + n) % SEEDED}@example{((session * 7 + n) % SEEDED) % 7}.com"
        kind = n % 6
        if kind == 0:
            rotation.append(("get_contact", {"contact": person}))
        elif kind == 1:
            rotation.append(("list_contacts", {"limit": 20}))
        elif kind == 2:
            domain = f"example{n % 7}.com"
            where = [{"field": "domain", "op": "eq", "value": domain}]
            rotation.append(("search_contacts", {"where": where, "count_only": True}))
        elif kind == 3:
            rotation.append(("create_contact", {"email": f"new{session}-{n}@load.example"}))
        elif kind == 4:
            rotation.append(("update_contact", {"contact": person, "last_name": f"L{session}"}))
        else:
            rotation.append(("list_segments", {}))
    return rotation


async def run_session(
    client: Client, calls: list[tuple[str, dict[str, Any]]], latencies: list[float]
) -> int:
    errors = 0
    for tool, arguments in calls:
        started = time.perf_counter()
        result = await client.call_tool(tool, arguments)
        latencies.append(time.perf_counter() - started)
        errors += bool(result.is_error)
    return errors


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESEND_", "CONTACTS_MCP_"))}
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**env, "XDG_DATA_HOME": str(folder), "PYTHONPATH": src}


async def over_http(folder: Path, sessions: int, calls: int) -> dict[str, Any]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    db = folder / "http.db"
    seed(db)
    port = free_port()
    command = [sys.executable, "-m", "contacts_mcp", "--local", "--db", str(db),
               "--transport", "http", "--port", str(port)]  # fmt: skip
    env = {**server_env(folder), "CONTACTS_MCP_TOKENS": f"bench={TOKEN}"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as probe:
            for _ in range(300):
                try:
                    if (await probe.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await anyio.sleep(0.1)
        latencies: list[float] = []
        errors = 0

        async def one(session: int) -> None:
            nonlocal errors
            headers = {"Authorization": f"Bearer {TOKEN}"}
            try:
                async with (
                    httpx2.AsyncClient(headers=headers, timeout=120) as http,
                    Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
                ):
                    errors += await run_session(client, mix(session, calls), latencies)
            except Exception:  # a session that fails to open counts all its calls
                errors += calls

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for session in range(sessions):
                group.start_soon(one, session)
        elapsed = time.perf_counter() - started
        rss = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {"latencies": latencies, "errors": errors, "seconds": elapsed, "rss": rss}


async def over_stdio(folder: Path, sessions: int, calls: int) -> dict[str, Any]:
    db = folder / "stdio.db"
    seed(db)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "contacts_mcp", "--local", "--db", str(db)],
        env=server_env(folder),
    )
    latencies: list[float] = []
    async with Client(params) as client:
        started = time.perf_counter()
        errors = 0
        for session in range(sessions):  # the same calls, one after another
            errors += await run_session(client, mix(session, calls), latencies)
        elapsed = time.perf_counter() - started
        pid = _stdio_server_pid(str(db))
        rss = peak_rss_mb(pid) if pid else float("nan")
    return {"latencies": latencies, "errors": errors, "seconds": elapsed, "rss": rss}


def _stdio_server_pid(db: str) -> int | None:
    """The server process the stdio client started (its command line names `db`)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if db.encode() in command and b"contacts_mcp" in command:
            return int(entry.name)
    return None


def report(name: str, figures: dict[str, Any]) -> None:
    times = [t * 1000 for t in figures["latencies"]]
    total = len(times)
    print(
        f"  {name:<34}: p50 {median(times):6.1f} ms, p99 {percentile(times, 99):7.1f} ms; "
        f"{figures['errors']} errors in {total} calls (goal 0); "
        f"{total / figures['seconds']:.0f} calls/s; server peak RSS {figures['rss']:.0f} MB"
    )


async def main(sessions: int, calls: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="contacts-mcp-load-"))
    try:
        http = await over_http(folder, sessions, calls)
        stdio = await over_stdio(folder, sessions, calls)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{sessions} sessions x {calls} mixed calls, local emulator "
        f"(seeded {SEEDED} contacts, no rate limit):"
    )
    report(f"HTTP, {sessions} concurrent sessions", http)
    report("stdio, 1 session, same calls", stdio)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    anyio.run(main, args.sessions, args.calls)
