"""Contact operations behind the MCP tools: validation, id-or-email, error wording.

Everything a tool does with contacts goes through `ContactsService`. It checks input
before the first request (bad input changes nothing), makes the few API calls a job
needs, and turns client exceptions into `UserFacingError`s whose text tells the model
what went wrong and which tool to call next. It knows nothing of MCP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from contacts_mcp._render import clean
from contacts_mcp.client import UNSET, PropertyInput, ResendClient
from contacts_mcp.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResendError,
    ServerError,
    TransportError,
)
from contacts_mcp.models import Contact, ContactSummary

__all__ = [
    "MAX_NAME_CHARS",
    "ClearableField",
    "ContactList",
    "ContactOut",
    "ContactsService",
    "CreatedContact",
    "DeletedContactOut",
    "UserFacingError",
    "normalize_email",
    "parse_contact_ref",
]

MAX_NAME_CHARS = 256
MAX_PROPERTY_VALUE_CHARS = 2000
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_]{1,50}$")
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")

ClearableField = Literal["first_name", "last_name"]


class UserFacingError(Exception):
    """A failure explained for the model or person at the other end, with a next step."""


# -- results --------------------------------------------------------------------------


class ContactOut(BaseModel):
    """A contact with Resend's field names; `properties` maps each key to its value."""

    id: str
    email: str
    first_name: str | None
    last_name: str | None
    unsubscribed: bool
    created_at: str
    properties: dict[str, str | int | float | bool | None]

    @classmethod
    def from_contact(cls, contact: Contact) -> ContactOut:
        return cls(
            id=contact.id,
            email=contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            unsubscribed=contact.unsubscribed,
            created_at=contact.created_at,
            properties={key: entry.value for key, entry in contact.properties.items()},
        )


class CreatedContact(ContactOut):
    created: bool = Field(
        description="False when a contact with this email already existed; it was left unchanged."
    )


class ContactList(BaseModel):
    contacts: list[ContactSummary]
    has_more: bool = Field(description="More contacts exist in the direction of travel.")
    next_after: str | None = Field(
        description="Pass as `after` for the next (older) page; null when there is none."
    )
    next_before: str | None = Field(
        description="Pass as `before` for the previous (newer) page; null when there is none."
    )


class DeletedContactOut(BaseModel):
    id: str
    email: str
    deleted: bool


# -- input checks ---------------------------------------------------------------------


def _show(value: str, limit: int = 80) -> str:
    """A user-supplied value quoted safely for an error message."""
    return repr(clean(value, limit))


def normalize_email(value: str) -> str:
    """The address in canonical form (trimmed, domain lower-cased), or a clear error."""
    # Imported here: email_validator pulls in dnspython, which the server's startup
    # path does not need.
    from email_validator import EmailNotValidError, validate_email

    text = value.strip()
    if not text:
        raise UserFacingError("The email address is empty. Give an address like ada@example.com.")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise UserFacingError(f"{_show(text)} is not a valid email address: {exc}") from None
    return result.normalized


def parse_contact_ref(value: str) -> str:
    """A contact id (UUID) or a normalized email; anything else is refused."""
    text = value.strip()
    if not text:
        raise UserFacingError(
            "`contact` is empty. Give the contact's id or email address; "
            "use list_contacts to find it."
        )
    if "@" in text:
        return normalize_email(text)
    if _UUID.match(text):
        return text.lower()
    raise UserFacingError(
        f"{_show(text)} is neither a contact id (a UUID) nor an email address. "
        "Use list_contacts to find the contact's id."
    )


def _check_cursor(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not _UUID.match(text):
        raise UserFacingError(
            f"`{name}` must be a contact id taken from a previous list_contacts page, "
            f"not {_show(text)}."
        )
    return text.lower()


def _check_name(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise UserFacingError(
            f"`{field}` is empty. Leave it out to keep the current value, "
            "or use clear_fields to remove it."
        )
    if len(text) > MAX_NAME_CHARS:
        raise UserFacingError(
            f"`{field}` is {len(text)} characters; the limit is {MAX_NAME_CHARS}."
        )
    if _CONTROL.search(text):
        raise UserFacingError(f"`{field}` contains control characters; remove them.")
    return text


def _check_properties(
    properties: Mapping[str, PropertyInput] | None,
) -> dict[str, PropertyInput] | None:
    if properties is None:
        return None
    checked: dict[str, PropertyInput] = {}
    for key, value in properties.items():
        if not _PROPERTY_KEY.match(key):
            raise UserFacingError(
                f"Property key {_show(key, 60)} is invalid: use up to 50 letters, digits "
                "or underscores, matching an existing contact property."
            )
        if isinstance(value, str) and len(value) > MAX_PROPERTY_VALUE_CHARS:
            raise UserFacingError(
                f"The value of property {key!r} is {len(value)} characters; "
                f"the limit is {MAX_PROPERTY_VALUE_CHARS}."
            )
        checked[key] = value
    return checked


# -- error wording --------------------------------------------------------------------


def explain(error: ResendError, *, subject: str = "") -> UserFacingError:
    """Rewrite a client error for the model: what happened and what to do next.

    Resend's own message is included only cleaned and shortened, never the raw body.
    """
    if isinstance(error, TransportError):
        return UserFacingError(
            f"Could not get an answer from Resend ({error.message.rstrip('.')}, "
            f"{_attempts(error.attempts)}). Nothing is known to have changed; try again shortly."
        )
    if isinstance(error, AuthenticationError):
        return UserFacingError(
            f"Resend rejected the API key ({error.name}). Set RESEND_API_KEY to a "
            "full-access key; sending-only keys cannot manage contacts."
        )
    if isinstance(error, RateLimitError):
        wait = f"{error.retry_after:.0f} seconds" if error.retry_after else "a few seconds"
        return UserFacingError(
            f"Resend's rate limit is still exceeded after {_attempts(error.attempts)}. "
            f"Wait {wait}, then try again."
        )
    if isinstance(error, QuotaExceededError):
        return UserFacingError(
            f"Resend reports the account's quota is used up ({error.name}); "
            "waiting a few seconds will not help."
        )
    if isinstance(error, ServerError):
        return UserFacingError(
            f"Resend failed with a server error (HTTP {error.status_code}) after "
            f"{_attempts(error.attempts)}. Nothing is known to have changed; try again in a minute."
        )
    if isinstance(error, NotFoundError):
        what = subject or "The requested item"
        return UserFacingError(f"{what} was not found.")
    if isinstance(error, InvalidRequestError | APIError):
        return UserFacingError(f"Resend refused the request: {clean(error.message, 200)}")
    return UserFacingError("The request to Resend failed.")


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _not_found_contact(ref: str) -> UserFacingError:
    return UserFacingError(
        f"No contact {_show(ref)}. Use list_contacts to find it, or create_contact to add it."
    )


# -- the service ----------------------------------------------------------------------


class ContactsService:
    """Contact jobs for the tools, over one `ResendClient`."""

    def __init__(self, client: ResendClient) -> None:
        self._client = client

    async def create(
        self,
        email: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        unsubscribed: bool | None = None,
        properties: Mapping[str, PropertyInput] | None = None,
    ) -> CreatedContact:
        address = normalize_email(email)
        first = _check_name("first_name", first_name)
        last = _check_name("last_name", last_name)
        props = _check_properties(properties)
        try:
            # Resend answers a duplicate create with the existing id and (as far as
            # anyone has shown) leaves it untouched; looking first lets us say so.
            existing = await self._client.get_contact(address)
        except NotFoundError:
            pass
        except ResendError as exc:
            raise explain(exc) from None
        else:
            return CreatedContact(**ContactOut.from_contact(existing).model_dump(), created=False)
        try:
            created = await self._client.create_contact(
                address,
                first_name=first,
                last_name=last,
                unsubscribed=unsubscribed,
                properties=props,
            )
            contact = await self._client.get_contact(created.id)
        except ResendError as exc:
            raise explain(exc) from None
        return CreatedContact(**ContactOut.from_contact(contact).model_dump(), created=True)

    async def get(self, contact: str) -> ContactOut:
        ref = parse_contact_ref(contact)
        try:
            found = await self._client.get_contact(ref)
        except NotFoundError:
            raise _not_found_contact(ref) from None
        except ResendError as exc:
            raise explain(exc) from None
        return ContactOut.from_contact(found)

    async def update(
        self,
        contact: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        unsubscribed: bool | None = None,
        properties: Mapping[str, PropertyInput] | None = None,
        clear_fields: Sequence[ClearableField] = (),
    ) -> ContactOut:
        ref = parse_contact_ref(contact)
        first = _check_name("first_name", first_name)
        last = _check_name("last_name", last_name)
        props = _check_properties(properties)
        clearing = set(clear_fields)
        for field, value in (("first_name", first), ("last_name", last)):
            if value is not None and field in clearing:
                raise UserFacingError(f"`{field}` is both set and in clear_fields; choose one.")
        if first is None and last is None and unsubscribed is None and not props and not clearing:
            raise UserFacingError(
                "Nothing to update. Give first_name, last_name, unsubscribed, properties "
                "or clear_fields."
            )
        try:
            updated = await self._client.update_contact(
                ref,
                first_name=None if "first_name" in clearing else (first or UNSET),
                last_name=None if "last_name" in clearing else (last or UNSET),
                unsubscribed=UNSET if unsubscribed is None else unsubscribed,
                properties=props if props else UNSET,
            )
            found = await self._client.get_contact(updated.id)
        except NotFoundError:
            raise _not_found_contact(ref) from None
        except ResendError as exc:
            raise explain(exc) from None
        return ContactOut.from_contact(found)

    async def delete(self, contact: str) -> DeletedContactOut:
        ref = parse_contact_ref(contact)
        try:
            found = await self._client.get_contact(ref)
        except NotFoundError:
            raise _not_found_contact(ref) from None
        except ResendError as exc:
            raise explain(exc) from None
        try:
            await self._client.delete_contact(found.id)
        except NotFoundError:
            # Gone between the lookup and the delete (or an earlier attempt whose
            # response was lost already deleted it): the outcome the caller wanted.
            pass
        except ResendError as exc:
            raise explain(exc) from None
        return DeletedContactOut(id=found.id, email=found.email, deleted=True)

    async def list(
        self,
        *,
        limit: int = 20,
        after: str | None = None,
        before: str | None = None,
        segment_id: str | None = None,
    ) -> ContactList:
        if after is not None and before is not None:
            raise UserFacingError(
                "Pass either `after` (older page) or `before` (newer page), not both."
            )
        after = _check_cursor("after", after)
        before = _check_cursor("before", before)
        segment = None
        if segment_id is not None:
            segment = segment_id.strip()
            if not _UUID.match(segment):
                raise UserFacingError(
                    f"`segment_id` must be a segment id (a UUID), not {_show(segment)}."
                )
        try:
            page = await self._client.list_contacts(
                limit=limit, after=after, before=before, segment_id=segment
            )
        except NotFoundError:
            raise UserFacingError(
                f"No segment {_show(segment or '')}. Check the segment id."
            ) from None
        except InvalidRequestError as exc:
            if after or before:
                raise UserFacingError(
                    "The page cursor is not a contact in this list (it may have been deleted). "
                    "Start again without `after`/`before`."
                ) from None
            raise explain(exc) from None
        except ResendError as exc:
            raise explain(exc) from None
        return _paged(
            page.data, page.has_more, backwards=before is not None, cursor=after or before
        )


def _paged(
    items: Sequence[ContactSummary], has_more: bool, *, backwards: bool, cursor: str | None
) -> ContactList:
    """Both cursors of a page, whichever way the caller is paging."""
    if not items:
        return ContactList(contacts=[], has_more=False, next_after=None, next_before=None)
    older_exist = (not backwards and has_more) or (backwards and cursor is not None)
    newer_exist = (backwards and has_more) or (not backwards and cursor is not None)
    return ContactList(
        contacts=list(items),
        has_more=has_more,
        next_after=items[-1].id if older_exist else None,
        next_before=items[0].id if newer_exist else None,
    )
