"""`logging/setLevel` works for clients of the handshake era, which send it once the server
advertises the `logging` capability (the SDK advertises it only with a handler)."""

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


async def test_the_logging_capability_is_advertised_and_set_level_is_obeyed(
    our_logger: logging.Logger,
) -> None:
    server = build_server(BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:"))
    async with Client(server, mode="legacy") as client:
        assert client.server_capabilities is not None
        assert client.server_capabilities.logging is not None
        with warnings.catch_warnings():
            # The SDK client warns that logging is deprecated from 2026-07-28 on; this
            # client speaks 2025-11-25, where it is not.
            warnings.simplefilter("ignore")
            await client.set_logging_level("debug")
        assert our_logger.level == logging.DEBUG
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await client.set_logging_level("error")
        assert our_logger.level == logging.ERROR
