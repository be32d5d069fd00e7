"""An API that hangs, loops or answers in shapes we cannot read: clear tool errors, in time.

Through the MCP client in both eras: what the model reads must say what happened and
what to do next, never a bare "Error executing tool", and must come before the host's
60 s timeout.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from contacts_mcp.backends import BackendConfig
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.server import build_server
from tests.server.conftest import open_harness

pytestmark = pytest.mark.anyio

CONTACT_ID = "e169aa45-1ecf-4183-9955-b1499d5701d3"


@asynccontextmanager
async def server_on(
    handler: Callable[[httpx.Request], httpx.Response], era: str, **config: Any
) -> AsyncIterator[Client]:
    backend = BackendConfig(
        api_key="re_test",
        base_url="https://api.resend.com",
        rate_limit=None,
        transport=httpx.MockTransport(handler),
        **config,
    )
    async with Client(build_server(backend), mode=era) as client:
        yield client


async def tool_error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    block = result.content[0]
    assert block.type == "text"
    return block.text


async def test_an_api_that_never_answers_gives_a_clear_error_at_the_deadline(era: str) -> None:
    # The emulator takes 60 s per answer; the tool's API work may take 0.5 s in all.
    with anyio.fail_after(30):
        async for harness in open_harness(era, EmulatorOptions(latency=60), api_deadline=0.5):
            message = await tool_error(harness.client, "get_contact", {"contact": CONTACT_ID})
    assert "Could not get an answer from Resend" in message
    assert "within 0.5 s" in message
    assert "try again" in message


async def test_a_preview_against_an_api_that_never_answers_fails_at_the_deadline(
    era: str,
) -> None:
    # A preview runs as a job (the file may be big), but its API read keeps the call's
    # deadline: the job fails then, rather than waiting on Resend for as long as it hangs.
    preview = {"csv_text": "email,plan\nada@example.com,pro\n"}
    with anyio.fail_after(30):
        options = EmulatorOptions(latency=60)
        async for harness in open_harness(era, options, api_deadline=0.5, wait_seconds=10):
            message = await tool_error(harness.client, "preview_import", preview)
    assert "Could not get an answer from Resend" in message
    assert "within 0.5 s" in message


async def test_an_unreadable_answer_is_a_tool_error_naming_the_endpoint(era: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"unexpected": "list"}])

    async with server_on(handler, era) as client:
        message = await tool_error(client, "get_contact", {"contact": "ada@example.com"})
    assert "GET /contacts/{id}" in message
    assert "unexpected shape" in message
    assert "ada@example.com" not in message
    assert "read the item again" in message  # what to do next, not a bare failure


async def test_a_list_going_round_in_circles_is_a_tool_error(era: str) -> None:
    topic = {"id": CONTACT_ID, "name": "News", "default_subscription": "opt_in"}
    topic["created_at"] = "2025-11-30 20:39:59.540771+00"
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"object": "list", "has_more": True, "data": [topic]})

    async with server_on(handler, era) as client:
        message = await tool_error(client, "list_topics", {})
    assert "GET /topics" in message
    assert "same cursor came back" in message
    assert len(requests) <= 3
