"""What a bulk run observes at run time, so that it never acts on a stale fact.

The mirror's facts were true when observed (see `services.mirror`); anything may have
changed at Resend since. A run that skips a contact as "already as asked", or picks it
because it matched a search, first observes afresh what that decision stands on, as
cheaply as the API allows:

- a segment's members (a search's `segment` condition, a segment to join or leave): its
  member list paged whole, 100 contacts a request, never a read per contact;
- names and `unsubscribed` (a condition on them, or a re-subscribe the consent guard must
  check): the whole account paged (100 a request) or each contact read (1 each),
  whichever is fewer requests;
- property values (a condition on one): each contact read, since list pages carry none.

Facts observed or written after the run began (`Observed.since`) are trusted; the rest
are not: a run writes what it cannot trust (the write is idempotent and costs what a
read would), and a contact whose search no longer matches is left untouched.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

import anyio

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import NotFoundError, ResendError
from contacts_mcp.services.explain import explain, show
from contacts_mcp.services.jobs import Progress
from contacts_mcp.services.mirror import Filter, MirroredContact
from contacts_mcp.services.sets import (
    PAGE,
    Condition,
    ContactsSets,
    membership_requests,
    patiently,
    read_record,
)

__all__ = [
    "CONCURRENCY",
    "Needs",
    "Observed",
    "Trust",
    "complete_records",
    "confirm_existence",
    "each",
    "needs_for",
    "observe",
    "still_matching",
]

T = TypeVar("T")
Item = tuple[MirroredContact, list[str]]
# Contacts worked on at once: the client's pacer still keeps to the account's rate.
CONCURRENCY = 8
_MUTABLE_FIELDS = ("first_name", "last_name", "unsubscribed")


async def each(
    items: Sequence[T], work: Callable[[T], Awaitable[None]], progress: Progress, label: str
) -> None:
    """`work(item)` for every item, `CONCURRENCY` at a time, reporting as they end."""
    done = 0
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(item: T) -> None:
        nonlocal done
        async with limiter:
            await work(item)
        done += 1
        if done % 20 == 0 or done == len(items):
            await progress(done, len(items), f"{label}: {done} of {len(items)}")

    async with anyio.create_task_group() as group:
        for item in items:
            group.start_soon(one, item)


async def complete_records(
    client: ResendClient,
    sets: ContactsSets,
    items: Sequence[Item],
    progress: Progress,
    label: str,
    *,
    every: bool = False,
) -> tuple[list[Item], list[tuple[str, str]]]:
    """The contacts with every one's properties known, in order, read (one request each)
    where the mirror does not know them, or for `every` contact; and (email, why) for
    those unreadable. Contacts found gone are left out (and out of the mirror)."""
    fresh: dict[str, MirroredContact | None] = {}
    unreadable: list[tuple[str, str]] = []

    async def read(item: Item) -> None:
        contact = item[0]
        read_at = time.time()
        try:
            found = await patiently(partial(client.get_contact, contact.id))
        except NotFoundError:
            fresh[contact.id] = None  # gone already: nothing to record
            sets.mirror.remove(contact.id)
            return
        except ResendError as exc:
            unreadable.append((contact.email, str(explain(exc))))
            return
        record = read_record(found, read_at)
        sets.mirror.upsert(record, changed=False, at=read_at)
        fresh[contact.id] = record

    unknown = [item for item in items if every or item[0].properties is None]
    await each(unknown, read, progress, label)
    failed = {email for email, _ in unreadable}
    complete: list[Item] = []
    for contact, segments in items:
        record = fresh.get(contact.id, contact)
        if record is not None and contact.email not in failed:
            complete.append((record, segments))
    return complete, unreadable


class Trust(Protocol):
    """Which facts a plan may count as already so (see `Needs` and `Observed`)."""

    def trusts_fields(self, contact: MirroredContact) -> bool: ...
    def trusts_values(self, contact: MirroredContact) -> bool: ...
    def trusts_segment(self, segment_id: str) -> bool: ...


@dataclass(frozen=True)
class Needs:
    """What a run must observe afresh before acting on its selection. As a `Trust`, for
    a preview: the facts the run will re-check are taken as the mirror holds them (the
    best estimate of what the run will find); the others will be written."""

    segments: frozenset[str] = frozenset()
    """Segments whose member lists are paged whole."""
    fields: bool = False
    """Names and `unsubscribed`: the account paged, or each contact read."""
    values: bool = False
    """Property values: each contact read."""
    every_membership: bool = False
    """Every segment of each contact (a delete's snapshot): the cheaper of one read per
    contact or every segment paged."""

    def trusts_fields(self, contact: MirroredContact) -> bool:
        return self.fields

    def trusts_values(self, contact: MirroredContact) -> bool:
        return self.values

    def trusts_segment(self, segment_id: str) -> bool:
        return segment_id in self.segments

    def requests(self, sets: ContactsSets, contacts: int) -> int:
        """What observing this costs for `contacts` selected contacts, at most."""
        sizes = sets.mirror.segment_sizes()
        wanted = sizes if self.every_membership else {s: sizes.get(s, 0) for s in self.segments}
        cost = membership_requests(contacts, list(wanted.values())) if wanted else 0
        if self.values:
            cost += contacts
        elif self.fields:
            cost += min(contacts, 1 + _pages(sets.mirror.state().contacts))
        return cost

    def describe(self, segment_names: dict[str, str]) -> list[str]:
        """What will be re-checked, in words, for a preview."""
        parts = [f"segment {show(segment_names.get(s, s), 40)}'s members" for s in self.segments]
        if self.values:
            parts.append("each contact's property values")
        elif self.fields:
            parts.append("names and unsubscribes")
        if self.every_membership:
            parts.append("each contact's segments (for the snapshot)")
        return parts


def needs_for(where: Sequence[Filter] | None) -> Needs:
    """What re-checking a search's conditions needs (email, domain and created_at never
    change; a contact gone since is found by the write itself)."""
    filters = where or ()
    return Needs(
        segments=frozenset(str(f.value) for f in filters if f.field == "segment"),
        fields=any(f.field in _MUTABLE_FIELDS for f in filters),
        values=any(f.field == "property" for f in filters),
    )


@dataclass
class Observed:
    """What a run observed afresh, from `since` on."""

    since: float
    segments: set[str] = field(default_factory=set[str])
    every_segment: bool = False
    requests: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    read: set[str] = field(default_factory=set[str])
    """Contacts read one by one since `since` (so known to exist then)."""

    def trusts_fields(self, contact: MirroredContact) -> bool:
        return contact.seen_at is not None and contact.seen_at >= self.since

    def trusts_values(self, contact: MirroredContact) -> bool:
        return contact.properties_at is not None and contact.properties_at >= self.since

    def trusts_segment(self, segment_id: str) -> bool:
        return self.every_segment or segment_id in self.segments


async def observe(
    client: ResendClient,
    sets: ContactsSets,
    items: Sequence[Item],
    needs: Needs,
    progress: Progress,
) -> tuple[list[Item], Observed]:
    """Observe what `needs` names for these contacts, into the mirror; then the contacts
    as the mirror now holds them (those found gone left out), and what was observed."""
    observed = Observed(since=time.time())
    sent_before = client.requests_sent
    ids = [contact.id for contact, _ in items]
    if needs.segments or needs.every_membership:
        observed.read = await sets.read_memberships(
            ids, progress, None if needs.every_membership else sorted(needs.segments)
        )
        observed.segments.update(needs.segments)
        observed.every_segment = needs.every_membership
    if needs.values or (needs.fields and len(items) <= 1 + _pages(sets.mirror.state().contacts)):
        _, observed.unreadable = await complete_records(
            client, sets, items, progress, "re-checking contacts", every=True
        )
    elif needs.fields:
        listed = await sets.observe_contacts(progress)
        for contact_id in set(ids) - listed:  # not in the whole account's list: deleted
            sets.mirror.remove(contact_id)
    observed.requests = client.requests_sent - sent_before
    unreadable = {email for email, _ in observed.unreadable}
    now = await anyio.to_thread.run_sync(sets.mirror.contacts, ids)
    return [item for item in now if item[0].email not in unreadable], observed


async def confirm_existence(
    client: ResendClient,
    sets: ContactsSets,
    items: Sequence[Item],
    observed: Observed,
    progress: Progress,
) -> set[str]:
    """Of these contacts (a run's "already as asked"), the ids found deleted from Resend
    or unreadable (those go to `observed.unreadable`): a contact is counted as already
    as asked only if it exists. Paging a segment shows its members, not that a contact
    absent from it still exists. Those the API showed since the run began are known to;
    the others are read one by one or the account is paged, whichever is fewer requests."""
    ids = [contact.id for contact, _ in items]
    shown = observed.read | await anyio.to_thread.run_sync(
        sets.mirror.seen_since, ids, observed.since
    )
    doubted = [item for item in items if item[0].id not in shown]
    if not doubted:
        return set()
    sent_before = client.requests_sent
    doubted_ids = {contact.id for contact, _ in doubted}
    if len(doubted) <= 1 + _pages(sets.mirror.state().contacts):
        kept, unreadable = await complete_records(
            client, sets, doubted, progress, "checking they still exist", every=True
        )
        observed.unreadable += unreadable
        dropped = doubted_ids - {contact.id for contact, _ in kept}
    else:
        dropped = doubted_ids - await sets.observe_contacts(progress)
        for contact_id in dropped:  # not in the whole account's list: deleted
            sets.mirror.remove(contact_id)
    observed.requests += client.requests_sent - sent_before
    return dropped


async def still_matching(
    sets: ContactsSets, where: Sequence[Condition], items: Sequence[Item]
) -> tuple[list[Item], list[tuple[str, str]]]:
    """The contacts that still meet every condition, as the mirror now holds them, and
    (id, why) for each that does not."""
    filters = await sets.filters(where)
    ids = [contact.id for contact, _ in items]
    failing: dict[str, str] = {}
    for condition, one in zip(where, filters, strict=True):
        meeting = await anyio.to_thread.run_sync(sets.mirror.matching, [one], ids)
        for contact_id in ids:
            if contact_id not in meeting and contact_id not in failing:
                failing[contact_id] = f"no longer matches: {_spoken(condition)}"
    kept = [item for item in items if item[0].id not in failing]
    dropped = [(contact.id, failing[contact.id]) for contact, _ in items if contact.id in failing]
    return kept, dropped


def _spoken(condition: Condition) -> str:
    # The field passed the schema check: a built-in name or one of the account's keys.
    value = "" if condition.value is None else f" {show(condition.value, 40)}"
    return f"{condition.field.strip()} {condition.op}{value}"


def _pages(count: int) -> int:
    return max(1, -(-count // PAGE))
