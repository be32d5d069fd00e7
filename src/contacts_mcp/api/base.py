"""What every group of endpoint methods shares: the request hook, parsing, paths, "not given".

`ResendClient` mixes the endpoint groups (`api.contacts`, `api.schema`) together and
provides the one real `_request`; the groups only build paths and bodies and parse replies
with `_parse`, which turns an answer of an unexpected shape into an
`UnexpectedResponseError` naming the endpoint.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from contacts_mcp.api.errors import UnexpectedResponseError
from contacts_mcp.api.models import Page

__all__ = [
    "MAX_PAGES",
    "UNSET",
    "APIBase",
    "PropertyInput",
    "Unset",
    "contact_path",
    "endpoint",
    "segment",
]

M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger("contacts_mcp.api.client")

# Pages `_list_all` follows at most: 100,000 items at 100 a page. A list longer than that
# is not something one call should read whole.
MAX_PAGES: Final = 1000
# Path parts that name a collection or an action; every other part is an id or an email.
_LITERAL_PARTS = frozenset({"contacts", "segments", "topics", "contact-properties", "imports"})

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


class APIBase:
    """The request hook the endpoint groups call; `ResendClient` implements it."""

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
        self, path: str, item: type[M], *, page_size: int = 100, max_pages: int | None = MAX_PAGES
    ) -> AsyncIterator[list[M]]:
        """The pages of a list endpoint, following `after` cursors.

        Bounded whatever the API answers: an empty page ends the list even if it claims
        more, and a cursor that comes back (the API is going round in circles) or a list
        past `max_pages` pages is an `UnexpectedResponseError`.
        """
        seen: set[str] = set()
        after: str | None = None
        pages = itertools.count() if max_pages is None else range(max_pages)
        for _ in pages:
            params: dict[str, str | int] = {"limit": page_size}
            if after is not None:
                params["after"] = after
            page = await self._call(Page[item], "GET", path, params=params)  # type: ignore[valid-type]
            yield page.data
            if not page.has_more:
                return
            if not page.data:
                logger.warning("%s: an empty page claimed more; taking it as the end", path)
                return
            after = str(getattr(page.data[-1], "id", ""))
            if not after or after in seen:
                raise UnexpectedResponseError(
                    200, endpoint("GET", path), "its pages repeat: the same cursor came back"
                )
            seen.add(after)
        raise UnexpectedResponseError(
            200, endpoint("GET", path), f"the list goes on past {max_pages} pages"
        )

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
