"""Fixtures for end-to-end MCP tests: a server on the in-process emulator, both eras."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, BackendConfig, LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import ContactsServer, build_server
from contacts_mcp.server.surface import Surface

# "auto" negotiates 2026-07-28 (no JSON-RPC framing in-process); "legacy" forces the
# 2025-11-25 initialize handshake over a real JSON-RPC loop.
ERAS = ["auto", "legacy"]


@dataclass
class Harness:
    """An MCP client on our server, plus a direct line to the same emulator for setup."""

    client: Client
    emulator: httpx.AsyncClient
    transport: LocalTransport
    server: ContactsServer
    """The server the client talks to (to mount its HTTP-only routes, such as webhooks)."""

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        result = await self.client.call_tool(tool, arguments)
        assert not result.is_error, result.content
        return result.structured_content

    async def job(self, tool: str, arguments: dict[str, Any]) -> Any:
        """The result of a tool that runs a job, waiting for the job if it outlasts the call."""
        answer = await self.call(tool, arguments)
        while answer["status"] == "working":
            answer = (await self.call("get_job", {"job_id": answer["job_id"]}))["job"]
        assert answer["status"] == "completed", answer
        return answer["result"]

    async def error(self, tool: str, arguments: dict[str, Any]) -> str:
        result = await self.client.call_tool(tool, arguments)
        assert result.is_error, result.structured_content
        assert result.structured_content is None
        text = result.content[0]
        assert text.type == "text"
        return text.text

    async def seed(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.emulator.request(method, path, json=body)
        # The test's own requests share the emulator's injected faults, which are never
        # applied (429, 500, 503; not dropped answers, which tests of seeding avoid):
        # send again, boundedly.
        for _ in range(20):
            if response.status_code not in (429, 500, 503):
                break
            response = await self.emulator.request(method, path, json=body)
        assert response.is_success, response.text
        return response.json()

    async def seed_contacts(self, emails: list[str]) -> None:
        """Many contacts in a few requests (the emulator's Contact Imports API), in order:
        the last email is the newest. For tests that slow every request down."""
        content = "email\n" + "".join(f"{email}\n" for email in emails)
        for _ in range(20):  # an injected fault is not applied: send again, boundedly
            response = await self.emulator.post(
                "/contacts/imports",
                files={"file": ("seed.csv", content.encode(), "text/csv")},
                data={"on_conflict": "skip"},
            )
            if response.status_code not in (429, 500, 503):
                break
        assert response.status_code == 201, response.text
        import_id = response.json()["id"]
        with anyio.fail_after(60):
            while True:
                status = (await self.seed("GET", f"/contacts/imports/{import_id}"))["status"]
                if status == "completed":
                    return
                await anyio.sleep(0.01)

    async def all_contacts(self) -> list[dict[str, Any]]:
        """Every contact in the emulator, newest first (lists are paged, 20 by default)."""
        found: list[dict[str, Any]] = []
        page = await self.seed("GET", "/contacts?limit=100")
        found.extend(page["data"])
        while page["has_more"]:
            page = await self.seed("GET", f"/contacts?limit=100&after={found[-1]['id']}")
            found.extend(page["data"])
        return found

    async def count_contacts(self) -> int:
        return len(await self.all_contacts())


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def emulator_options() -> EmulatorOptions:
    return EmulatorOptions()


async def open_harness(
    era: str,
    options: EmulatorOptions | None = None,
    imports: ImportSettings | None = None,
    *,
    wait_seconds: float = 20.0,
    elicitation_callback: Any = None,
    transport: LocalTransport | None = None,
    extensions: Any = None,
    surface: Surface | None = None,
    **config: Any,
) -> AsyncIterator[Harness]:
    transport = transport or LocalTransport(options or EmulatorOptions())
    backend = BackendConfig(
        api_key=config.pop("api_key", LOCAL_API_KEY),
        base_url=LOCAL_BASE_URL,
        rate_limit=None,
        transport=transport,
        **config,
    )
    direct = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=transport.app),
        base_url=LOCAL_BASE_URL,
        headers={"Authorization": f"Bearer {LOCAL_API_KEY}", "User-Agent": "tests"},
    )
    server = build_server(backend, imports, wait_seconds=wait_seconds, surface=surface)
    async with (
        direct,
        Client(
            server, mode=era, elicitation_callback=elicitation_callback, extensions=extensions
        ) as client,
    ):
        yield Harness(client=client, emulator=direct, transport=transport, server=server)


@pytest.fixture
async def harness(era: str) -> AsyncIterator[Harness]:
    async for h in open_harness(era):
        yield h
