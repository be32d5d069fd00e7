"""Contact operations behind the MCP tools: validation, id-or-email, error wording.

Everything a tool does with contacts goes through `ContactsService`. It checks input
before the first request (bad input changes nothing), makes the few API calls a job
needs, and turns client exceptions into `UserFacingError`s whose text tells the model
what went wrong and which tool to call next. It knows nothing of MCP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field

from contacts_mcp.api.base import UNSET, PropertyInput
from contacts_mcp.api.client import DEFAULT_API_DEADLINE, ResendClient
from contacts_mcp.api.errors import InvalidRequestError, NotFoundError, ResendError
from contacts_mcp.api.models import (
    PROPERTY_KEY,
    Contact,
    ContactSegment,
    ContactSummary,
    ContactTopic,
    Scalar,
    Subscription,
    is_uuid,
)
from contacts_mcp.services.explain import (
    NothingFoundError,
    UserFacingError,
    api_errors,
    explain,
    show,
)
from contacts_mcp.services.mirror import Mirror
from contacts_mcp.services.schema import MAX_PROPERTY_VALUE_CHARS, SchemaService
from contacts_mcp.services.sets import contact_values, mirrored
from contacts_mcp.services.sharing import FolderLock, FolderLockTimeout
from contacts_mcp.text.caps import (
    MORE_KEY,
    more_than_shown,
    shown,
    shown_items,
    shown_properties,
)
from contacts_mcp.text.sanitize import has_hidden

__all__ = [
    "CREATE_WAIT_SECONDS",
    "MAX_NAME_CHARS",
    "ClearableField",
    "ContactList",
    "ContactOut",
    "ContactsService",
    "CreatedContact",
    "DeletedContactOut",
    "SegmentRef",
    "TopicSubscription",
    "check_property_input",
    "normalize_email",
    "parse_contact_ref",
]

MAX_NAME_CHARS = 256
# A create waits this long for another to end: one holds the lock for at most its API
# work, and that ends within the tool call's deadline (`DEFAULT_API_DEADLINE`).
CREATE_WAIT_SECONDS = DEFAULT_API_DEADLINE

ClearableField = Literal["first_name", "last_name"]


# -- results --------------------------------------------------------------------------


class SegmentRef(BaseModel):
    id: str
    name: str


class TopicSubscription(BaseModel):
    id: str
    name: str
    subscription: Subscription


class ContactOut(BaseModel):
    """A contact with Resend's field names; `properties` maps each key to its value."""

    id: str
    email: str
    first_name: str | None
    last_name: str | None
    unsubscribed: bool
    created_at: str
    properties: dict[str, str | int | float | bool | None]
    segments: list[SegmentRef]
    topics: list[TopicSubscription]

    @classmethod
    def assemble(
        cls, contact: Contact, segments: list[ContactSegment], topics: list[ContactTopic]
    ) -> ContactOut:
        """The contact as shown to the model: every field under `text.caps`' rule."""
        shown_segments, more_segments = shown_items(segments)
        values: dict[str, Scalar] = {key: entry.value for key, entry in contact.properties.items()}
        properties = shown_properties(values)
        return cls(
            id=shown(contact.id),
            email=shown(contact.email),
            first_name=None if contact.first_name is None else shown(contact.first_name),
            last_name=None if contact.last_name is None else shown(contact.last_name),
            unsubscribed=contact.unsubscribed,
            created_at=shown(contact.created_at),
            properties=properties,
            segments=[SegmentRef(id=shown(s.id), name=shown(s.name)) for s in shown_segments]
            + (
                [SegmentRef(id=MORE_KEY, name=more_than_shown(more_segments, "segments"))]
                if more_segments
                else []
            ),
            # Never cut in number: each is a consent choice, and the account's topics are few.
            topics=[
                TopicSubscription(id=shown(t.id), name=shown(t.name), subscription=t.subscription)
                for t in topics
            ],
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
    id: str | None
    email: str | None
    deleted: bool
    already_gone: bool = Field(
        default=False, description="No such contact, so nothing was deleted (now or before)."
    )


# -- input checks ---------------------------------------------------------------------


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
        raise UserFacingError(f"{show(text)} is not a valid email address: {exc}") from None
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
    if is_uuid(text):
        return text.lower()
    raise UserFacingError(
        f"{show(text)} is neither a contact id (a UUID) nor an email address. "
        "Use list_contacts to find the contact's id."
    )


def _check_cursor(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not is_uuid(text):
        raise UserFacingError(
            f"`{name}` must be a contact id taken from a previous list_contacts page, "
            f"not {show(text)}."
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
    if has_hidden(text):
        raise UserFacingError(
            f"`{field}` contains control, invisible or direction-changing characters "
            "(a line break, say); remove them."
        )
    return text


def check_property_input(
    properties: Mapping[str, PropertyInput] | None,
) -> dict[str, PropertyInput] | None:
    if properties is None:
        return None
    checked: dict[str, PropertyInput] = {}
    for key, value in properties.items():
        if not PROPERTY_KEY.fullmatch(key):
            raise UserFacingError(
                f"Property key {show(key, 60)} is invalid: use up to 50 letters, digits "
                "or underscores, matching an existing contact property."
            )
        if isinstance(value, str) and len(value) > MAX_PROPERTY_VALUE_CHARS:
            raise UserFacingError(
                f"The value of property {key!r} is {len(value)} characters; "
                f"the limit is {MAX_PROPERTY_VALUE_CHARS}."
            )
        checked[key] = value
    return checked


def _not_found_contact(ref: str) -> UserFacingError:
    return NothingFoundError(
        f"No contact {show(ref)}. Use list_contacts to find it, or create_contact to add it."
    )


# -- the service ----------------------------------------------------------------------


class ContactsService:
    """Contact jobs for the tools, over one `ResendClient` and the account's schema."""

    def __init__(
        self,
        client: ResendClient,
        schema: SchemaService,
        mirror: Mirror | None = None,
        *,
        creating: FolderLock | None = None,
    ) -> None:
        self._client = client
        self._schema = schema
        # Every contact this service reads or writes is written through to the mirror,
        # so searches see this server's own changes at once.
        self._mirror = mirror
        # Held from "does this address exist?" until it does (see `create`); shared by
        # every server process on the data folder when given one.
        self._creating = creating or FolderLock(None)

    async def get(self, contact: str) -> ContactOut:
        """The contact with its properties, segments and topic subscriptions.

        The three reads run concurrently; the pacer still keeps them under the rate limit.
        """
        return await self._read(contact, changed=False)

    async def _read(self, contact: str, *, changed: bool) -> ContactOut:
        """`get`, after this service `changed` the contact or not (for the mirror)."""
        ref = parse_contact_ref(contact)
        results: dict[str, Any] = {}

        async def fetch(name: str, read: Callable[[str], Awaitable[Any]]) -> None:
            try:
                results[name] = await read(ref)
            except ResendError as exc:
                results[name] = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch, "contact", self._client.get_contact)
            tg.start_soon(fetch, "segments", self._client.list_contact_segments)
            tg.start_soon(fetch, "topics", self._client.list_contact_topics)
        with api_errors(not_found=lambda: _not_found_contact(ref)):
            for value in results.values():
                if isinstance(value, NotFoundError):
                    self._forget(ref)
                if isinstance(value, ResendError):
                    raise value
        found: Contact = results["contact"]
        segments: list[ContactSegment] = results["segments"]
        if self._mirror is not None:
            self._mirror.upsert(mirrored(found, contact_values(found)), changed=changed)
            self._mirror.set_memberships(found.id, [s.id for s in segments])
        return ContactOut.assemble(found, segments, results["topics"])

    def _forget(self, ref: str) -> None:
        """A contact Resend says does not exist is not in the mirror either."""
        if self._mirror is None:
            return
        contact_id = ref if is_uuid(ref) else self._mirror.find_id(ref)
        if contact_id is not None:
            self._mirror.remove(contact_id)

    async def create(
        self,
        email: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        unsubscribed: bool | None = None,
        properties: Mapping[str, PropertyInput] | None = None,
        segments: Sequence[str] = (),
        topics: Mapping[str, Subscription] | None = None,
    ) -> CreatedContact:
        address = normalize_email(email)
        first = _check_name("first_name", first_name)
        last = _check_name("last_name", last_name)
        values = check_property_input(properties) or {}
        # A null on a new contact means "no value": nothing to send.
        values = {k: v for k, v in values.items() if v is not None}
        values = await self._schema.check_property_values(values)
        segment_ids = await self._schema.segment_ids(segments)
        subscriptions = await self._schema.topic_ids(topics or {})
        contact_id, created = await self._create_once(
            address,
            first_name=first,
            last_name=last,
            unsubscribed=unsubscribed,
            properties=values,
            segments=segment_ids,
            topics=subscriptions,
        )
        found = await self._read(contact_id, changed=created)
        return CreatedContact(**found.model_dump(), created=created)

    async def _create_once(
        self,
        address: str,
        *,
        first_name: str | None,
        last_name: str | None,
        unsubscribed: bool | None,
        properties: Mapping[str, PropertyInput],
        segments: Sequence[str],
        topics: Mapping[str, Subscription],
    ) -> tuple[str, bool]:
        """The contact's id, and whether this call created it (False: it existed).

        Resend answers a duplicate create with 201 and the existing id, as it answers a
        new one, and (as far as anyone has shown) leaves the contact untouched: only
        looking first tells the two apart. Under the lock, no other create by this server
        or by another on the same data folder comes between the look and the create, so
        a new contact is reported created once. (A create by anything else, such as the
        dashboard, still can come between: the API gives no way to tell.)
        """
        try:
            async with self._creating.held(wait=CREATE_WAIT_SECONDS):
                try:
                    existing = await self._client.get_contact(address)
                except NotFoundError:
                    pass
                except ResendError as exc:
                    raise explain(exc) from None
                else:
                    return existing.id, False
                with api_errors():
                    created = await self._client.create_contact(
                        address,
                        first_name=first_name,
                        last_name=last_name,
                        unsubscribed=unsubscribed,
                        properties=properties,
                        segments=segments,
                        topics=topics,
                    )
                return created.id, True
        except FolderLockTimeout:
            raise UserFacingError(
                "Another server on this data folder (another host window) has been "
                f"creating a contact for {CREATE_WAIT_SECONDS:.0f} s. Call create_contact "
                "again in a moment."
            ) from None

    async def update(
        self,
        contact: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        unsubscribed: bool | None = None,
        properties: Mapping[str, PropertyInput] | None = None,
        clear_fields: Sequence[ClearableField] = (),
        add_segments: Sequence[str] = (),
        remove_segments: Sequence[str] = (),
        topics: Mapping[str, Subscription] | None = None,
        resubscribe: bool = False,
    ) -> ContactOut:
        # Everything is checked before the first write, so bad input changes nothing.
        ref = parse_contact_ref(contact)
        first = _check_name("first_name", first_name)
        last = _check_name("last_name", last_name)
        values = await self._schema.check_property_values(check_property_input(properties) or {})
        clearing = set(clear_fields)
        for field, value in (("first_name", first), ("last_name", last)):
            if value is not None and field in clearing:
                raise UserFacingError(f"`{field}` is both set and in clear_fields; choose one.")
        joining = await self._schema.segment_ids(add_segments)
        leaving = await self._schema.segment_ids(remove_segments)
        if both := set(joining) & set(leaving):
            raise UserFacingError(
                f"Segment {sorted(both)[0]} is in both add_segments and remove_segments; "
                "keep it in one of them."
            )
        subscriptions = await self._schema.topic_ids(topics or {})
        changes_fields = bool(
            first is not None or last is not None or unsubscribed is not None or values or clearing
        )
        if not (changes_fields or joining or leaving or subscriptions):
            raise UserFacingError(
                "Nothing to update. Give first_name, last_name, unsubscribed, properties, "
                "clear_fields, add_segments, remove_segments or topics."
            )
        with api_errors(not_found=lambda: _not_found_contact(ref)):
            current = await self._client.get_contact(ref)
            current_topics = (
                await self._client.list_contact_topics(current.id) if subscriptions else []
            )
        if not resubscribe:
            # Each topic's default tells "left it" from "never joined an opt-in topic".
            defaults = (
                {t.id: t.default_subscription for t in await self._schema.topics()}
                if subscriptions
                else {}
            )
            _guard_consent(current, unsubscribed, subscriptions, current_topics, defaults)

        applied: list[str] = []
        try:
            if changes_fields:
                await self._client.update_contact(
                    current.id,
                    first_name=None if "first_name" in clearing else (first or UNSET),
                    last_name=None if "last_name" in clearing else (last or UNSET),
                    unsubscribed=UNSET if unsubscribed is None else unsubscribed,
                    properties=values if values else UNSET,
                )
                applied.append("contact fields")
            for segment_id in joining:
                await self._client.add_contact_to_segment(current.id, segment_id)
                applied.append(f"joined segment {segment_id}")
            for segment_id in leaving:
                await self._client.remove_contact_from_segment(current.id, segment_id)
                applied.append(f"left segment {segment_id}")
            if subscriptions:
                await self._client.update_contact_topics(current.id, subscriptions)
                applied.append("topic subscriptions")
        except ResendError as exc:
            reason = str(explain(exc))
            if not applied:
                raise UserFacingError(reason) from None
            raise UserFacingError(
                f"{reason} Already applied: {', '.join(applied)}; the rest was not. "
                "update_contact is safe to call again with the same arguments."
            ) from None
        return await self._read(current.id, changed=True)

    async def delete(self, contact: str) -> DeletedContactOut:
        """Delete the contact; one that does not exist is "already gone", not an error,
        so that repeating a delete (a lost answer, a retry) succeeds as promised."""
        ref = parse_contact_ref(contact)
        try:
            found = await self._client.get_contact(ref)
        except NotFoundError:
            self._forget(ref)
            by_id = is_uuid(ref)
            return DeletedContactOut(
                id=ref if by_id else None,
                email=None if by_id else ref,
                deleted=False,
                already_gone=True,
            )
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
        if self._mirror is not None:
            self._mirror.remove(found.id)
        return DeletedContactOut(id=shown(found.id), email=shown(found.email), deleted=True)

    async def list_page(
        self,
        *,
        limit: int = 20,
        after: str | None = None,
        before: str | None = None,
        segment: str | None = None,
    ) -> ContactList:
        if after is not None and before is not None:
            raise UserFacingError(
                "Pass either `after` (older page) or `before` (newer page), not both."
            )
        after = _check_cursor("after", after)
        before = _check_cursor("before", before)
        segment_id = None if segment is None else (await self._schema.resolve_segment(segment)).id
        try:
            page = await self._client.list_contacts(
                limit=limit, after=after, before=before, segment_id=segment_id
            )
        except NotFoundError:
            raise UserFacingError(
                f"No segment {show(segment or '')}. Use list_segments to see the segments."
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


def _guard_consent(
    contact: Contact,
    unsubscribed: bool | None,
    subscriptions: Mapping[str, Subscription],
    current_topics: Sequence[ContactTopic],
    defaults: Mapping[str, Subscription],
) -> None:
    """Refuse to opt a contact back in to what they opted out of, unless told to.

    A topic at opt_out may be the topic's default rather than the contact's choice: any
    opt_out → opt_in change needs the explicit flag, and the message says which it
    likely is from the topic's default (`defaults`, topic id → default subscription).
    """
    if unsubscribed is False and contact.unsubscribed:
        raise UserFacingError(
            f"{contact.email} has unsubscribed from all broadcasts. Re-subscribe them only "
            "if they asked to: call update_contact again with resubscribe=true."
        )
    opted_out = {t.id: t.name for t in current_topics if t.subscription == "opt_out"}
    for topic_id, subscription in subscriptions.items():
        if subscription == "opt_in" and topic_id in opted_out:
            name = opted_out[topic_id]
            state = (
                f"has not joined topic {name!r}, which is opt-in: nobody receives it "
                "until they choose it"
                if defaults.get(topic_id) == "opt_out"
                else f"opted out of topic {name!r}"
            )
            raise UserFacingError(
                f"{contact.email} {state}. Opt them in only if they asked to: call "
                "update_contact again with resubscribe=true."
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
        contacts=[_shown_summary(item) for item in items],
        has_more=has_more,
        next_after=shown(items[-1].id) if older_exist else None,
        next_before=shown(items[0].id) if newer_exist else None,
    )


def _shown_summary(contact: ContactSummary) -> ContactSummary:
    """A listed contact as shown to the model (`text.caps`)."""
    return contact.model_copy(
        update={
            "id": shown(contact.id),
            "email": shown(contact.email),
            "first_name": None if contact.first_name is None else shown(contact.first_name),
            "last_name": None if contact.last_name is None else shown(contact.last_name),
            "created_at": shown(contact.created_at),
        }
    )
