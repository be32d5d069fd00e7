"""Stdio startup: spawn → initialize → tools/list, ours against an empty MCPServer.

    python -m bench.startup [--runs 9]

Runs alternate between the two servers so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import sys
import time

import anyio
from mcp import Client, StdioServerParameters

from bench.common import median

EMPTY_SERVER = "from mcp.server.mcpserver import MCPServer; MCPServer('empty').run()"


async def time_once(params: StdioServerParameters) -> float:
    start = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        await client.list_tools()
        # Stop the clock before shutdown: closing the subprocess is not startup.
        return time.perf_counter() - start


async def main(runs: int) -> None:
    ours = StdioServerParameters(
        command=sys.executable, args=["-m", "contacts_mcp", "--local", "--db", ":memory:"]
    )
    empty = StdioServerParameters(command=sys.executable, args=["-c", EMPTY_SERVER])
    await time_once(ours)  # warm the .pyc caches for both before measuring
    await time_once(empty)
    ours_times, empty_times = [], []
    for _ in range(runs):
        ours_times.append(await time_once(ours))
        empty_times.append(await time_once(empty))
    ours_median, empty_median = median(ours_times), median(empty_times)
    print(f"startup (spawn → initialize → tools/list), median of {runs}:")
    print(f"  contacts-mcp --local : {ours_median * 1000:7.1f} ms")
    print(f"  empty MCPServer      : {empty_median * 1000:7.1f} ms")
    print(f"  ratio                : {ours_median / empty_median:7.3f}x  (goal ≤ 1.2x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    anyio.run(main, parser.parse_args().runs)
