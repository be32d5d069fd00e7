"""Suppression endpoints: `/suppressions…` (a Resend private beta; shapes from
resend.com/docs/api-reference/suppressions).

Choices the docs leave open (UNCONFIRMED), made here:
* Addresses are trimmed and lower-cased (Resend's Ruby SDK says the API does so), and
  checked as a contact's email is (422).
* Adding an address already suppressed answers its suppression (the SDKs say so), 201
  like a new one; a batch answers 200, its `data` in the order of `emails` (an address
  given twice gets the same id twice). One invalid address fails the whole batch.
* The list is paginated like the other lists, 20 by default.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response

from contacts_mcp.emulator.options import EmulatorOptions
from contacts_mcp.emulator.store import Store, Suppression, is_email
from contacts_mcp.emulator.wire import (
    JSON,
    ApiError,
    invalid,
    missing,
    paged,
    read_object,
    required_str,
    store_of,
)

__all__ = [
    "add_suppression",
    "add_suppressions",
    "delete_suppression",
    "get_suppression",
    "list_suppressions",
]

_BATCH_MAX = 100
_EMAILS_SHAPE = f"The `emails` field must be a list of 1 to {_BATCH_MAX} email addresses."


def _suppression_item(suppression: Suppression) -> dict[str, Any]:
    return {
        "object": "suppression",
        "id": suppression.id,
        "email": suppression.email,
        "origin": suppression.origin,
        "source_id": None,  # the email a bounce or complaint came from; none for manual ones
        "created_at": suppression.created_at,
    }


def _store(request: Request) -> Store:
    """The store, or the 404 a team without the beta gets."""
    if not cast(EmulatorOptions, request.app.state.options).suppressions_api:
        raise ApiError(404, "not_found", "The requested endpoint does not exist.")
    return store_of(request)


def _address(email: str, field: str = "email") -> str:
    address = email.strip().lower()
    if not is_email(address):
        raise invalid(
            f"Invalid `{field}` field. The email address needs to follow the "
            "`email@example.com` format."
        )
    return address


def _require(store: Store, ref: str) -> Suppression:
    suppression = store.find_suppression(ref)
    if suppression is None:
        raise ApiError(404, "not_found", "Suppression not found")
    return suppression


async def add_suppression(request: Request) -> Response:
    store = _store(request)
    body = await read_object(request)
    [suppression_id] = store.add_suppressions([_address(required_str(body, "email"))])
    return JSON({"object": "suppression", "id": suppression_id}, status_code=201)


async def add_suppressions(request: Request) -> Response:
    store = _store(request)
    emails = (await read_object(request)).get("emails")
    if emails is None:
        missing("emails")
    if not isinstance(emails, list) or not 1 <= len(emails) <= _BATCH_MAX:
        raise invalid(_EMAILS_SHAPE)
    if not all(isinstance(email, str) for email in emails):
        raise invalid(_EMAILS_SHAPE)
    addresses = [_address(email, f"emails[{index}]") for index, email in enumerate(emails)]
    ids = store.add_suppressions(addresses)
    return JSON({"data": [{"object": "suppression", "id": found} for found in ids]})


async def list_suppressions(request: Request) -> Response:
    return paged(request, _store(request).list_suppressions, _suppression_item)


async def get_suppression(request: Request) -> Response:
    suppression = _require(_store(request), request.path_params["suppression"])
    return JSON(_suppression_item(suppression))


async def delete_suppression(request: Request) -> Response:
    store = _store(request)
    suppression = _require(store, request.path_params["suppression"])
    store.delete_suppression(suppression.id)
    return JSON({"object": "suppression", "id": suppression.id, "deleted": True})
