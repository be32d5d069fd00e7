"""A real uvicorn server on loopback, in a thread of its own, for the HTTP transport tests."""

import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.remote.http import HttpSettings, build_http_app
from contacts_mcp.server import build_server
from contacts_mcp.server.surface import Surface


@pytest.fixture(params=["auto", "legacy"])
def era(request: pytest.FixtureRequest) -> str:
    """2026-07-28 ("auto"), or the 2025-11-25 initialize handshake ("legacy")."""
    return str(request.param)


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Serve `app` on a free loopback port until the block ends; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):  # up to 10 s on a busy machine
            if server.started:
                break
            threading.Event().wait(0.02)
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextmanager
def contacts_server(
    tmp_path: Path, settings: HttpSettings | None = None, **build: Any
) -> Iterator[str]:
    """Our server (local emulator in memory) over HTTP; yields its base URL."""
    config = BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:")
    imports = ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path)
    server = build_server(config, imports, **build)
    with serving(build_http_app(server, settings or HttpSettings())) as url:
        yield url


@asynccontextmanager
async def mcp_client(
    url: str, era: str = "auto", token: str | None = None, **headers: str
) -> AsyncIterator[Client]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=era) as client,
    ):
        yield client


def audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


__all__ = ["Surface", "audit_lines", "contacts_server", "mcp_client", "serving"]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the TypeScript host's two-minute run in the background at once when the
    session will run its test, so that its waiting overlaps the rest of the suite."""
    from tests.remote import test_ts_sdk_host

    if any(item.name == test_ts_sdk_host.LONG_TEST for item in session.items):
        test_ts_sdk_host.LONG_RUN.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.remote import test_ts_sdk_host

    test_ts_sdk_host.LONG_RUN.stop()
