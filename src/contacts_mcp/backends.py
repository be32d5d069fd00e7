"""Where the client's requests go: Resend, a standalone emulator, or the emulator in-process.

The only difference between backends is the `httpx` transport and base URL handed to
`build_http_client`; the client code is the same for all of them.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from contacts_mcp.api.base import MAX_CONTACTS
from contacts_mcp.api.client import (
    DEFAULT_API_DEADLINE,
    DEFAULT_BASE_URL,
    MAX_RETRIES,
    ResendClient,
    build_http_client,
)
from contacts_mcp.api.pacing import RatePacer
from contacts_mcp.text.sanitize import redact_secrets

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from contacts_mcp.emulator import EmulatorOptions

__all__ = [
    "LOCAL_API_KEY",
    "LOCAL_BASE_URL",
    "LOCAL_RATE_LIMIT",
    "BackendConfig",
    "LocalTransport",
    "default_db_path",
    "open_client",
]

# The in-process emulator accepts any `re_` key; this one marks requests as local.
LOCAL_API_KEY = "re_local_emulator"
LOCAL_BASE_URL = "http://emulator.local"
# The limit the in-process emulator states in its `ratelimit-*` headers unless told
# otherwise (and the client then paces at): it serves one person in one process, so local
# work is not slowed to a team's 5 requests/s (which the standalone emulator enforces).
LOCAL_RATE_LIMIT = 10_000


@dataclass(frozen=True, kw_only=True)
class BackendConfig:
    """How to reach contacts. `local_db` set means the in-process emulator."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    local_db: str | None = None
    # Requests/s to pace at before Resend's `ratelimit-limit` header says (None: send one
    # request at a time until the first answer tells the limit).
    rate_limit: float | None = None
    max_retries: int = MAX_RETRIES
    # Seconds all the API work of one tool call may take (None: unbounded).
    api_deadline: float | None = DEFAULT_API_DEADLINE
    # Contacts one listing of the account (or of a segment) may hold before it is taken
    # for an API answering without end and stopped with an error: raise it for a bigger
    # account.
    max_contacts: int = MAX_CONTACTS
    emulator: EmulatorOptions | None = None
    # Tests hand in a transport of their own (MockTransport, a faulty emulator...).
    transport: httpx.AsyncBaseTransport | None = None

    def identity(self) -> str:
        """A short, stable id of the account behind this backend (never the key itself).

        Import journals are kept per backend: resuming an import against a different
        account or database would trust work that was never done there.
        """
        if self.local_db == ":memory:" or self.transport is not None:
            # Nothing outlives this process (or the test's transport): never resume.
            return f"ephemeral-{id(self):x}-{os.getpid()}"
        if self.local_db:
            seed = os.path.realpath(self.local_db)
        else:
            seed = f"{self.base_url}\n{self.api_key}"
        return hashlib.sha256(seed.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """Where requests go, for logs and errors; never includes the key."""
        if self.local_db is not None:
            return f"local emulator ({self.local_db})"
        return f"Resend API at {redact_secrets(self.base_url)}"


def default_db_path() -> Path:
    """Per-user data file for `--local`, following each platform's convention."""
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Application Support"
    else:
        root = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return root / "contacts-mcp" / "contacts.db"


class LocalTransport(httpx.AsyncBaseTransport):
    """`httpx.ASGITransport` to the emulator, with lost responses as transport errors.

    The emulator simulates "write applied, response lost" by raising `ResponseLost`
    mid-response; over a socket that is a dropped connection, so it becomes the
    `httpx.RemoteProtocolError` a real client would see.
    """

    def __init__(
        self, options: EmulatorOptions | None = None, *, db_path: str = ":memory:"
    ) -> None:
        # The emulator is built on first use: MCP hosts spawn the server often, and
        # `initialize` and `tools/list` never need it.
        self._options = options
        self._db_path = db_path
        self._app: Starlette | None = None
        self._inner: httpx.ASGITransport | None = None

    @property
    def app(self) -> Starlette:
        if self._app is None:
            from contacts_mcp.emulator import EmulatorOptions, create_app

            options = self._options or EmulatorOptions(db_path=self._db_path)
            if options.rate_limit is None and options.stated_rate_limit is None:
                options = replace(options, stated_rate_limit=LOCAL_RATE_LIMIT)
            self._app = create_app(options)
        return self._app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        from contacts_mcp.emulator import ResponseLost

        if self._inner is None:
            self._inner = httpx.ASGITransport(app=self.app)
        try:
            return await self._inner.handle_async_request(request)
        except ResponseLost as exc:
            raise httpx.RemoteProtocolError(
                "server disconnected without sending a complete response", request=request
            ) from exc

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
        if self._app is not None:
            self._app.state.store.close()


@asynccontextmanager
async def open_client(config: BackendConfig) -> AsyncIterator[ResendClient]:
    """A ready `ResendClient` for `config`, closed (with its transport) on exit."""
    transport = config.transport
    base_url = config.base_url
    rate_limit = config.rate_limit
    # An account's limit is unknown until its first answer says it (never guessed).
    probe = True
    if transport is None and config.local_db is not None:
        emulator = config.emulator
        if rate_limit is not None:  # `--local --rate-limit N`: the emulator states N
            from contacts_mcp.emulator import EmulatorOptions

            stated = max(1, round(rate_limit))
            emulator = replace(
                emulator or EmulatorOptions(db_path=config.local_db), stated_rate_limit=stated
            )
        transport = LocalTransport(emulator, db_path=config.local_db)
        base_url = LOCAL_BASE_URL
        # The in-process emulator's headers state its limit; it serves one person.
        rate_limit, probe = None, False
    async with build_http_client(base_url=base_url, transport=transport) as http:
        yield ResendClient(
            http,
            api_key=config.api_key,
            pacer=RatePacer(rate_limit=rate_limit, probe=probe),
            max_retries=config.max_retries,
            max_contacts=config.max_contacts,
        )
