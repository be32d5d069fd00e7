"""What happens to a request before a route sees it, in Resend's order.

`Gate` is ASGI middleware that runs, per HTTP request:

1. the User-Agent check. Cloudflare does it in front of Resend, so the 403 is plain text,
   is not counted and carries no `ratelimit-*` headers;
2. the API-key check. Its 401/400 carry the window's headers but are not counted: the limit
   is per team, and a request without a valid key cannot be charged to one (Resend's own
   accounting here is unconfirmed);
3. the team rate limit (a fixed 1-second window; over the limit: 429 with `retry-after`);
4. injected faults: 429, 500 or 503, decided by one roll; the request is not applied;
5. injected latency;
6. the route; then, for a write that succeeded, maybe losing the response (`ResponseLost`).

From step 2 on, every response carries `ratelimit-limit/remaining/reset/policy`, as
Resend's do: the enforced limit, or else the stated one (`stated_rate_limit`), counted
but not enforced. Responses to unexpected exceptions are sent by Starlette outside this
middleware and so carry none.
"""

from __future__ import annotations

import hmac
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contacts_mcp.emulator.options import RESEND_DEFAULT_RATE_LIMIT, EmulatorOptions
from contacts_mcp.emulator.wire import error_response

__all__ = ["Gate", "ResponseLost"]

logger = logging.getLogger("contacts_mcp.emulator")

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# How much of a lost response's body gets out before the connection "breaks".
_LOST_RESPONSE_BYTES = 8

_MISSING_KEY = (
    "Missing API key in the authorization header. Include the following header in the "
    "request: Authorization: Bearer YOUR_API_KEY"
)
_RATE_LIMITED = (
    "Too many requests. Please limit the number of requests per second. "
    "Or contact support to increase rate limit."
)


class ResponseLost(Exception):  # noqa: N818 - the name is public API
    """Raised by the app after a write was applied, to simulate a response lost in transit."""


@dataclass(frozen=True, slots=True)
class _Quota:
    """The state of the rate-limit window as one request sees it."""

    limit: int
    used: int
    reset: int

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(max(0, self.limit - self.used)),
            "ratelimit-reset": str(self.reset),
            "ratelimit-policy": f"{self.limit};w=1",
        }


class _FixedWindow:
    """Resend's limit: N requests per 1-second window, no burst allowance."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._clock = clock
        self._window = -math.inf
        self._used = 0

    def peek(self) -> _Quota:
        """The current window without counting a request (a new second starts a new one)."""
        now = self._clock()
        if math.floor(now) != self._window:
            self._window, self._used = math.floor(now), 0
        # Seconds to the end of the window, rounded up: always 1 with 1-second windows.
        reset = max(1, math.ceil(self._window + 1 - now))
        return _Quota(self._limit, self._used, reset)

    def take(self) -> _Quota:
        quota = self.peek()
        self._used += 1
        return _Quota(quota.limit, self._used, quota.reset)


def _auth_error(authorization: str | None, api_key: str | None) -> Response | None:
    """The error for a missing or unacceptable key, or None. Never echoes the key."""
    if not authorization:
        return error_response(401, "missing_api_key", _MISSING_KEY)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        accepted = False
    elif api_key is not None:
        accepted = hmac.compare_digest(token.encode(), api_key.encode())
    else:
        accepted = token.startswith("re_") and len(token) > len("re_")
    # Resend answers a bad key with 400 validation_error on non-sending endpoints.
    return None if accepted else error_response(400, "validation_error", "API key is invalid")


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            response_headers = MutableHeaders(scope=message)
            for name, value in headers.items():
                response_headers[name] = value
        await send(message)

    return send_with_headers


class Gate:
    """ASGI middleware for auth, rate limiting and fault injection (see the module doc)."""

    def __init__(self, app: ASGIApp, *, options: EmulatorOptions) -> None:
        self._app = app
        self._options = options
        self._enforced = options.rate_limit is not None
        stated = options.rate_limit or options.stated_rate_limit or RESEND_DEFAULT_RATE_LIMIT
        self._window = _FixedWindow(stated, options.clock)
        self._rng = random.Random(options.seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not headers.get("user-agent"):
            await PlainTextResponse("error code: 1010", status_code=403)(scope, receive, send)
            return

        rejection = _auth_error(headers.get("authorization"), self._options.api_key)
        if rejection is not None:
            rejection.headers.update(self._window.peek().headers())
            await rejection(scope, receive, send)
            return

        quota = self._window.take()
        send = _with_headers(send, quota.headers())
        if self._enforced and quota.exceeded:
            retry_after = {"retry-after": str(quota.reset)}
            await error_response(429, "rate_limit_exceeded", _RATE_LIMITED, retry_after)(
                scope, receive, send
            )
            return

        fault = self._roll_fault()
        if fault is not None:
            await fault(scope, receive, send)
            return
        if self._options.latency > 0:
            await anyio.sleep(self._options.latency)

        drop = self._options.drop_after_write
        if scope["method"] in _WRITES and drop > 0 and self._rng.random() < drop:
            await self._apply_and_lose_response(scope, receive, send)
        else:
            await self._app(scope, receive, send)

    def _roll_fault(self) -> Response | None:
        """One roll picks at most one fault, so each happens with its configured probability."""
        o = self._options
        if not (o.fault_429 or o.fault_500 or o.fault_503):
            return None
        roll = self._rng.random()
        if roll < o.fault_429:
            return error_response(429, "rate_limit_exceeded", _RATE_LIMITED, {"retry-after": "1"})
        if roll < o.fault_429 + o.fault_500:
            return error_response(500, "internal_server_error", "An unexpected error occurred.")
        if roll < o.fault_429 + o.fault_500 + o.fault_503:
            return error_response(
                503, "service_unavailable", "The service is temporarily unavailable."
            )
        return None

    async def _apply_and_lose_response(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route; if it succeeded, send the head and a few body bytes, then fail.

        The head still announces the full `content-length`, so under a real server the client
        sees the connection close mid-body; in-process, `ResponseLost` reaches the caller.
        """
        status = 0
        lost = False

        async def cut_short(message: Message) -> None:
            nonlocal status, lost
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and 200 <= status < 300:
                if not lost:
                    body: bytes = message.get("body", b"")
                    head = body[: min(_LOST_RESPONSE_BYTES, len(body) - 1)]
                    await send({"type": "http.response.body", "body": head, "more_body": True})
                    lost = True
                return
            await send(message)

        await self._app(scope, receive, cut_short)
        if lost:
            method, path = scope["method"], scope["path"]
            logger.info("Applied %s %s and dropped its response, as configured", method, path)
            raise ResponseLost(f"{method} {path} was applied but its response was lost")
