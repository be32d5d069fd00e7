"""Shared pytest fixtures."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # Only asyncio is installed; without this anyio would also try trio.
    return "asyncio"
