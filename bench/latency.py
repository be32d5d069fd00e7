"""Tool latency on the local backend (in-process emulator, in-process MCP client), with
no rate limit, deliberately: `--local` states 10,000 requests/s, and this bench measures
the server's own time, not pacing.

python -m bench.latency [--calls 200]
"""

from __future__ import annotations

import argparse
import time

import anyio

from bench.common import local_server, percentile


async def measure(mode: str, calls: int) -> None:
    async with local_server(mode=mode) as (client, direct):
        for i in range(100):
            (
                await direct.post("/contacts", json={"email": f"user{i}@example.com"})
            ).raise_for_status()
        for tool, arguments in (
            ("get_contact", {"contact": "user42@example.com"}),
            ("list_contacts", {"limit": 100}),
        ):
            samples = []
            for _ in range(calls):
                start = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                samples.append(time.perf_counter() - start)
                assert not result.is_error
            p50, p95 = percentile(samples, 50) * 1000, percentile(samples, 95) * 1000
            what = "100 contacts" if tool == "list_contacts" else "2 segments, 2 topics"
            label = f"{tool} ({what})"
            print(f"  {mode:<6} {label:<38} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")


async def main(calls: int) -> None:
    print(
        f"tool latency, local backend (no rate limit), {calls} calls each "
        "(auto = 2026-07-28, legacy = 2025-11-25):"
    )
    for mode in ("auto", "legacy"):
        await measure(mode, calls)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    anyio.run(main, parser.parse_args().calls)
