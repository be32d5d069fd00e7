"""What every group of endpoint methods shares: the request hook, paths, and "not given".

`ResendClient` mixes the endpoint groups (`api.contacts`, `api.schema`) together and
provides the one real `_request`; the groups only build paths and bodies and parse replies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from contacts_mcp.api.models import Page

__all__ = ["UNSET", "APIBase", "PropertyInput", "Unset", "contact_path", "segment"]

T = TypeVar("T", bound=BaseModel)

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
    """One path segment, percent-encoded whatever it contains (`@` → `%40`, `/` → `%2F`)."""
    return quote(value, safe="")


def contact_path(contact: str) -> str:
    """`/contacts/{id_or_email}` with the value percent-encoded (`@` → `%40`, `+` → `%2B`)."""
    return f"/contacts/{segment(contact)}"


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

    async def _list_all(self, path: str, item: type[T], *, page_size: int = 100) -> list[T]:
        """Every item of a list endpoint, following `after` cursors page by page."""
        items: list[T] = []
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if after is not None:
                params["after"] = after
            raw = await self._request("GET", path, params=params)
            page = Page[item].model_validate(raw)  # type: ignore[valid-type]
            items.extend(page.data)
            if not page.has_more or not page.data:
                return items
            after = str(raw["data"][-1]["id"])
