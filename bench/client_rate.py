"""Client path throughput: contacts created per second through ResendClient + emulator.

    python -m bench.client_rate [--contacts 500] [--limited 120] [--concurrency 8] [--limit 5]

1. No rate limit, deliberately: raw creates/s through the client and the in-process
   emulator.
2. Emulator limited to `--limit` req/s (default 5, a Resend team's default): the achieved
   rate (goal ≥ 90 % of the limit) and the share of responses that were 429s (goal ≤ 1 %).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import anyio
import httpx

from bench.common import add_limit_flag
from contacts_mcp.api.client import ResendClient, build_http_client
from contacts_mcp.api.pacing import RatePacer
from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, LocalTransport
from contacts_mcp.emulator import EmulatorOptions


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts response statuses on the way back from the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.statuses: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses[response.status_code] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def create_many(
    options: EmulatorOptions, count: int, concurrency: int, prefix: str
) -> tuple[float, Counter[int]]:
    transport = CountingTransport(LocalTransport(options))
    async with build_http_client(base_url=LOCAL_BASE_URL, transport=transport) as http:
        # Starts at the documented default; the emulator's headers correct it when limited.
        client = ResendClient(http, api_key=LOCAL_API_KEY, pacer=RatePacer(rate_limit=None))
        emails = iter(f"{prefix}{i}@example.com" for i in range(count))

        async def worker() -> None:
            for email in emails:
                await client.create_contact(email)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        elapsed = time.perf_counter() - start
    return elapsed, transport.statuses


async def main(contacts: int, limited: int, concurrency: int, limit: int) -> None:
    elapsed, _ = await create_many(EmulatorOptions(), contacts, concurrency, "fast")
    rate = contacts / elapsed
    print("client path, in-process emulator:")
    print(f"  no rate limit   : {rate:8.1f} contacts/s ({contacts} creates, {concurrency} workers)")
    options = EmulatorOptions(rate_limit=limit)
    elapsed, statuses = await create_many(options, limited, concurrency, "paced")
    requests = sum(statuses.values())
    achieved = limited / elapsed
    share = statuses[429] / requests
    print(
        f"  {f'limit {limit} req/s':<16}: {achieved:8.2f} contacts/s = {achieved / limit:.1%} "
        "(goal ≥ 90%)"
    )
    print(f"  429 responses   : {statuses[429]} of {requests} = {share:.2%} (goal ≤ 1%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--limited", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=8)
    add_limit_flag(parser)
    args = parser.parse_args()
    anyio.run(main, args.contacts, args.limited, args.concurrency, args.limit)
