"""An API that misbehaves: time to a clear error, and requests spent on a looping list.

    python -m bench.hostile_api [--skip-silent]

1. A server on 127.0.0.1 that accepts connections and never answers. The tool call goes
   over real sockets; the figure is the time until the model gets a clear error.
2. An API whose list pages repeat the same cursor forever; the figure is the number of
   requests made before the tool gives up.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import anyio
import httpx
from anyio.abc import SocketStream
from mcp import Client

from contacts_mcp.backends import BackendConfig
from contacts_mcp.server import build_server


async def silent_api_seconds() -> tuple[float, str]:
    """Seconds from the call to its error against an API that never says a word."""
    held: list[SocketStream] = []

    async def hold(stream: SocketStream) -> None:
        held.append(stream)  # keep it open, say nothing
        await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - not Django
    backend = BackendConfig(api_key="re_bench_silent", base_url=f"http://127.0.0.1:{port}")
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hold)
        with anyio.fail_after(120):  # the bench itself never hangs
            async with Client(build_server(backend)) as client:
                start = time.perf_counter()
                result = await client.call_tool("get_contact", {"contact": "ada@example.com"})
                elapsed = time.perf_counter() - start
        tg.cancel_scope.cancel()
    assert result.is_error
    block = result.content[0]
    return elapsed, block.text if block.type == "text" else ""


async def looping_list_requests() -> tuple[int, str]:
    """Requests made when every page claims more and hands back the same cursor."""
    page: dict[str, Any] = {
        "object": "list",
        "has_more": True,
        "data": [
            {
                "id": "b6d24b8e-af0b-4c3c-be0c-359bbd97381e",
                "name": "Newsletter",
                "default_subscription": "opt_in",
                "created_at": "2026-01-01 00:00:00+00",
            }
        ],
    }
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return httpx.Response(200, json=page, headers={"ratelimit-limit": "100"})

    backend = BackendConfig(
        api_key="re_bench_loop",
        base_url="https://api.resend.com",
        transport=httpx.MockTransport(handler),
    )
    async with Client(build_server(backend)) as client:
        result = await client.call_tool("list_topics", {})
    assert result.is_error
    block = result.content[0]
    return requests, block.text if block.type == "text" else ""


async def main(skip_silent: bool) -> None:
    if not skip_silent:
        seconds, message = await silent_api_seconds()
        print(f"API that never answers: clear error after {seconds:.1f} s  (goal ≤ 35 s)")
        print(f"  the model reads: {message}")
    count, message = await looping_list_requests()
    print(f"API repeating a cursor: {count} requests, then an error  (goal ≤ 3)")
    print(f"  the model reads: {message}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-silent", action="store_true", help="skip the 30 s silent-API run")
    anyio.run(main, parser.parse_args().skip_silent)
