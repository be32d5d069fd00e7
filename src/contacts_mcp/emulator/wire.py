"""What every route module needs: Resend's error shape, JSON bodies, field checks, paging."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeGuard, TypeVar, cast

from starlette.requests import Request
from starlette.responses import JSONResponse

from contacts_mcp.emulator.store import (
    Contact,
    Page,
    PageRequest,
    PropertyValue,
    Segment,
    Store,
    Topic,
    UnknownCursorError,
)

__all__ = [
    "JSON",
    "ApiError",
    "error_response",
    "invalid",
    "missing",
    "nullable_str",
    "optional_bool",
    "paged",
    "read_json",
    "read_object",
    "require_contact",
    "require_segment",
    "require_topic",
    "required_str",
    "store_of",
    "value_fits",
]

T = TypeVar("T")

_LIMIT_MESSAGE = (
    "The pagination limit must be a number between 1 and 100. "
    "See https://resend.com/docs/pagination for more information."
)


class JSON(JSONResponse):
    """Resend's content type carries the charset; Starlette's JSONResponse does not."""

    media_type = "application/json; charset=utf-8"


class ApiError(Exception):
    """A failure the client caused; rendered as Resend's `{statusCode, message, name}`."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


def error_response(
    status: int, name: str, message: str, headers: Mapping[str, str] | None = None
) -> JSON:
    # Key order as on the wire.
    return JSON({"statusCode": status, "message": message, "name": name}, status, headers)


def invalid(message: str) -> ApiError:
    return ApiError(422, "validation_error", message)


def missing(field: str) -> NoReturn:
    raise ApiError(422, "missing_required_field", f"Missing `{field}` field.")


def store_of(request: Request) -> Store:
    return cast(Store, request.app.state.store)


# -- request bodies --------------------------------------------------------------------------


def _no_constants(name: str) -> NoReturn:
    # NaN and Infinity are not JSON, and a stored NaN could never be sent back.
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request) -> object:
    """The JSON value in the body, of any type; an empty body counts as `{}`."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value: object = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise invalid("The request body must be valid JSON.") from None
    return value


async def read_object(request: Request) -> dict[str, Any]:
    """The JSON object in the body; an empty body counts as `{}`."""
    value = await read_json(request)
    if not isinstance(value, dict):
        raise invalid("The request body must be a JSON object.")
    return value


def required_str(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    # Like Resend's JavaScript checks, an empty string counts as missing.
    if value is None or value == "":
        missing(field)
    if not isinstance(value, str):
        raise invalid(f"The `{field}` field must be a string.")
    return value


def nullable_str(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise invalid(f"The `{field}` field must be a string or null.")
    return value


def optional_bool(body: Mapping[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"The `{field}` field must be a boolean.")
    return value


def value_fits(value: object, type_: str) -> TypeGuard[PropertyValue]:
    """Whether `value` may be stored in a property of `type_` (a bool is not a number)."""
    if type_ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return type_ == "string" and isinstance(value, str)


# -- lookups ---------------------------------------------------------------------------------


def require_contact(store: Store, ref: str) -> Contact:
    """The contact named by a path segment (id or email), or 404.

    A value that is neither a UUID nor contains "@" cannot name a contact, so it is a plain
    404 too; Resend's answer for such values is unconfirmed (it might be 422 invalid_parameter).
    """
    contact = store.find_contact(ref)
    if contact is None:
        raise ApiError(404, "not_found", "Contact not found")
    return contact


def require_segment(store: Store, segment_id: str) -> Segment:
    segment = store.get_segment(segment_id)
    if segment is None:
        # Sic: Resend still says "Audience" for segments.
        raise ApiError(404, "not_found", "Audience not found")
    return segment


def require_topic(store: Store, topic_id: str) -> Topic:
    topic = store.get_topic(topic_id)
    if topic is None:
        raise ApiError(404, "not_found", "Topic not found")
    return topic


# -- lists -----------------------------------------------------------------------------------

# Items per page when a request gives no `limit`: the documented default ("Default is 20,
# maximum is 100"; docs api-reference/pagination). Older docs said the first list
# endpoints (contacts, segments) answer everything without `limit`, and resend-rust and
# resend-cli assume other defaults; clients that care send `limit`, as ours always does.
DEFAULT_PAGE_SIZE = 20


def _page_request(request: Request, default_limit: int | None) -> PageRequest:
    query = request.query_params
    raw_limit = query.get("limit")
    limit = default_limit
    if raw_limit is not None:
        if re.fullmatch(r"[0-9]{1,3}", raw_limit) is None or not 1 <= int(raw_limit) <= 100:
            raise invalid(_LIMIT_MESSAGE)
        limit = int(raw_limit)
    after, before = query.get("after"), query.get("before")
    if after is not None and before is not None:
        raise invalid("The `after` and `before` parameters cannot be used together.")
    return PageRequest(limit=limit, after=after, before=before)


def paged(
    request: Request,
    fetch: Callable[[PageRequest], Page[T]],
    render: Callable[[T], dict[str, Any]],
    *,
    default_limit: int | None = DEFAULT_PAGE_SIZE,
) -> JSON:
    """A list envelope for one page of `limit` items (`default_limit` when not given;
    None: every item)."""
    page_request = _page_request(request, default_limit)
    try:
        page = fetch(page_request)
    except UnknownCursorError as exc:
        raise invalid(
            f"The `{exc.param}` parameter must be the id of an item in this list."
        ) from None
    return JSON(
        {"object": "list", "has_more": page.has_more, "data": [render(item) for item in page.items]}
    )
