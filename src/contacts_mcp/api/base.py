"""What every group of endpoint methods shares: the request hook, parsing, paths, "not given".

`ResendClient` mixes the endpoint groups (`api.contacts`, `api.schema`) together and
provides the one real `_request`; the groups only build paths and bodies and parse replies
with `_parse`, which turns an answer of an unexpected shape into an
`UnexpectedResponseError` naming the endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from contacts_mcp.api.errors import ListTooLongError, UnexpectedResponseError
from contacts_mcp.api.models import Page

__all__ = [
    "MAX_CONTACTS",
    "MAX_PAGES",
    "UNSET",
    "APIBase",
    "PageGuard",
    "PropertyInput",
    "Unset",
    "contact_path",
    "endpoint",
    "segment",
]

M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger("contacts_mcp.api.client")

# Pages any list is read to at most: 100,000 items at 100 a page. A list longer than that
# is not something one call should read whole.
MAX_PAGES: Final = 1000
# Contacts one listing of the account (or of one segment) reads at most, unless the
# client is given another bound (`ResendClient(max_contacts=…)`, set from the server's
# configuration): an account may hold more than `MAX_PAGES` pages of them, and this is
# the largest this project measures a sync at (bench/sync.py). Past it the API is taken
# to be answering without end (new ids on every page), which nothing else would stop.
MAX_CONTACTS: Final = 1_000_000
# Path parts that name a collection or an action; every other part is an id or an email.
_LITERAL_PARTS = frozenset(
    {"contacts", "segments", "topics", "contact-properties", "imports", "suppressions"}
)

PropertyInput = str | int | float | None


class Unset:
    """Marks an argument that was not given, where None means "clear the field"."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset()


def segment(value: str) -> str:
    """One path segment, percent-encoded whatever it contains (`@` → `%40`, `/` → `%2F`).

    Dots are encoded too when they are all there is: URL normalisation would otherwise
    turn `/contacts/imports/..` into `/contacts`, another endpoint.
    """
    if value.strip(".") == "":
        return value.replace(".", "%2E")
    return quote(value, safe="")


def contact_path(contact: str) -> str:
    """`/contacts/{id_or_email}` with the value percent-encoded (`@` → `%40`, `+` → `%2B`)."""
    return f"/contacts/{segment(contact)}"


def endpoint(method: str, path: str) -> str:
    """The call as a template for messages: `GET /contacts/{id}`, never the id or email."""
    parts = ["{id}" if part and part not in _LITERAL_PARTS else part for part in path.split("/")]
    return f"{method} {'/'.join(parts)}"


class PageGuard:
    """Keeps one listing finite and consistent whatever the API answers.

    Every page is `accept`ed before it is used. A page that lists an id seen before in
    the same listing (twice on the page, or the last id of an earlier page: the list is
    going round in circles), or that takes the listing past its bound, raises instead.
    The bound is `MAX_PAGES` pages; with `max_items`, that many `noun`, and no more
    pages than they fill at `page_size` a page (so an API answering one new id a page
    is stopped after as many requests as one answering full pages). A listing resumed
    past the id `after` counts the `listed` items it read before: no fresh bound.

    Memory: one id per page (the cursors), not every id listed.
    """

    def __init__(
        self,
        where: str,
        *,
        page_size: int,
        max_items: int | None = None,
        noun: str | None = None,
        listed: int = 0,
        after: str | None = None,
    ) -> None:
        self._where = where
        self._max_items = max_items
        self._noun = noun
        if max_items is None:
            self._max_pages = MAX_PAGES
        else:
            self._max_pages = max(1, -(-max_items // max(1, page_size)))
        self._items = listed
        self._pages = -(-listed // max(1, page_size))
        # A resumed listing starts past `after`: listing it again is going round too.
        self._cursors: set[str] = set() if after is None else {after}

    def accept(self, ids: Sequence[str], *, more: bool) -> None:
        """Take one page of the listing (its items' ids, in order; `more`: another page
        follows), or raise `UnexpectedResponseError` (`ListTooLongError` past the bound)."""
        self._pages += 1
        self._items += len(ids)
        if len(set(ids)) < len(ids):
            raise UnexpectedResponseError(200, self._where, "a page lists the same item twice")
        if any(found in self._cursors for found in ids):
            raise UnexpectedResponseError(
                200, self._where, "its pages repeat: the same cursor came back"
            )
        if self._max_items is not None and self._items > self._max_items:
            raise self._too_long()
        if not more:
            return
        cursor = ids[-1] if ids else ""
        if not cursor:
            raise UnexpectedResponseError(200, self._where, "a page ends with an item without id")
        if self._pages >= self._max_pages:
            raise self._too_long()
        self._cursors.add(cursor)

    def _too_long(self) -> ListTooLongError:
        if self._max_items is None:
            return ListTooLongError(self._where, f"{self._max_pages:,} pages")
        noun = self._noun or "items"
        bound = f"{self._max_items:,} {noun} ({self._max_pages:,} pages)"
        return ListTooLongError(self._where, bound, of=self._noun)


class APIBase:
    """The request hook the endpoint groups call; `ResendClient` implements it."""

    # The most one listing of contacts reads (`MAX_CONTACTS`); the client sets its own.
    max_contacts: int = MAX_CONTACTS

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
        raise NotImplementedError

    def _parse(self, model: type[M], data: Any, method: str, path: str) -> M:
        """`data` as `model`, or an `UnexpectedResponseError` that names the endpoint."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise UnexpectedResponseError(200, endpoint(method, path), _first_problem(exc)) from exc

    async def _call(self, model: type[M], method: str, path: str, **options: Any) -> M:
        """`_request`, then `_parse` of its answer."""
        return self._parse(model, await self._request(method, path, **options), method, path)

    async def _pages(
        self,
        path: str,
        item: type[M],
        *,
        page_size: int = 100,
        max_items: int | None = None,
        noun: str | None = None,
    ) -> AsyncIterator[list[M]]:
        """The pages of a list endpoint, following `after` cursors, each checked by a
        `PageGuard` before it is yielded: at most `MAX_PAGES` pages, or with `max_items`
        that many `noun` (and the pages they fill). An empty page ends the list even if
        it claims more."""
        guard = PageGuard(
            endpoint("GET", path), page_size=page_size, max_items=max_items, noun=noun
        )
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if after is not None:
                params["after"] = after
            page = await self._call(Page[item], "GET", path, params=params)  # type: ignore[valid-type]
            if page.has_more and not page.data:
                logger.warning("%s: an empty page claimed more; taking it as the end", path)
            more = page.has_more and bool(page.data)
            guard.accept([str(getattr(found, "id", "")) for found in page.data], more=more)
            yield page.data
            if not more:
                return
            after = str(getattr(page.data[-1], "id", ""))

    async def _list_all(self, path: str, item: type[M], *, page_size: int = 100) -> list[M]:
        """Every item of a list endpoint (at most `MAX_PAGES` pages; see `_pages`)."""
        return [
            found async for page in self._pages(path, item, page_size=page_size) for found in page
        ]


def _first_problem(error: ValidationError) -> str:
    """The first problem pydantic found, as `field.path: message` (no values: they are data)."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "the body"
    more = error.error_count() - 1
    return f"{where}: {first['msg']}" + (f", and {more} more" if more else "")
