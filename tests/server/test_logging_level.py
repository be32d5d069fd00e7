"""`logging/setLevel` is answered for clients of the handshake era, which send it once the
server advertises the `logging` capability (the SDK advertises it only with a handler),
and changes only what that client is sent: never the server's own log."""

import logging
import warnings
from collections.abc import Iterator

import pytest
from mcp import Client

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def our_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("contacts_mcp")
    level = logger.level
    yield logger
    logger.setLevel(level)


async def test_set_level_is_accepted_and_leaves_the_operators_log_alone(
    our_logger: logging.Logger,
) -> None:
    our_logger.setLevel(logging.WARNING)  # as --log-level set it
    server = build_server(BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:"))
    async with Client(server, mode="legacy") as client:
        assert client.server_capabilities is not None
        assert client.server_capabilities.logging is not None
        for level in ("debug", "error"):
            with warnings.catch_warnings():
                # The SDK client warns that logging is deprecated from 2026-07-28 on; this
                # client speaks 2025-11-25, where it is not.
                warnings.simplefilter("ignore")
                await client.set_logging_level(level)
            # It governs log notifications to this client (the server sends none), never
            # the server's own stderr log, which other clients share.
            assert our_logger.level == logging.WARNING
