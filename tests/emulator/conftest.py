"""Fixtures for emulator tests that need a real HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from starlette.applications import Starlette

STARTUP_TIMEOUT = 10.0


@pytest.fixture
def serve() -> Iterator[Callable[[Starlette], str]]:
    """Start apps under uvicorn on ephemeral ports; returns `start(app) -> base URL`."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Starlette) -> str:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            log_config=None,  # leave the process's logging configuration alone
            lifespan="on",
            ws="none",
        )
        server = uvicorn.Server(config)
        # server.run() gives the server its own event loop in its own thread.
        thread = threading.Thread(target=server.run, name="emulator-uvicorn", daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start")
            time.sleep(0.01)  # bounded poll: uvicorn offers no startup event
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
