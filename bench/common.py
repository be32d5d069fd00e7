"""Helpers shared by the benchmark scripts (statistics, an in-process server, the rate flag)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from mcp import Client
from mcp.types import CallToolResult

from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, BackendConfig, LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.emulator.options import RESEND_DEFAULT_RATE_LIMIT
from contacts_mcp.server import build_server


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def add_limit_flag(parser: argparse.ArgumentParser) -> None:
    """`--limit N`, the requests/s the bench's emulator enforces: by default a Resend
    team's default as the emulator states it, so figures are those of a real account."""
    parser.add_argument(
        "--limit",
        type=int,
        default=RESEND_DEFAULT_RATE_LIMIT,
        metavar="N",
        help=f"requests/s the emulator enforces (default: {RESEND_DEFAULT_RATE_LIMIT})",
    )


@asynccontextmanager
async def direct_emulator(options: EmulatorOptions) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client straight to an in-process emulator (to fill its database)."""
    async with httpx.AsyncClient(
        transport=LocalTransport(options),
        base_url=LOCAL_BASE_URL,
        headers={"Authorization": f"Bearer {LOCAL_API_KEY}", "User-Agent": "bench"},
    ) as http:
        yield http


@asynccontextmanager
async def local_server(
    options: EmulatorOptions | None = None, mode: str = "auto"
) -> AsyncIterator[tuple[Client, httpx.AsyncClient]]:
    """An MCP client on our server over the in-process emulator, and a direct line to it."""
    transport = LocalTransport(options or EmulatorOptions())
    config = BackendConfig(
        api_key=LOCAL_API_KEY, base_url=LOCAL_BASE_URL, rate_limit=None, transport=transport
    )
    direct = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=transport.app),
        base_url=LOCAL_BASE_URL,
        headers={"Authorization": f"Bearer {LOCAL_API_KEY}", "User-Agent": "bench"},
    )
    async with direct, Client(build_server(config), mode=mode) as client:
        yield client, direct


async def finish_job(client: Client, result: CallToolResult) -> tuple[CallToolResult, int]:
    """The final answer of a tool that started a job, waiting with `get_job` as a host
    would; and how many calls that took in all."""
    calls = 1
    while (
        not result.is_error
        and result.structured_content is not None
        and result.structured_content.get("status") == "working"
    ):
        waited = await client.call_tool(
            "get_job", {"job_id": result.structured_content["job_id"], "wait_seconds": 50}
        )
        calls += 1
        if waited.is_error or waited.structured_content is None:
            return waited, calls
        result = waited.model_copy(update={"structured_content": waited.structured_content["job"]})
    return result, calls


async def run_confirmed(
    client: Client, tool: str, arguments: dict[str, Any]
) -> tuple[dict[str, Any], int, float]:
    """A bulk tool's confirmed run, waited for as a host would: its outcome, the calls
    it took, and the seconds from the confirmed call to the end of the job."""
    started = time.perf_counter()
    answer = await client.call_tool(tool, arguments)
    assert answer.structured_content is not None, answer.content
    result, calls = await finish_job(
        client, answer.model_copy(update={"structured_content": answer.structured_content["run"]})
    )
    elapsed = time.perf_counter() - started
    assert result.structured_content is not None, result.content
    outcome: dict[str, Any] = result.structured_content["result"]
    return outcome, calls, elapsed
