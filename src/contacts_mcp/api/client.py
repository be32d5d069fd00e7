"""A thin async client of the Resend API: one method per endpoint, one `_request`.

`_request` owns everything cross-cutting: auth and User-Agent headers, pacing under the
account's rate limit, bounded concurrency, retries with backoff, the caller's total
deadline (`api_deadline`), and turning error responses into exceptions
(`contacts_mcp.api.errors`). The HTTP client is injected, so the
same code talks to api.resend.com, a standalone emulator, or the in-process emulator.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

import anyio
import httpx

from contacts_mcp import __version__
from contacts_mcp.api.base import MAX_CONTACTS, UNSET, contact_path
from contacts_mcp.api.contacts import ContactsAPI
from contacts_mcp.api.errors import APIError, TransportError, error_from_response
from contacts_mcp.api.imports import ImportsAPI
from contacts_mcp.api.pacing import RatePacer
from contacts_mcp.api.retry import backoff_delay, is_retryable, parse_retry_after
from contacts_mcp.api.schema import SchemaAPI
from contacts_mcp.api.suppressions import SuppressionsAPI

__all__ = [
    "DEFAULT_API_DEADLINE",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "MAX_RETRIES",
    "MAX_RETRY_AFTER",
    "UNSET",
    "USER_AGENT",
    "ResendClient",
    "api_deadline",
    "api_deadline_lifted",
    "build_http_client",
    "contact_path",
]

logger = logging.getLogger("contacts_mcp.api.client")

DEFAULT_BASE_URL = "https://api.resend.com"
# Resend rejects requests without a User-Agent (Cloudflare error 1010).
USER_AGENT = f"contacts-mcp/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Three attempts in all, as the openai, anthropic and stripe SDKs do.
MAX_RETRIES = 2
# A server-requested wait longer than this is reported instead of slept through: an
# assistant waiting a minute on one tool call is worse than being told to come back.
MAX_RETRY_AFTER = 60.0
MAX_CONCURRENCY = 8
# All the API work of one tool call, retries and waits included, ends within this:
# under the 60 s MCP hosts wait for a result, with room to say what happened.
DEFAULT_API_DEADLINE = 30.0


class _Deadline(NamedTuple):
    at: float  # anyio.current_time() by which the work must end
    seconds: float  # the budget as given, for messages


_deadline: ContextVar[_Deadline | None] = ContextVar("contacts_mcp_api_deadline", default=None)


@contextmanager
def api_deadline(seconds: float | None) -> Iterator[None]:
    """Bound every API request made in this block (and in tasks it starts) to `seconds`
    in total. The request that would run past it fails with a `TransportError`; None
    sets no bound. A deadline already in force is never extended.
    """
    if seconds is None:
        yield
        return
    new = _Deadline(anyio.current_time() + seconds, seconds)
    current = _deadline.get()
    token = _deadline.set(new if current is None or new.at < current.at else current)
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def api_deadline_lifted() -> Iterator[None]:
    """No deadline in this block (and tasks it starts): for work that outlives the call
    that started it, such as a job, whose requests keep their own timeouts."""
    token = _deadline.set(None)
    try:
        yield
    finally:
        _deadline.reset(token)


def build_http_client(
    *,
    base_url: str = DEFAULT_BASE_URL,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """The one place an `httpx.AsyncClient` for Resend is configured.

    The caller owns it (`async with`); pass `transport` to talk to the in-process emulator.
    """
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


class ResendClient(ContactsAPI, SchemaAPI, ImportsAPI, SuppressionsAPI):
    """Async client of Resend's contacts and suppressions endpoints over an injected
    `httpx.AsyncClient`.

    The endpoint methods live in `api.contacts`, `api.schema`, `api.imports` and
    `api.suppressions`; this class adds the one `_request` they all go through.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        pacer: RatePacer | None = None,
        max_retries: int = MAX_RETRIES,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_concurrency: int = MAX_CONCURRENCY,
        max_contacts: int = MAX_CONTACTS,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        if max_contacts < 1:
            raise ValueError("max_contacts must be at least 1")
        self.max_contacts = max_contacts
        self._http = http
        self._auth_header = f"Bearer {api_key}"
        self._pacer = pacer if pacer is not None else RatePacer()
        self._max_retries = max_retries
        self._max_retry_after = max_retry_after
        self._max_concurrency = max_concurrency
        self._limiter: anyio.CapacityLimiter | None = None
        self._sleep = sleep
        self._jitter = jitter
        # Every attempt sent, retries included: what imports and benchmarks report.
        self.requests_sent = 0

    def __repr__(self) -> str:
        # Never show the key, not even in a debugger or a log of locals.
        return f"ResendClient(base_url={str(self._http.base_url)!r})"

    @property
    def pacer(self) -> RatePacer:
        return self._pacer

    # -- transport --------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """Send one API call, pacing and retrying as needed; return the decoded JSON body.

        Contact endpoints are safe to repeat (creates are idempotent by email), so any
        transport failure is retried. A call that is not (`idempotent=False`, e.g. starting
        an import) is retried only when the request surely did nothing: it never left
        (connect errors) or Resend refused it outright (429). Any other failure is raised
        for the caller to resolve, because a blind retry could do the work twice.
        """
        headers = {"Authorization": self._auth_header}
        deadline = _deadline.get()
        attempt = 0
        while True:
            attempt += 1
            failure: APIError | TransportError
            try:
                response = await self._send(
                    method,
                    path,
                    deadline,
                    attempt,
                    json=json,
                    params=params,
                    files=files,
                    data=data,
                    headers=headers,
                )
            except TransportError as exc:
                failure, cause = exc, exc.__cause__
            else:
                if response.is_success:
                    return _decode_json(response)
                failure = error_from_response(
                    response.status_code,
                    response.content,
                    retry_after=parse_retry_after(response.headers),
                )
                failure.attempts = attempt
                cause = None
            delay = self._retry_delay(failure, attempt)
            if not idempotent and not _surely_not_applied(failure):
                delay = None
            if delay is not None and delay >= _time_left(deadline):
                delay = None  # no time left for another attempt: report this one
            if delay is None:
                raise failure from cause
            logger.debug(
                "%s %s failed (%s); retry %d/%d in %.2fs",
                method,
                path,
                _short(failure),
                attempt,
                self._max_retries,
                delay,
            )
            await self._sleep(delay)

    async def _send(
        self,
        method: str,
        path: str,
        deadline: _Deadline | None,
        attempt: int,
        **request: Any,
    ) -> httpx.Response:
        """One attempt: a turn under the concurrency cap and the pacer, then the request.

        No usable response, the deadline passing included, is a `TransportError`. The
        deadline is enforced here and not only by httpx's timeouts, which in-process
        transports do not apply.
        """
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_concurrency)
        started = False
        with anyio.move_on_after(_time_left(deadline)):
            async with self._limiter, self._pacer.turn():
                started = True
                self.requests_sent += 1
                try:
                    response = await self._http.request(
                        method, path, timeout=self._attempt_timeout(deadline), **request
                    )
                except httpx.TransportError as exc:
                    raise TransportError(
                        _describe_transport_error(exc),
                        attempts=attempt,
                        sent=not isinstance(exc, _NOT_SENT),
                    ) from exc
                # Within the turn: a probing pacer learns the limit before the next request.
                self._pacer.observe(response.headers)
                return response
        seconds = 0.0 if deadline is None else deadline.seconds
        raise TransportError(
            f"No answer from the API within {seconds:g} s", attempts=attempt, sent=started
        )

    def _attempt_timeout(self, deadline: _Deadline | None) -> httpx.Timeout:
        """The client's timeouts, shortened to what is left of the deadline."""
        configured = self._http.timeout
        left = _time_left(deadline)
        if math.isinf(left):
            return configured
        left = max(left, 0.001)

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cap(configured.connect),
            read=cap(configured.read),
            write=cap(configured.write),
            pool=cap(configured.pool),
        )

    def _retry_delay(self, failure: APIError | TransportError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if attempt > self._max_retries:
            return None
        if isinstance(failure, TransportError):
            return backoff_delay(attempt - 1, self._jitter())
        if not is_retryable(failure):
            return None
        if failure.retry_after is not None:
            if failure.retry_after > self._max_retry_after:
                return None
            if failure.status_code == 429:
                self._pacer.pause(failure.retry_after)
            return failure.retry_after
        return backoff_delay(attempt - 1, self._jitter())


def _time_left(deadline: _Deadline | None) -> float:
    return math.inf if deadline is None else deadline.at - anyio.current_time()


# Failures that happen before any byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _surely_not_applied(failure: APIError | TransportError) -> bool:
    if isinstance(failure, TransportError):
        return not failure.sent
    return failure.status_code == 429


def _decode_json(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TransportError(
            f"The API answered HTTP {response.status_code} with a body that is not JSON."
        ) from exc


def _describe_transport_error(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "The request to the API timed out."
    if isinstance(exc, httpx.ConnectError):
        return "Could not connect to the API."
    return "The connection to the API failed before a complete response arrived."


def _short(failure: APIError | TransportError) -> str:
    if isinstance(failure, APIError):
        return f"{failure.status_code} {failure.name}"
    return failure.message
