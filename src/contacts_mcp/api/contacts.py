"""Contact endpoints: create, get, update, delete, list, and a contact's segments and topics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from contacts_mcp.api.base import (
    UNSET,
    APIBase,
    PageGuard,
    PropertyInput,
    Unset,
    contact_path,
    endpoint,
    segment,
)
from contacts_mcp.api.errors import UnexpectedResponseError
from contacts_mcp.api.models import (
    Contact,
    ContactPage,
    ContactSegment,
    ContactSummary,
    ContactTopic,
    CreatedObject,
    DeletedContact,
    Subscription,
)

__all__ = ["ContactsAPI"]


class ContactsAPI(APIBase):
    """`/contacts` endpoints."""

    async def create_contact(
        self,
        email: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        unsubscribed: bool | None = None,
        properties: Mapping[str, PropertyInput] | None = None,
        segments: Sequence[str] = (),
        topics: Mapping[str, Subscription] | None = None,
    ) -> CreatedObject:
        """`POST /contacts`. For an email that already exists Resend answers with its id.

        `segments` are segment ids to join; `topics` maps topic ids to subscriptions.
        """
        body: dict[str, Any] = {"email": email}
        if first_name is not None:
            body["first_name"] = first_name
        if last_name is not None:
            body["last_name"] = last_name
        if unsubscribed is not None:
            body["unsubscribed"] = unsubscribed
        if properties:
            body["properties"] = dict(properties)
        if segments:
            # Objects, not bare ids: what the SDKs send and the recordings show accepted.
            body["segments"] = [{"id": segment_id} for segment_id in segments]
        if topics:
            body["topics"] = [{"id": tid, "subscription": sub} for tid, sub in topics.items()]
        return await self._call(CreatedObject, "POST", "/contacts", json=body)

    async def get_contact(self, contact: str) -> Contact:
        """`GET /contacts/{id_or_email}`."""
        return await self._call(Contact, "GET", contact_path(contact))

    async def update_contact(
        self,
        contact: str,
        *,
        first_name: str | Unset | None = UNSET,
        last_name: str | Unset | None = UNSET,
        unsubscribed: bool | Unset = UNSET,
        properties: Mapping[str, PropertyInput] | Unset = UNSET,
    ) -> CreatedObject:
        """`PATCH /contacts/{id_or_email}`; None clears a name, a None property value clears it."""
        body: dict[str, Any] = {}
        if not isinstance(first_name, Unset):
            body["first_name"] = first_name
        if not isinstance(last_name, Unset):
            body["last_name"] = last_name
        if not isinstance(unsubscribed, Unset):
            body["unsubscribed"] = unsubscribed
        if not isinstance(properties, Unset):
            body["properties"] = dict(properties)
        return await self._call(CreatedObject, "PATCH", contact_path(contact), json=body)

    async def delete_contact(self, contact: str) -> DeletedContact:
        """`DELETE /contacts/{id_or_email}`."""
        return await self._call(DeletedContact, "DELETE", contact_path(contact))

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
        return await self._call(ContactPage, "GET", _contacts_path(segment_id), params=params)

    async def iter_contacts(
        self,
        *,
        segment_id: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[ContactSummary]:
        """Every contact, newest first, fetched page by page (guarded like every list, up
        to `max_contacts`: an account may hold more than `MAX_PAGES` pages of them)."""
        path = _contacts_path(segment_id)
        async for page in self._pages(
            path, ContactSummary, page_size=page_size, max_items=self.max_contacts, noun="contacts"
        ):
            for item in page:
                yield item

    def contact_list_guard(
        self,
        *,
        segment_id: str | None = None,
        page_size: int = 100,
        after: str | None = None,
        listed: int = 0,
    ) -> PageGuard:
        """The `PageGuard` for paging the account's contacts (or a segment's) with
        `list_contacts`: what `iter_contacts` applies, for callers that page themselves.
        A listing resumed past `after` read `listed` contacts before."""
        return PageGuard(
            endpoint("GET", _contacts_path(segment_id)),
            page_size=page_size,
            max_items=self.max_contacts,
            noun="contacts",
            listed=listed,
            after=after,
        )

    async def list_contact_segments(self, contact: str) -> list[ContactSegment]:
        """`GET /contacts/{id_or_email}/segments`: every segment the contact belongs to."""
        # Paged like every list (a contact in 25 segments shows 20 on the first page).
        return await self._list_all(f"{contact_path(contact)}/segments", ContactSegment)

    async def add_contact_to_segment(self, contact: str, segment_id: str) -> None:
        """`POST /contacts/{id_or_email}/segments/{segment_id}`."""
        path = f"{contact_path(contact)}/segments/{segment(segment_id)}"
        self._check_write(await self._request("POST", path), "POST", path)

    async def remove_contact_from_segment(self, contact: str, segment_id: str) -> None:
        """`DELETE /contacts/{id_or_email}/segments/{segment_id}`."""
        path = f"{contact_path(contact)}/segments/{segment(segment_id)}"
        self._check_write(await self._request("DELETE", path), "DELETE", path)

    def _check_write(self, answer: Any, method: str, path: str) -> None:
        """A write Resend answered in a shape it never uses is not counted as done.

        The sources disagree on these answers (reference §8.2, §8.3, §9.2: `{id}`,
        `{object, contact_id, segment_id}`, `{object, id, audienceId, deleted}`), but each
        is an object naming an id. Anything else raises `UnexpectedResponseError`: the write
        may or may not have happened, so it is never reported as done."""
        named = isinstance(answer, dict) and any(
            isinstance(answer.get(key), str) and answer[key]
            for key in ("id", "contact_id", "segment_id")
        )
        if not named or (isinstance(answer, dict) and answer.get("deleted") is False):
            raise UnexpectedResponseError(200, endpoint(method, path), "an answer naming no id")

    async def list_contact_topics(self, contact: str) -> list[ContactTopic]:
        """`GET /contacts/{id_or_email}/topics`: the contact's topic subscriptions."""
        return await self._list_all(f"{contact_path(contact)}/topics", ContactTopic)

    async def update_contact_topics(
        self, contact: str, subscriptions: Mapping[str, Subscription]
    ) -> None:
        """`PATCH /contacts/{id_or_email}/topics`; topics not listed are left as they are."""
        # A bare array: what both SDKs and the docs' cURL send (the OpenAPI file disagrees).
        body: list[dict[str, Any]] = [
            {"id": topic_id, "subscription": sub} for topic_id, sub in subscriptions.items()
        ]
        path = f"{contact_path(contact)}/topics"
        self._check_write(await self._request("PATCH", path, json=body), "PATCH", path)


def _contacts_path(segment_id: str | None) -> str:
    """The account's contact list, or one segment's."""
    return "/contacts" if segment_id is None else f"/segments/{segment(segment_id)}/contacts"
