"""Questions about sets of contacts, answered from the account's mirror.

Resend has no search and no counts: every question about "everyone at acme.com" would
page the whole account. The mirror (`services.mirror`) holds the account's contacts,
their segment memberships and, where known, their properties; this module fills it
from the API (a sync, run as a job) and answers searches from it in milliseconds.

What a sync reads, and what needs which kind of refresh:

- **full**: every page of `GET /contacts` (100 per request), then every segment's
  member list (`GET /segments/{id}/contacts`, 100 per request). It is staged and
  swapped in at the end, so searches during a sync see the last complete mirror; it
  resumes from its cursor after a crash. It is the only refresh that sees contacts
  deleted elsewhere, names or unsubscribes changed elsewhere, and membership changes.
- **new**: contacts arrive newest first, so paging stops at the first page that
  reaches a contact the mirror has. The new contacts' segments come from the import that
  created them, when one did; the others' are read the cheaper way: one request per
  contact, or every segment's list paged whole. More than `MAX_NEW_BEFORE_FULL` new
  contacts switch to a full sync.
- **properties**: list pages carry no property values, and Resend returns them one
  contact at a time. With `properties=True` a sync reads them for every contact whose
  values the mirror does not know, and with a horizon also those read before it (a full
  sync's horizon is its own start: it re-reads them all). One request each.

Writes made through this server (create, update, delete, membership changes, imports,
and any contact read with `get_contact`) update the mirror at once, each fact with its
source and time (see `services.mirror`).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing, suppress
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

import anyio
from pydantic import BaseModel, Field, WithJsonSchema

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import (
    NotFoundError,
    RateLimitError,
    ResendError,
    ServerError,
    TransportError,
)
from contacts_mcp.api.models import Contact, ContactSummary
from contacts_mcp.services.duplicates import DuplicateGroup
from contacts_mcp.services.explain import UserFacingError, api_errors, show
from contacts_mcp.services.jobs import JobView, Progress, spoken_duration, utc_iso
from contacts_mcp.services.mirror import (
    ORDERS,
    Filter,
    Mirror,
    MirroredContact,
    MirrorState,
    SearchOrder,
)
from contacts_mcp.services.schema import SchemaService
from contacts_mcp.services.sharing import FolderLock
from contacts_mcp.services.webhook_events import ContactEvent
from contacts_mcp.text.caps import shown, some_of
from contacts_mcp.text.sanitize import has_hidden
from contacts_mcp.text.words import counted

__all__ = [
    "BUILT_IN_FIELDS",
    "PAGE",
    "Condition",
    "ContactsSets",
    "FoundContact",
    "MirrorInfo",
    "SearchOrder",
    "SearchOut",
    "SegmentCount",
    "SyncMode",
    "SyncRun",
    "SyncSummary",
    "contact_values",
    "decode_search",
    "encode_search",
    "membership_requests",
    "mirrored",
    "patiently",
    "read_record",
]

SyncMode = Literal["new", "full"]
# "segments": the member lists a first fill without them left to read, and nothing else.
SyncRun = Literal["new", "full", "segments"]
PAGE = 100
# A sync reads thousands of pages: a request the client gave up on (after its own
# retries) is tried again this many times, with growing pauses, before the sync stops
# (and can resume from its cursor).
PATIENCE = 5
T = TypeVar("T")
MAX_NEW_BEFORE_FULL = 500
MAX_CONDITIONS = 20
# Segments counted in a search's answer, most matches first.
MAX_SEGMENT_COUNTS = 50
# Groups of likely duplicates one answer lists (most certain first); the count says all.
MAX_GROUPS = 50

Op = Literal["eq", "contains", "gt", "gte", "lt", "lte", "empty", "not_empty", "in", "not_in"]
BUILT_IN_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("eq", "contains"),
    "domain": ("eq", "contains"),
    "first_name": ("eq", "contains", "empty", "not_empty"),
    "last_name": ("eq", "contains", "empty", "not_empty"),
    "unsubscribed": ("eq",),
    "created_at": ("gt", "gte", "lt", "lte"),
    "segment": ("in", "not_in"),
}
_OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "string": ("eq", "contains", "empty", "not_empty"),
    "number": ("eq", "gt", "gte", "lt", "lte", "empty", "not_empty"),
    "boolean": ("eq", "empty", "not_empty"),
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


# One condition of a search; a search matches contacts meeting all of them. (A comment,
# not a docstring: the docstring would be repeated in the tool's schema.)
class Condition(BaseModel):
    field: str = Field(max_length=100)
    op: Op
    # Text, a number or true/false, checked against the field (the checks below say what
    # each field takes). Left out rather than null: the schema offers no null.
    value: Annotated[
        str | float | bool | None,
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}),
    ] = None


SELECTION_PREFIX = "search:"


def encode_search(conditions: Sequence[Condition]) -> str:
    """A search as one string that names it: the `selection` bulk tools take."""
    raw = json.dumps([c.model_dump(exclude_none=True) for c in conditions], separators=(",", ":"))
    return SELECTION_PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_search(selection: str) -> list[Condition]:
    """The conditions a `selection` names; a clear error for anything else."""
    body = selection.strip().removeprefix(SELECTION_PREFIX)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return [Condition.model_validate(item) for item in json.loads(raw)]
    except (ValueError, TypeError):
        raise UserFacingError(
            "`search` must be the `selection` of a search_contacts answer, as it was given."
        ) from None


class FoundContact(BaseModel):
    id: str
    email: str
    # null for no name, as get_contact and list_contacts give it (the mirror keeps "").
    first_name: str | None
    last_name: str | None
    unsubscribed: bool
    created_at: str

    @classmethod
    def of(cls, contact: MirroredContact) -> FoundContact:
        """A mirrored contact as shown to the model: every field under `text.caps`' rule."""
        return cls(
            id=shown(contact.id),
            email=shown(contact.email),
            first_name=shown(contact.first_name) or None,
            last_name=shown(contact.last_name) or None,
            unsubscribed=contact.unsubscribed,
            created_at=shown(contact.created_at),
        )


class MirrorInfo(BaseModel):
    """How fresh the mirror behind an answer is, fact by fact."""

    synced_at: str | None = Field(description="Last completed sync (UTC).")
    age_seconds: int | None
    contacts: int
    properties_known: int = Field(description="Contacts whose property values are mirrored.")
    properties_oldest: str | None = Field(default=None, description="Oldest value read (UTC).")
    in_doubt: int = Field(default=0, description="Contacts an import changed, unseen since.")
    refresh_requests: dict[str, int] = Field(
        default_factory=dict[str, int], description="Cost of refresh=full, and of properties."
    )
    note: str


class SyncSummary(BaseModel):
    mode: SyncRun
    contacts: int = Field(description="Contacts in the mirror now.")
    new_contacts: int = 0
    segments: int = 0
    properties_read: int = Field(default=0, description="Contacts whose properties were read.")
    requests: int = 0
    seconds: float = 0.0
    notes: list[str] = Field(default_factory=list)


class SegmentCount(BaseModel):
    id: str
    name: str
    count: int = Field(description="Matching contacts in this segment.")


class SearchOut(BaseModel):
    count: int = Field(description="All matching contacts.")
    selection: str = Field(
        description="This search, for update_contacts, delete_contacts, export_contacts."
    )
    sort: SearchOrder = "newest"
    contacts: list[FoundContact] = Field(description="This page, in `sort` order.")
    next_after: str | None = Field(description="Pass as `after` for the next page.")
    segments: list[SegmentCount] | None = Field(
        default=None, description="Matches per segment; null: memberships not read yet."
    )
    mirror: MirrorInfo
    synced: SyncSummary | None = Field(default=None, description="The refresh this call ran.")
    refresh_job: JobView | None = Field(
        default=None, description="A refresh still running; the results predate it."
    )
    duplicates: list[DuplicateGroup] | None = Field(
        default=None, description=f"duplicates=true: the first {MAX_GROUPS} groups."
    )
    duplicate_groups: int | None = Field(default=None, description="duplicates=true: all groups.")


def mirrored(
    contact: ContactSummary, properties: Mapping[str, Any] | None = None
) -> MirroredContact:
    """`contact` as the mirror keeps it; `properties` None means not known."""
    return MirroredContact(
        id=contact.id,
        email=contact.email,
        first_name=contact.first_name or "",
        last_name=contact.last_name or "",
        unsubscribed=contact.unsubscribed,
        created_at=contact.created_at,
        properties=None if properties is None else dict(properties),
    )


def read_record(contact: Contact, read_at: float) -> MirroredContact:
    """A contact read whole at `read_at` (fields and every value), as the mirror keeps it,
    stamped with when it was read."""
    record = mirrored(contact, contact_values(contact))
    return replace(record, seen_at=read_at, properties_at=read_at)


def contact_values(contact: Contact) -> dict[str, str | int | float | bool]:
    return {
        key: entry.value for key, entry in contact.properties.items() if entry.value is not None
    }


class ContactsSets:
    """Sync the mirror from the API, and search it."""

    def __init__(
        self,
        client: ResendClient,
        schema: SchemaService,
        mirror: Mirror,
        *,
        syncing: FolderLock | None = None,
        observing: FolderLock | None = None,
    ) -> None:
        self._client = client
        self._schema = schema
        self._mirror = mirror
        # One sync of the mirror at a time, here and in every other server process on the
        # data folder: two would share (and finish) one staging.
        self._syncing = syncing or FolderLock(None)
        # One segment member list paged into the mirror at a time, likewise: a second
        # observation of a segment would clear the first one's pages, which would then
        # take members off the segment.
        self._observing = observing or FolderLock(None)

    @property
    def mirror(self) -> Mirror:
        return self._mirror

    async def property_keys(self, wanted: Sequence[str] | None) -> list[str]:
        """`wanted` checked against the account's properties (None: all of them)."""
        known = [p.key for p in await self._schema.properties()]
        if wanted is None:
            return known
        unknown = [key for key in wanted if key not in known]
        if unknown:
            raise UserFacingError(
                f"Unknown properties: {', '.join(show(k, 40) for k in unknown[:5])}. The "
                f"account has: {some_of(known) or 'none'}."
            )
        return list(dict.fromkeys(wanted))

    # -- freshness --------------------------------------------------------------------

    def state(self) -> MirrorState:
        return self._mirror.state()

    def info(self, state: MirrorState | None = None) -> MirrorInfo:
        """What an answer from the mirror vouches for: each kind of fact, as of when, and
        what re-reading the rest would cost."""
        state = state or self._mirror.state()
        if state.synced_at is None:
            return MirrorInfo(
                synced_at=None,
                age_seconds=None,
                contacts=state.contacts,
                properties_known=state.properties_known,
                note="The mirror has not been synced yet: search with refresh=full.",
            )
        now = time.time()
        age = max(0, round(now - state.synced_at))
        costs = {
            "full": self._mirror.full_sync_requests(PAGE, state.contacts),
            "properties": state.contacts,
        }
        full_age = None if state.full_synced_at is None else round(now - state.full_synced_at)
        if state.memberships_pending_since is not None:
            listed = max(0, round(now - state.memberships_pending_since))
            notes = [
                f"Names and unsubscribes as of the first sync {spoken_duration(listed)} ago"
                + (f"; new contacts as of {spoken_duration(age)} ago." if age < listed else ".")
                + " Segment memberships not read yet: a search on a segment reads them first "
                "(the segment list, and a request per 100 members of each)."
            ]
        else:
            notes = [
                "Names, unsubscribes and segments as of the full sync "
                + ("(none yet)" if full_age is None else f"{spoken_duration(max(0, full_age))} ago")
                + (
                    f"; new contacts as of {spoken_duration(age)} ago."
                    if full_age is None or age < full_age
                    else "."
                )
            ]
        if state.sync_in_progress:
            # Running, or stopped (a broken or endless list): either way not complete.
            notes.append(
                "A newer full sync is running or stopped before its end: nothing it read is "
                "used until it completes (a refresh goes on with it)."
            )
        if state.changed_here:
            notes.append(f"{counted(state.changed_here, 'change')} made here since included.")
        if state.imports_pending:
            notes.append(
                f"Up to {counted(state.imports_pending, 'contact')} created by an import: not "
                "in the mirror yet, a search brings them in first."
            )
        if state.events_since is not None and state.last_event_at is not None:
            notes.append(_live_note(state.events_since, state.last_event_at, state, now))
        if state.fields_in_doubt:
            notes.append(
                f"{counted(state.fields_in_doubt, 'contact')} changed by an import whose outcome "
                "Resend does not report: their fields and property values are not vouched for "
                "until refresh=full with properties=true."
            )
        notes.append(self._properties_note(state, now))
        notes.append(
            "Changes made elsewhere since are not seen: refresh=new finds new contacts; "
            "refresh=full re-reads names, unsubscribes and segments "
            f"({counted(costs['full'], 'request')})."
        )
        oldest = state.properties_oldest
        return MirrorInfo(
            synced_at=utc_iso(state.synced_at),
            age_seconds=age,
            contacts=state.contacts,
            properties_known=state.properties_known,
            properties_oldest=None if oldest is None else utc_iso(oldest),
            in_doubt=state.fields_in_doubt,
            refresh_requests=costs,
            note=" ".join(notes),
        )

    @staticmethod
    def _properties_note(state: MirrorState, now: float) -> str:
        # List pages carry no values: a full sync does not renew them, only reads do.
        if state.properties_known == 0:
            return (
                "Property values: not read (properties=true reads them, 1 request per contact: "
                f"{state.contacts})."
            )
        oldest = state.properties_oldest or now
        text = (
            f"Property values: read for {state.properties_known} of {state.contacts} "
            f"contacts, the oldest {spoken_duration(max(0, round(now - oldest)))} ago"
        )
        if state.properties_unknown:
            text += f"; {state.properties_unknown} never read"
        return (
            text + f". Re-reading all takes refresh=full with properties=true ({state.contacts} "
            "requests); max_age_minutes re-reads only older ones."
        )

    # -- webhooks -------------------------------------------------------------------

    async def apply_event(self, event: ContactEvent) -> bool:
        """Apply a verified webhook event to the mirror, idempotently and by the time of
        the change: an event older than what the mirror holds changes nothing. Returns
        whether it changed anything."""
        at = _event_time(event)
        contact = MirroredContact(
            id=event.id,
            email=event.email,
            first_name=event.first_name,
            last_name=event.last_name,
            unsubscribed=event.unsubscribed,
            created_at=event.created_at,
        )
        return await anyio.to_thread.run_sync(
            partial(
                self._mirror.apply_event,
                contact,
                event.segment_ids,
                deleted=event.type == "contact.deleted",
                at=at,
            )
        )

    # -- sync -------------------------------------------------------------------------

    async def after_import(
        self, *, created: int, updated: int, upsert: bool, progress: Progress
    ) -> str | None:
        """Settle an ended import's writes in a mirror that has been filled; say what was
        done. The import recorded what it wrote as it went (`Mirror.expect_import`, or
        each row's write for the row-by-row strategy). Its new contacts reach the mirror
        with the next search that needs them (a list page per 100: they are the newest),
        and take their segments and values from the import, with no read per contact."""
        state = await anyio.to_thread.run_sync(self._mirror.state)
        if state.synced_at is None:
            return None  # no mirror to keep up to date yet
        notes: list[str] = []
        await anyio.to_thread.run_sync(
            partial(
                self._mirror.settle_import, time.time(), upsert=upsert, created_by_import=created
            )
        )
        pending = (await anyio.to_thread.run_sync(self._mirror.state)).imports_pending
        if created and pending:
            # Brought in when a search needs them: an import nobody searches after costs
            # nothing more. (Addresses it may have created again count as pending too.)
            pending = min(pending, created)
            notes.append(
                f"What it created ({counted(pending, 'contact')}) reaches the search mirror "
                f"with the next search (about {counted(-(-pending // PAGE) + 1, 'request')}: "
                "their list pages), with the segments and values the import gave them."
            )
        doubted = (await anyio.to_thread.run_sync(self._mirror.state)).fields_in_doubt
        if updated and doubted:
            notes.append(
                f"Resend does not report how an import changed existing contacts: the "
                f"{doubted} it may have updated are not vouched for in searches until a "
                "search with refresh=full and properties=true re-reads them."
            )
        return " ".join(notes) or None

    async def sync(
        self,
        mode: SyncRun,
        *,
        properties: bool,
        progress: Progress,
        properties_max_age: float | None = None,
        memberships: bool = True,
    ) -> SyncSummary:
        """Sync the mirror (`mode`), then with `properties` read the values not known, those
        read over `properties_max_age` seconds ago, and after a full sync all of them.

        Without `memberships`, a first fill lists the contacts alone (a count needs no
        more); segment member lists are read when an answer first needs them."""

        async def waiting() -> None:
            await progress(0, None, "waiting for another sync of this account to end")

        async with self._syncing.held(on_wait=waiting):
            return await self._sync(
                mode,
                properties=properties,
                max_age=properties_max_age,
                memberships=memberships,
                progress=progress,
            )

    async def _sync(
        self,
        mode: SyncRun,
        *,
        properties: bool,
        max_age: float | None,
        memberships: bool,
        progress: Progress,
    ) -> SyncSummary:
        started, sent_before = time.monotonic(), self._client.requests_sent
        began = time.time()
        state = self._mirror.state()
        notes: list[str] = []
        new = 0
        if mode != "full" and state.synced_at is None and not state.sync_in_progress:
            mode = "full"
            notes.append("The mirror had never been filled: this was a full sync.")
        if mode != "full" and state.sync_in_progress:
            mode = "full"
            notes.append("An interrupted full sync was finished.")
        if mode == "new":
            found = await self._new_contacts(progress)
            if found is None:
                mode = "full"
                notes.append(
                    f"More than {MAX_NEW_BEFORE_FULL} new contacts: a full sync was cheaper."
                )
            else:
                new = found
        if mode == "full":
            # Only a first fill may leave memberships out: a refresh re-reads them all.
            await self._full(progress, memberships=memberships or state.synced_at is not None)
        if memberships and self._mirror.state().memberships_pending:
            await self._memberships(progress)
        elif self._mirror.state().memberships_pending:
            notes.append(
                "Segment memberships were not read: a search on a segment reads them first."
            )
        horizon = began if mode == "full" else None
        if max_age is not None:
            horizon = max(horizon or 0.0, began - max_age)
        read = await self._properties(progress, read_before=horizon) if properties else 0
        state = self._mirror.state()
        return SyncSummary(
            mode=mode,
            contacts=state.contacts,
            new_contacts=new,
            segments=state.segments,
            properties_read=read,
            requests=self._client.requests_sent - sent_before,
            seconds=round(time.monotonic() - started, 2),
            notes=notes,
        )

    async def _full(self, progress: Progress, *, memberships: bool) -> None:
        mirror = self._mirror
        # The last sync's count, as the expected total: a time-left estimate from the start.
        expected = mirror.state().contacts or None
        checkpoint = mirror.begin_full_sync()
        staged = checkpoint.staged
        if checkpoint.phase == "contacts":
            cursor = checkpoint.cursor
            await progress(staged, expected, f"read {staged} contacts")
            with api_errors():
                # `staged` counts towards the bound: a resumed listing gets no fresh one.
                async for listed, _more in list_pages(self._client, after=cursor, listed=staged):
                    items = [mirrored(c) for c in listed]
                    cursor = items[-1].id if items else cursor
                    mirror.stage_contacts(items, cursor=cursor, at=time.time())
                    staged += len(items)
                    await progress(staged, expected, f"read {staged} contacts")
            if memberships:
                with api_errors():
                    segments = await patiently(self._client.list_segments)
                mirror.start_segments([(s.id, s.name) for s in segments])
            else:
                mirror.start_segments((), without_members=True)
            checkpoint = mirror.begin_full_sync()
        segments_list = mirror.staged_segments()
        for index in range(checkpoint.segment_index, len(segments_list)):
            segment_id, _name = segments_list[index]
            cursor = checkpoint.cursor if index == checkpoint.segment_index else None
            members = 0 if cursor is None else mirror.staged_member_count(segment_id)
            await progress(staged, None, f"reading segment {index + 1} of {len(segments_list)}")
            with api_errors():
                try:
                    async for listed, more in list_pages(
                        self._client, after=cursor, segment_id=segment_id, listed=members
                    ):
                        ids = [c.id for c in listed]
                        cursor = ids[-1] if ids else cursor
                        mirror.stage_members(segment_id, ids, cursor=cursor, segment_done=not more)
                except NotFoundError:  # deleted during the sync: no members
                    mirror.stage_members(segment_id, [], cursor=None, segment_done=True)
        # Swapping in 100,000 contacts takes about a second: not on the event loop.
        await anyio.to_thread.run_sync(lambda: mirror.finish_full_sync(time.time()))

    async def _new_contacts(self, progress: Progress) -> int | None:
        """Contacts created since the last sync, with their segments; None if too many."""
        known = self._mirror.newest_ids(1000)
        found: list[ContactSummary] = []
        with api_errors():
            async with aclosing(list_pages(self._client)) as pages:
                async for listed, _more in pages:
                    reached = False
                    for contact in listed:
                        if contact.id in known:
                            reached = True
                            break
                        found.append(contact)
                    if len(found) > MAX_NEW_BEFORE_FULL:
                        return None
                    await progress(len(found), None, f"found {len(found)} new contacts")
                    if reached:
                        break
        listed_at = time.time()
        # An import's new contacts take their segments from it (`settle_import`).
        expected = self._mirror.is_expected([c.email for c in found])
        unknown = [c for c in found if c.email.lower() not in expected]
        self._mirror.add_contacts([mirrored(c) for c in found], listed_at)
        self._mirror.settle_import(listed_at, upsert=None)
        if not self._mirror.state().memberships_pending:  # else read with every segment's
            await self.read_memberships([c.id for c in unknown], progress)
        return len(found)

    async def _memberships(self, progress: Progress) -> None:
        """Read every segment's member list, for a mirror first filled without them."""
        with api_errors():
            segments = await patiently(self._client.list_segments)
        await anyio.to_thread.run_sync(
            self._mirror.begin_memberships, [(s.id, s.name) for s in segments]
        )
        for number, segment in enumerate(segments, 1):
            await progress(number, len(segments), f"reading segment {number} of {len(segments)}")
            await self.observe_segment(segment.id)
        await anyio.to_thread.run_sync(self._mirror.end_memberships)

    async def observe_contacts(self, progress: Progress) -> set[str]:
        """Page the whole account and record each contact's fields as listed (no sync
        time is set: memberships are not observed). Returns the ids listed: a contact
        the mirror holds that is not among them was deleted."""
        seen: set[str] = set()
        listed_at = time.time()
        with api_errors():
            async for listed, _more in list_pages(self._client):
                items = [mirrored(c) for c in listed]
                await anyio.to_thread.run_sync(self._mirror.observe_contacts, items, listed_at)
                seen.update(item.id for item in items)
                await progress(len(seen), None, f"re-read {len(seen)} contacts")
                listed_at = time.time()  # when the next page is asked for
        return seen

    async def read_memberships(
        self, ids: Sequence[str], progress: Progress, segments: Iterable[str] | None = None
    ) -> set[str]:
        """Learn afresh these mirrored contacts' memberships of `segments` (None: of every
        segment), the cheaper way: one request per contact (it shows all of a contact's
        segments), or each of those segments' member lists paged whole. Returns the ids
        read one by one (and so known to exist now); paging shows only the members."""
        read: set[str] = set()
        if not ids:
            return read
        sizes = await anyio.to_thread.run_sync(self._mirror.segment_sizes)
        if segments is None:  # the account's segments now: some may be newer than the sync
            with api_errors():
                segments = [s.id for s in await self._schema.segments()]
        wanted = list(dict.fromkeys(segments))
        if membership_requests(len(ids), [sizes.get(s, 0) for s in wanted]) < len(ids):
            for number, segment_id in enumerate(wanted, 1):
                await progress(number, len(wanted), f"reading segment {number} of {len(wanted)}")
                await self.observe_segment(segment_id)
            return read
        for number, contact_id in enumerate(ids, 1):
            read_at = time.time()
            with api_errors():
                try:
                    listed = await patiently(
                        partial(self._client.list_contact_segments, contact_id)
                    )
                except NotFoundError:
                    self._mirror.remove(contact_id)  # deleted since it was listed
                    continue
            self._mirror.set_memberships(contact_id, [s.id for s in listed], at=read_at)
            read.add(contact_id)
            await progress(number, len(ids), f"reading the segments of {number} of {len(ids)}")
        return read

    async def observe_segment(self, segment_id: str) -> None:
        """Page one segment's member list whole and record it as its members now (a
        segment deleted meanwhile has none)."""
        mirror = self._mirror
        async with self._observing.held():
            started = time.time()
            await anyio.to_thread.run_sync(mirror.begin_segment_observation, segment_id)
            with api_errors():
                try:
                    async for listed, _more in list_pages(self._client, segment_id=segment_id):
                        # Page by page into the mirror: memory stays flat whatever its size.
                        ids = [c.id for c in listed]
                        await anyio.to_thread.run_sync(mirror.observe_segment_page, segment_id, ids)
                except NotFoundError:  # deleted meanwhile: no members at all
                    await anyio.to_thread.run_sync(mirror.begin_segment_observation, segment_id)
            await anyio.to_thread.run_sync(mirror.end_segment_observation, segment_id, started)

    async def _properties(self, progress: Progress, *, read_before: float | None) -> int:
        if not await self._schema.properties(fresh=True):
            return 0  # no custom properties: nothing to read
        todo = self._mirror.count_properties_to_read(read_before=read_before)
        read = 0
        while batch := self._mirror.properties_to_read(PAGE, read_before=read_before):
            for contact_id in batch:
                read_at = time.time()
                with api_errors():
                    try:
                        contact = await patiently(partial(self._client.get_contact, contact_id))
                    except NotFoundError:
                        self._mirror.remove(contact_id)
                        continue
                self._mirror.set_properties(contact.id, contact_values(contact), at=read_at)
                read += 1
                await progress(read, todo, f"read the properties of {read} of {todo} contacts")
        return read

    # -- search -----------------------------------------------------------------------

    async def filters(self, conditions: Sequence[Condition]) -> list[Filter]:
        """The mirror's filters for `conditions`, checked against the account's schema."""
        if len(conditions) > MAX_CONDITIONS:
            raise UserFacingError(f"At most {MAX_CONDITIONS} conditions in one search.")
        properties: dict[str, str] | None = None
        checked: list[Filter] = []
        for condition in conditions:
            name, op, value = condition.field.strip(), condition.op, condition.value
            if name in BUILT_IN_FIELDS:
                checked.append(await self._built_in(name, op, value))
                continue
            if properties is None:
                properties = {p.key: p.type for p in await self._schema.properties()}
            if name not in properties and has_hidden(name):
                # Shown cleaned, "\u200bemail" reads "email": say what is really wrong.
                raise UserFacingError(
                    f"The field name {show(name, 60)} contains an invisible or control "
                    "character; type the name plainly, e.g. email or a property key."
                )
            if name not in properties:
                known = some_of(sorted(properties)) or "none defined"
                raise UserFacingError(
                    f"Unknown field {show(name, 60)}. Search by "
                    f"{', '.join(BUILT_IN_FIELDS)}, or a property: {known}."
                )
            checked.append(_property_filter(name, properties[name], op, value))
        return checked

    async def _built_in(self, name: str, op: Op, value: object) -> Filter:
        allowed = BUILT_IN_FIELDS[name]
        if op not in allowed:
            raise UserFacingError(f"`{name}` takes the operators {', '.join(allowed)}, not {op}.")
        if name == "unsubscribed":
            if not isinstance(value, bool):
                raise UserFacingError("`unsubscribed` compares with true or false.")
            return Filter("unsubscribed", "eq", value)
        if op in ("empty", "not_empty"):
            return Filter(name, op)  # type: ignore[arg-type]
        if not isinstance(value, str) or not value.strip():
            raise UserFacingError(f"`{name}` {op} needs a text value.")
        text = value.strip()
        if name == "created_at":
            if not _DATE.fullmatch(text):
                raise UserFacingError(
                    f"`created_at` compares with a date or time such as 2025-11-30 or "
                    f"2025-11-30T12:00:00Z, not {show(text, 40)}."
                )
            return Filter("created_at", op, text)
        if name == "segment":
            [segment_id] = await self._schema.segment_ids([text])
            return Filter("segment", op, segment_id)
        if name == "domain":
            text = text.lstrip("@")
        return Filter(name, op, text)  # type: ignore[arg-type]

    async def search(
        self,
        conditions: Sequence[Condition],
        *,
        limit: int,
        after: str | None,
        count_only: bool,
        partial: bool = False,
        order: SearchOrder = "newest",
        segments: bool = False,
    ) -> SearchOut:
        """Search the mirror. A property condition needs every contact's values; with
        `partial` (values being read by a running refresh), it answers over those known
        and says so, rather than refusing. With `segments`, the matches are also counted
        per segment (where memberships are known)."""
        filters = await self.filters(conditions)
        cursor = None if after is None else _cursor_id(after, order)
        state = await anyio.to_thread.run_sync(self._mirror.state)
        if state.synced_at is None:
            raise UserFacingError(
                "The mirror of this account has not been filled yet: search with refresh=full, "
                "then search again."
            )
        if state.memberships_pending and any(f.field == "segment" for f in filters):
            raise UserFacingError(
                "Segment memberships have not been read into the mirror yet: search again "
                "with refresh=new, which reads them."
            )
        covered = ""
        if any(f.field == "property" for f in filters) and state.properties_known < state.contacts:
            missing = state.contacts - state.properties_known
            covered = (
                f"Property values are still being read: this answer covers the "
                f"{state.properties_known} of {state.contacts} contacts whose values are known "
                f"(and values written here for the other {missing}). "
            )
        if covered and not partial:
            raise UserFacingError(
                f"Property values are mirrored for {state.properties_known} of "
                f"{state.contacts} contacts. Resend returns them one contact at a time: "
                f"Searching with properties=true reads the other {missing} "
                f"({counted(missing, 'request')}). Search without property conditions meanwhile."
            )
        try:
            page = self._mirror.search(
                filters, limit=limit, after=cursor, count_only=count_only, order=order
            )
        except ValueError as exc:
            if "cursor" in str(exc):
                raise UserFacingError(
                    f"`after` {show(after, 60)} is not a contact of this search's results; "
                    "pass the next_after of the previous page."
                ) from None
            raise UserFacingError(f"The search cannot run: {exc}.") from None
        per_segment = None
        if segments and not state.memberships_pending:
            per_segment = await self._segment_counts(filters)
        info = self.info(state)
        return SearchOut(
            count=page.count,
            selection=encode_search(conditions),
            sort=order,
            contacts=[FoundContact.of(contact) for contact in page.contacts],
            next_after=None if page.next_after is None else _cursor(page.next_after, order),
            segments=per_segment,
            mirror=info.model_copy(update={"note": covered + info.note}),
        )

    async def _segment_counts(self, filters: Sequence[Filter]) -> list[SegmentCount]:
        """The matches per segment, at most `MAX_SEGMENT_COUNTS` (most first); a segment
        newer than the last full sync is named from the account's (cached) list."""
        counted = await anyio.to_thread.run_sync(self._mirror.segment_counts, filters)
        counted = counted[:MAX_SEGMENT_COUNTS]
        names: dict[str, str] = {}
        if any(name is None for _, name, _ in counted):
            with suppress(ResendError):  # else named by id: the counts stand without names
                names = {s.id: s.name for s in await self._schema.segments()}
        return [
            SegmentCount(id=shown(sid), name=shown(name or names.get(sid) or sid), count=n)
            for sid, name, n in counted
        ]


def _cursor(contact_id: str, order: SearchOrder) -> str:
    """A page's `next_after`: the last contact's id, and for an order other than the
    default the order too, so that a cursor is never read in another order."""
    return shown(contact_id if order == "newest" else f"{order}:{contact_id}")


def _cursor_id(after: str, order: SearchOrder) -> str:
    """The contact id of a cursor given for `order`; a clear error for a cursor of
    another order."""
    given, _, contact_id = after.strip().partition(":")
    if given not in ORDERS or given == "newest" or not contact_id:
        given, contact_id = "newest", after.strip()
    if given != order:
        raise UserFacingError(
            f"This `after` continues a search sorted {given}, not {order}: pass the "
            "next_after of a page in the same order, or leave `after` out for the first page."
        )
    return contact_id


def _live_note(since: float, last: float, state: MirrorState, now: float) -> str:
    text = (
        f"Live from Resend's webhooks since {utc_iso(since)} (last event "
        f"{spoken_duration(max(0, round(now - last)))} ago): contacts created, changed or "
        "deleted since are applied as they happen (names, unsubscribes, and segments where "
        "the event lists them)."
    )
    if state.full_synced_at is None or state.full_synced_at < since:
        text += (
            " Changes made between the last full sync and the first event are not seen "
            "until refresh=full; imports send no events."
        )
    return text


def _event_time(event: ContactEvent) -> float:
    """When the change happened: Resend's `updated_at`, never later than its arrival (a
    clock ahead of ours must not outrank what we observe after it)."""
    try:
        moment = datetime.fromisoformat((event.updated_at or "").replace("Z", "+00:00"))
    except ValueError:
        return event.received_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(moment.timestamp(), event.received_at)


async def list_pages(
    client: ResendClient,
    *,
    after: str | None = None,
    segment_id: str | None = None,
    listed: int = 0,
) -> AsyncGenerator[tuple[list[ContactSummary], bool]]:
    """The account's contact list (or a segment's), newest first, from just past `after`:
    each page (`PAGE` contacts) and whether more follow. Client errors come through as
    raised (a segment deleted meanwhile: `NotFoundError`). Each page passes the client's
    `PageGuard` before it is yielded: a page that repeats a contact listed before, or
    takes the listing past the client's `max_contacts` (counting the `listed` of the
    listing this one resumes), raises `UnexpectedResponseError` instead."""
    guard = client.contact_list_guard(
        segment_id=segment_id, page_size=PAGE, after=after, listed=listed
    )
    cursor = after
    while True:
        page = await patiently(
            partial(client.list_contacts, limit=PAGE, after=cursor, segment_id=segment_id)
        )
        listed_now = list(page.data)
        more = page.has_more and bool(listed_now)
        guard.accept([c.id for c in listed_now], more=more)
        yield listed_now, more
        if not more:
            return
        cursor = listed_now[-1].id


def membership_requests(contacts: int, segment_sizes: Sequence[int]) -> int:
    """The fewest requests that show `contacts` contacts' memberships of segments of
    these sizes: one per contact, or each segment paged whole (at least one page each)."""
    return min(contacts, sum(max(1, -(-size // PAGE)) for size in segment_sizes))


async def patiently(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, tried again after transient failures (see `PATIENCE`): reads only."""
    for attempt in range(PATIENCE):
        try:
            return await call()
        except (ServerError, RateLimitError, TransportError):
            if attempt == PATIENCE - 1:
                raise
            await anyio.sleep(min(30.0, 0.5 * 2**attempt))
    raise AssertionError("unreachable")  # the loop returns or raises


def _property_filter(key: str, type_: str, op: Op, value: object) -> Filter:
    allowed = _OPS_BY_TYPE.get(type_, ("eq", "contains", "empty", "not_empty"))
    if op not in allowed:
        raise UserFacingError(
            f"Property `{key}` is a {type_}: it takes {', '.join(allowed)}, not {op}."
        )
    if op in ("empty", "not_empty"):
        return Filter("property", op, None, key=key)
    if type_ == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserFacingError(
                f"Property `{key}` is a number: compare it with a number, not {show(value, 40)}."
            )
        return Filter("property", op, float(value), key=key)
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise UserFacingError(f"Property `{key}` is a boolean: compare it with true or false.")
        return Filter("property", op, value, key=key)
    if not isinstance(value, str):
        raise UserFacingError(
            f"Property `{key}` is a string: compare it with text, not {show(value, 40)}."
        )
    return Filter("property", op, value, key=key)
