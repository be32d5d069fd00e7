"""A thin async client of the Resend API: one method per endpoint, one `_request`.

`_request` owns everything cross-cutting: auth and User-Agent headers, pacing under the
account's rate limit, bounded concurrency, retries with backoff, and turning error
responses into exceptions (`contacts_mcp.errors`). The HTTP client is injected, so the
same code talks to api.resend.com, a standalone emulator, or the in-process emulator.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

import anyio
import httpx

from contacts_mcp import __version__
from contacts_mcp._pacing import RatePacer
from contacts_mcp._retry import backoff_delay, is_retryable, parse_retry_after
from contacts_mcp.errors import APIError, TransportError, error_from_response
from contacts_mcp.models import Contact, ContactPage, ContactSummary, CreatedObject, DeletedContact

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "MAX_RETRIES",
    "MAX_RETRY_AFTER",
    "UNSET",
    "USER_AGENT",
    "ResendClient",
    "build_http_client",
]

logger = logging.getLogger("contacts_mcp.client")

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


class _Unset:
    """Marks an argument that was not given, where None means "clear the field"."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()

PropertyInput = str | int | float | None


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


def contact_path(contact: str) -> str:
    """`/contacts/{id_or_email}` with the value percent-encoded (`@` → `%40`, `+` → `%2B`)."""
    return f"/contacts/{quote(contact, safe='')}"


class ResendClient:
    """Async client of Resend's contacts endpoints over an injected `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        pacer: RatePacer | None = None,
        max_retries: int = MAX_RETRIES,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_concurrency: int = MAX_CONCURRENCY,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._http = http
        self._auth_header = f"Bearer {api_key}"
        self._pacer = pacer if pacer is not None else RatePacer()
        self._max_retries = max_retries
        self._max_retry_after = max_retry_after
        self._max_concurrency = max_concurrency
        self._limiter: anyio.CapacityLimiter | None = None
        self._sleep = sleep
        self._jitter = jitter

    def __repr__(self) -> str:
        # Never show the key, not even in a debugger or a log of locals.
        return f"ResendClient(base_url={str(self._http.base_url)!r})"

    @property
    def pacer(self) -> RatePacer:
        return self._pacer

    # -- contacts ---------------------------------------------------------------------

    async def create_contact(
        self,
        email: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        unsubscribed: bool | None = None,
        properties: Mapping[str, PropertyInput] | None = None,
    ) -> CreatedObject:
        """`POST /contacts`. For an email that already exists Resend answers with its id."""
        body: dict[str, Any] = {"email": email}
        if first_name is not None:
            body["first_name"] = first_name
        if last_name is not None:
            body["last_name"] = last_name
        if unsubscribed is not None:
            body["unsubscribed"] = unsubscribed
        if properties:
            body["properties"] = dict(properties)
        data = await self._request("POST", "/contacts", json=body)
        return CreatedObject.model_validate(data)

    async def get_contact(self, contact: str) -> Contact:
        """`GET /contacts/{id_or_email}`."""
        data = await self._request("GET", contact_path(contact))
        return Contact.model_validate(data)

    async def update_contact(
        self,
        contact: str,
        *,
        first_name: str | _Unset | None = UNSET,
        last_name: str | _Unset | None = UNSET,
        unsubscribed: bool | _Unset = UNSET,
        properties: Mapping[str, PropertyInput] | _Unset = UNSET,
    ) -> CreatedObject:
        """`PATCH /contacts/{id_or_email}`; None clears a name, a None property value clears it."""
        body: dict[str, Any] = {}
        if not isinstance(first_name, _Unset):
            body["first_name"] = first_name
        if not isinstance(last_name, _Unset):
            body["last_name"] = last_name
        if not isinstance(unsubscribed, _Unset):
            body["unsubscribed"] = unsubscribed
        if not isinstance(properties, _Unset):
            body["properties"] = dict(properties)
        data = await self._request("PATCH", contact_path(contact), json=body)
        return CreatedObject.model_validate(data)

    async def delete_contact(self, contact: str) -> DeletedContact:
        """`DELETE /contacts/{id_or_email}`."""
        data = await self._request("DELETE", contact_path(contact))
        return DeletedContact.model_validate(data)

    async def list_contacts(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        before: str | None = None,
        segment_id: str | None = None,
    ) -> ContactPage:
        """One page of contacts, newest first; a segment's contacts when `segment_id` is given.

        `after` continues towards older contacts, `before` goes back towards newer ones.
        Without `limit` Resend returns every contact in one response.
        """
        if after is not None and before is not None:
            raise ValueError("pass either after or before, not both")
        params: dict[str, str | int] = {}
        if limit is not None:
            params["limit"] = limit
        if after is not None:
            params["after"] = after
        if before is not None:
            params["before"] = before
        path = (
            "/contacts"
            if segment_id is None
            else f"/segments/{quote(segment_id, safe='')}/contacts"
        )
        data = await self._request("GET", path, params=params)
        return ContactPage.model_validate(data)

    async def iter_contacts(
        self,
        *,
        segment_id: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[ContactSummary]:
        """Every contact, newest first, fetched page by page."""
        after: str | None = None
        while True:
            page = await self.list_contacts(limit=page_size, after=after, segment_id=segment_id)
            for item in page.data:
                yield item
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    # -- transport --------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """Send one API call, pacing and retrying as needed; return the decoded JSON body.

        Every contacts endpoint is safe to repeat (creates are idempotent by email), so
        transport failures are retried for all methods.
        """
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_concurrency)
        headers = {"Authorization": self._auth_header}
        attempt = 0
        while True:
            attempt += 1
            async with self._limiter:
                await self._pacer.acquire()
                try:
                    response = await self._http.request(
                        method, path, json=json, params=params, headers=headers
                    )
                except httpx.TransportError as exc:
                    failure: APIError | TransportError = TransportError(
                        _describe_transport_error(exc), attempts=attempt
                    )
                    cause: BaseException | None = exc
                else:
                    self._pacer.observe(response.headers)
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
