"""The account's contact schema: contact properties, segments and topics.

`SchemaService` backs the schema tools and resources, and lets the contact tools name a
segment, topic or property by id *or* by name, and check property values against their
types before anything is sent. The three lists are cached briefly: they change rarely,
and a contact update that checks them should not cost three extra requests every time.
Changes made through this service refresh the cache at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

import anyio
from pydantic import BaseModel, Field

from contacts_mcp.api.base import UNSET, PropertyInput, Unset
from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import ResendError, ServerError, TransportError
from contacts_mcp.api.models import (
    PROPERTY_KEY,
    RESERVED_PROPERTY_KEYS,
    ContactProperty,
    CreatedObject,
    PropertyType,
    Segment,
    Subscription,
    Topic,
    Visibility,
)
from contacts_mcp.services.explain import (
    NothingFoundError,
    UserFacingError,
    api_errors,
    explain,
    show,
)
from contacts_mcp.text.sanitize import has_hidden, name_key

__all__ = [
    "LIST_PAGE",
    "MAX_PROPERTY_VALUE_CHARS",
    "SCHEMA_TTL",
    "DeletedItem",
    "PropertyList",
    "SchemaService",
    "SegmentList",
    "SegmentOut",
    "TopicList",
]

SCHEMA_TTL = 60.0
MAX_SEGMENT_NAME = 100
MAX_TOPIC_NAME = 50
MAX_TOPIC_DESCRIPTION = 200
# Items one listing of segments, topics or properties returns; `next_after` leads on.
LIST_PAGE = 100
# Text in a property value or fallback; Resend states no limit, and a value longer than
# this is not a contact attribute but a document.
MAX_PROPERTY_VALUE_CHARS = 2000

T = TypeVar("T")


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_Identified)


class SegmentOut(BaseModel):
    id: str
    name: str
    created_at: str
    contact_count: int | None = Field(
        default=None, description="Members; only when counts were asked for."
    )


NEXT_AFTER = Field(default=None, description="More follow: call again with after set to it.")


class SegmentList(BaseModel):
    segments: list[SegmentOut]
    next_after: str | None = NEXT_AFTER


class PropertyList(BaseModel):
    properties: list[ContactProperty]
    next_after: str | None = NEXT_AFTER


class TopicList(BaseModel):
    topics: list[Topic]
    next_after: str | None = NEXT_AFTER


class DeletedItem(BaseModel):
    id: str
    name: str = Field(description="The segment or topic name, or the property key.")
    deleted: bool


class _Cached(Generic[T]):
    """One list fetched at most once per `ttl` seconds (and on demand)."""

    def __init__(
        self, fetch: Callable[[], Awaitable[list[T]]], ttl: float, clock: Callable[[], float]
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._items: list[T] | None = None
        self._fetched_at = 0.0
        self._lock = anyio.Lock()

    async def get(self, *, fresh: bool = False) -> list[T]:
        async with self._lock:
            stale = self._items is None or self._clock() - self._fetched_at > self._ttl
            if fresh or stale:
                with api_errors():
                    self._items = await self._fetch()
                self._fetched_at = self._clock()
            assert self._items is not None
            return list(self._items)

    def invalidate(self) -> None:
        self._items = None


def _check_text(field: str, value: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise UserFacingError(f"`{field}` is empty; give a {field} with some text in it.")
    if has_hidden(text):
        # Hidden characters make names that look alike but differ, or look empty.
        raise UserFacingError(
            f"`{field}` contains invisible, control or direction-changing characters; "
            "remove them and send plain text."
        )
    if len(text) > limit:
        raise UserFacingError(
            f"`{field}` is {len(text)} characters; the limit is {limit}. Shorten it."
        )
    return text


def _check_value_type(key: str, type_: str, value: PropertyInput) -> None:
    if isinstance(value, str) and len(value) > MAX_PROPERTY_VALUE_CHARS:
        raise UserFacingError(
            f"The value for property {key!r} is {len(value)} characters; "
            f"the limit is {MAX_PROPERTY_VALUE_CHARS}. Shorten it."
        )
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if type_ == "number" and not is_number:
        raise UserFacingError(
            f"Property {key!r} holds numbers; {show(value)} is not a number. Send e.g. 42 or 4.5."
        )
    if type_ == "string" and not isinstance(value, str):
        raise UserFacingError(
            f'Property {key!r} holds text; send the value as a string, e.g. "{value}".'
        )
    if type_ not in ("string", "number"):
        # Resend reports types this server never creates (boolean); it cannot tell what
        # such a property accepts, so it does not guess.
        raise UserFacingError(
            f"Property {key!r} has type {show(type_, 20)}, which this server cannot set; "
            "change its values in the Resend dashboard, or leave it out."
        )


def _names(items: Iterable[str]) -> str:
    listed = [repr(item) for item in sorted(items, key=str.casefold)]
    if not listed:
        return "none yet"
    more = f" and {len(listed) - 20} more" if len(listed) > 20 else ""
    return ", ".join(listed[:20]) + more


class SchemaService:
    """Contact properties, segments and topics, with brief caching and name lookup."""

    def __init__(
        self,
        client: ResendClient,
        *,
        ttl: float = SCHEMA_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._properties = _Cached(client.list_contact_properties, ttl, clock)
        self._segments = _Cached(client.list_segments, ttl, clock)
        self._topics = _Cached(client.list_topics, ttl, clock)

    # -- lookups used by the contact tools --------------------------------------------

    async def properties(self, *, fresh: bool = False) -> list[ContactProperty]:
        return await self._properties.get(fresh=fresh)

    async def segments(self, *, fresh: bool = False) -> list[Segment]:
        return await self._segments.get(fresh=fresh)

    async def topics(self, *, fresh: bool = False) -> list[Topic]:
        return await self._topics.get(fresh=fresh)

    async def resolve_segment(self, ref: str) -> Segment:
        """The segment with this id or (case-insensitive) name."""
        found = _match(await self.segments(), ref, lambda s: s.name)
        if found is None:
            # A segment made elsewhere in the last minute is not in the cache yet.
            found = _match(await self.segments(fresh=True), ref, lambda s: s.name)
        if found is None:
            known = _names(s.name for s in await self.segments())
            raise NothingFoundError(
                f"No segment {show(ref)}. Known segments: {known}. Create one with create_segment."
            )
        return found

    async def resolve_topic(self, ref: str) -> Topic:
        """The topic with this id or (case-insensitive) name."""
        found = _match(await self.topics(), ref, lambda t: t.name)
        if found is None:
            found = _match(await self.topics(fresh=True), ref, lambda t: t.name)
        if found is None:
            known = _names(t.name for t in await self.topics())
            raise NothingFoundError(
                f"No topic {show(ref)}. Known topics: {known}. Create one with create_topic."
            )
        return found

    async def resolve_property(self, ref: str) -> ContactProperty:
        """The contact property with this id or key (keys are case-sensitive)."""
        for fresh in (False, True):
            for prop in await self.properties(fresh=fresh):
                if ref in (prop.key, prop.id):
                    return prop
        known = _names(p.key for p in await self.properties())
        raise NothingFoundError(
            f"No contact property {show(ref)}. Known properties: {known}. "
            "Create one with create_contact_property."
        )

    async def segment_ids(self, refs: Sequence[str]) -> list[str]:
        """The ids of the segments named (by id or name), in order, without repeats."""
        ids: list[str] = []
        for ref in refs:
            segment_id = (await self.resolve_segment(ref)).id
            if segment_id not in ids:
                ids.append(segment_id)
        return ids

    async def topic_ids(self, choices: Mapping[str, Subscription]) -> dict[str, Subscription]:
        """`choices` keyed by topic id instead of by id or name."""
        return {(await self.resolve_topic(ref)).id: sub for ref, sub in choices.items()}

    async def check_property_values(
        self, values: Mapping[str, PropertyInput]
    ) -> dict[str, PropertyInput]:
        """`values` if every key is a known property and every value fits its type."""
        if not values:
            return {}
        schema = {p.key: p for p in await self.properties()}
        if any(key not in schema for key in values):
            schema = {p.key: p for p in await self.properties(fresh=True)}
        for key, value in values.items():
            prop = schema.get(key)
            if prop is None:
                known = (
                    ", ".join(f"{p.key} ({p.type})" for p in sorted(schema.values(), key=_key))
                    or "none yet"
                )
                raise UserFacingError(
                    f"Unknown contact property {show(key, 60)}. Known properties: {known}. "
                    "Create it first with create_contact_property, or leave it out."
                )
            if value is not None:
                _check_value_type(key, prop.type, value)
        return dict(values)

    # -- contact properties -----------------------------------------------------------

    async def create_property(
        self, key: str, type_: PropertyType, fallback_value: PropertyInput = None
    ) -> ContactProperty:
        if not PROPERTY_KEY.fullmatch(key):
            raise UserFacingError(
                f"Property key {show(key, 60)} is invalid: use 1 to 50 letters, digits or "
                "underscores, e.g. company_name."
            )
        if key.lower() in RESERVED_PROPERTY_KEYS:
            raise UserFacingError(
                f"{key!r} is a built-in contact field or a reserved name; choose another key."
            )
        if fallback_value is not None:
            _check_value_type(key, type_, fallback_value)
        existing = next(
            (p for p in await self.properties(fresh=True) if p.key.casefold() == key.casefold()),
            None,
        )
        if existing is not None and existing.key != key:
            # Two keys that differ only in case would be confused by every reader.
            raise UserFacingError(
                f"A contact property {existing.key!r} already exists; {key!r} differs from it "
                f"only in case. Use {existing.key!r}, or choose another key."
            )
        if existing is not None:
            raise UserFacingError(
                f"A contact property {key!r} already exists ({existing.type}). "
                "Use update_contact_property to change its fallback value."
            )

        async def find() -> str | None:
            found = next((p for p in await self.properties(fresh=True) if p.key == key), None)
            return found.id if found is not None and found.type == type_ else None

        created_id = await _create_once(
            lambda: self._client.create_contact_property(key, type_, fallback_value=fallback_value),
            find,
        )
        self._properties.invalidate()
        with api_errors():
            return await self._client.get_contact_property(created_id)

    async def update_property(self, ref: str, fallback_value: PropertyInput) -> ContactProperty:
        prop = await self.resolve_property(ref)
        if fallback_value is not None:
            _check_value_type(prop.key, prop.type, fallback_value)
        with api_errors():
            await self._client.update_contact_property(prop.id, fallback_value=fallback_value)
            updated = await self._client.get_contact_property(prop.id)
        self._properties.invalidate()
        return updated

    async def delete_property(self, ref: str) -> DeletedItem:
        prop = await self.resolve_property(ref)
        with api_errors():
            await self._client.delete_contact_property(prop.id)
        self._properties.invalidate()
        return DeletedItem(id=prop.id, name=prop.key, deleted=True)

    # -- segments ---------------------------------------------------------------------

    async def list_properties(self, *, after: str | None = None) -> PropertyList:
        page, next_after = _page(await self.properties(fresh=True), after)
        return PropertyList(properties=page, next_after=next_after)

    async def list_topics(self, *, after: str | None = None) -> TopicList:
        page, next_after = _page(await self.topics(fresh=True), after)
        return TopicList(topics=page, next_after=next_after)

    async def list_segments(
        self, *, with_counts: bool = False, after: str | None = None
    ) -> SegmentList:
        segments, next_after = _page(await self.segments(fresh=True), after)
        counts: dict[str, int] = {}
        gone: set[str] = set()
        if with_counts:

            async def count(segment_id: str) -> None:
                try:
                    counts[segment_id] = await self.count_members(segment_id)
                except NothingFoundError:
                    gone.add(segment_id)  # deleted while we counted: it is no longer listed

            async with anyio.create_task_group() as tg:
                for seg in segments:
                    tg.start_soon(count, seg.id)
        if gone:
            self._segments.invalidate()
        return SegmentList(
            segments=[
                SegmentOut(
                    id=s.id, name=s.name, created_at=s.created_at, contact_count=counts.get(s.id)
                )
                for s in segments
                if s.id not in gone
            ],
            next_after=next_after,
        )

    async def count_members(self, segment_id: str) -> int:
        """How many contacts the segment has (Resend has no count endpoint: pages are read)."""
        total = 0

        def missing() -> UserFacingError:
            return NothingFoundError(f"No segment {show(segment_id)}. Use list_segments.")

        with api_errors(not_found=missing):
            async for _ in self._client.iter_contacts(segment_id=segment_id):
                total += 1
        return total

    async def create_segment(self, name: str) -> SegmentOut:
        name = _check_text("name", name, MAX_SEGMENT_NAME)
        clash = _match(await self.segments(fresh=True), name, lambda s: s.name)
        if clash is not None:
            raise UserFacingError(
                f"A segment named {clash.name!r} already exists (id {clash.id}); "
                "use it, or choose another name."
            )

        async def find() -> str | None:
            found = _match(await self.segments(fresh=True), name, lambda s: s.name)
            return found.id if found is not None else None

        created_id = await _create_once(lambda: self._client.create_segment(name), find)
        with api_errors():
            segment = await self._client.get_segment(created_id)
        self._segments.invalidate()
        return SegmentOut(id=segment.id, name=segment.name, created_at=segment.created_at)

    async def rename_segment(self, ref: str, name: str) -> SegmentOut:
        segment = await self.resolve_segment(ref)
        name = _check_text("name", name, MAX_SEGMENT_NAME)
        clash = _match(await self.segments(), name, lambda s: s.name)
        if clash is not None and clash.id != segment.id:
            raise UserFacingError(
                f"Another segment is already named {clash.name!r}; choose another name."
            )
        with api_errors():
            await self._client.update_segment(segment.id, name=name)
            renamed = await self._client.get_segment(segment.id)
        self._segments.invalidate()
        return SegmentOut(id=renamed.id, name=renamed.name, created_at=renamed.created_at)

    async def delete_segment(self, ref: str) -> DeletedItem:
        segment = await self.resolve_segment(ref)
        with api_errors():
            await self._client.delete_segment(segment.id)
        self._segments.invalidate()
        return DeletedItem(id=segment.id, name=segment.name, deleted=True)

    # -- topics -----------------------------------------------------------------------

    async def create_topic(
        self,
        name: str,
        default_subscription: Subscription,
        *,
        description: str | None = None,
        visibility: Visibility = "private",
    ) -> Topic:
        name = _check_text("name", name, MAX_TOPIC_NAME)
        if description is not None:
            description = _check_text("description", description, MAX_TOPIC_DESCRIPTION)
        clash = _match(await self.topics(fresh=True), name, lambda t: t.name)
        if clash is not None:
            raise UserFacingError(
                f"A topic named {clash.name!r} already exists (id {clash.id}); "
                "use it, or choose another name."
            )

        async def find() -> str | None:
            found = _match(await self.topics(fresh=True), name, lambda t: t.name)
            return found.id if found is not None else None

        created_id = await _create_once(
            lambda: self._client.create_topic(
                name, default_subscription, description=description, visibility=visibility
            ),
            find,
        )
        with api_errors():
            topic = await self._client.get_topic(created_id)
        self._topics.invalidate()
        return topic

    async def update_topic(
        self,
        ref: str,
        *,
        name: str | None = None,
        description: str | Unset | None = UNSET,
        visibility: Visibility | None = None,
    ) -> Topic:
        topic = await self.resolve_topic(ref)
        if name is None and isinstance(description, Unset) and visibility is None:
            raise UserFacingError("Nothing to update. Give name, description or visibility.")
        new_name: str | Unset = UNSET
        if name is not None:
            new_name = _check_text("name", name, MAX_TOPIC_NAME)
            clash = _match(await self.topics(), new_name, lambda t: t.name)
            if clash is not None and clash.id != topic.id:
                raise UserFacingError(
                    f"Another topic is already named {clash.name!r}; choose another name."
                )
        if isinstance(description, str):
            description = _check_text("description", description, MAX_TOPIC_DESCRIPTION)
        with api_errors():
            await self._client.update_topic(
                topic.id,
                name=new_name,
                description=description,
                visibility=UNSET if visibility is None else visibility,
            )
            updated = await self._client.get_topic(topic.id)
        self._topics.invalidate()
        return updated

    async def delete_topic(self, ref: str) -> DeletedItem:
        topic = await self.resolve_topic(ref)
        with api_errors():
            await self._client.delete_topic(topic.id)
        self._topics.invalidate()
        return DeletedItem(id=topic.id, name=topic.name, deleted=True)


async def _create_once(
    create: Callable[[], Awaitable[CreatedObject]], find: Callable[[], Awaitable[str | None]]
) -> str:
    """The id of what `create` made, without ever making it twice.

    Creating a segment, topic or property is not idempotent, so the client does not
    repeat it blindly. When the answer is lost (or a 5xx leaves it unknown) the list is
    read again: if the item is there, the first attempt worked; if not, one more try.
    """
    for attempt in range(2):
        try:
            return (await create()).id
        except (TransportError, ServerError) as exc:
            if isinstance(exc, TransportError) and not exc.sent:
                raise explain(exc) from None
            found = await find()
            if found is not None:
                return found
            if attempt == 1:
                raise explain(exc) from None
        except ResendError as exc:
            raise explain(exc) from None
    raise AssertionError("unreachable")


def _key(prop: ContactProperty) -> str:
    return prop.key.casefold()


def _page(items: Sequence[Item], after: str | None) -> tuple[list[Item], str | None]:
    """At most `LIST_PAGE` items following the one whose id is `after`, and the id to pass
    next (None after the last): a listing stays bounded however large the account."""
    start = 0
    if after is not None:
        wanted = after.strip().lower()
        start = next((i + 1 for i, item in enumerate(items) if item.id.lower() == wanted), -1)
        if start < 0:
            raise UserFacingError(
                f"`after` must be the next_after of the previous page, not {show(after, 40)}; "
                "call again without it to start from the first page."
            )
    page = list(items[start : start + LIST_PAGE])
    more = start + LIST_PAGE < len(items)
    return page, (page[-1].id if more and page else None)


def _match(items: Iterable[Item], ref: str, name_of: Callable[[Item], str]) -> Item | None:
    """The item whose id is `ref`, else the one whose name matches it ignoring case,
    spacing and hidden characters (two names differing only in those are the same name).

    Several items sharing the name is an error: guessing could act on the wrong one.
    """
    wanted = ref.strip()
    pool = list(items)
    for item in pool:
        if item.id.lower() == wanted.lower():
            return item
    key = name_key(wanted)
    named = [item for item in pool if name_key(name_of(item)) == key]
    if len(named) > 1:
        ids = ", ".join(item.id for item in named)
        raise UserFacingError(f"{len(named)} items are named {show(wanted)} ({ids}); use an id.")
    return named[0] if named else None
