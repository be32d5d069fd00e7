"""One change applied to many contacts: planned per contact, previewed, then applied as
a job.

A change is any of: unsubscribed, property values (set, or cleared with null), segments
joined or left, topic subscriptions. Each contact gets only the requests its own state
needs: a contact already in a segment costs no request to be "added" to it. But a run
skips a contact as "already as asked" only on a fact it observed afresh (see
`services.recheck`): the members of the segments joined or left are paged at run time;
names and unsubscribes are re-read when the consent guard or a search condition needs
them. What it did not observe (property values, topic subscriptions) is written without
looking: the write is idempotent and costs the one request a read would.

The consent guard of `update_contact` applies contact by contact: a contact who
unsubscribed, or opted out of a topic, is not opted back in unless the person asked
(`resubscribe`). Those contacts are refused, named in the preview where the mirror knows
(unsubscribed), and in the failures file where only the run can (topics).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from contacts_mcp.api.base import UNSET, PropertyInput
from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import NotFoundError, ResendError, UnexpectedResponseError
from contacts_mcp.api.models import Subscription, Topic
from contacts_mcp.services.before_state import (
    NAMES,
    Facts,
    Recorded,
    facts_now,
    write_journal,
)
from contacts_mcp.services.bulk import SAMPLE, BulkOutcome, Selected, attempts, write_failures
from contacts_mcp.services.contacts import check_property_input
from contacts_mcp.services.explain import UserFacingError, explain
from contacts_mcp.services.jobs import Progress
from contacts_mcp.services.mirror import Filter, MirroredContact
from contacts_mcp.services.outfiles import WrittenFiles
from contacts_mcp.services.recheck import (
    Needs,
    Observed,
    Trust,
    confirm_existence,
    each,
    needs_for,
    observe,
    still_matching,
)
from contacts_mcp.services.schema import SchemaService
from contacts_mcp.services.sets import Condition, ContactsSets, patiently
from contacts_mcp.text.caps import shown, shown_mapping
from contacts_mcp.text.words import counted

__all__ = [
    "Change",
    "ContactPlan",
    "apply_change",
    "apply_plan",
    "change_needs",
    "plan_for",
    "resolve_change",
    "topic_choices",
    "without_gone",
]

RESUBSCRIBE_HINT = "opt them back in only if they asked to (resubscribe=true)"


@dataclass(frozen=True)
class Change:
    """What to do to every selected contact; segments and topics by id."""

    unsubscribed: bool | None = None
    properties: Mapping[str, PropertyInput] = field(default_factory=dict[str, PropertyInput])
    join: tuple[str, ...] = ()
    leave: tuple[str, ...] = ()
    topics: Mapping[str, Subscription] = field(default_factory=dict[str, Subscription])
    resubscribe: bool = False

    def arguments(self) -> dict[str, Any]:
        """The change as JSON: for the job journal and the confirmation's digest."""
        return {
            "unsubscribed": self.unsubscribed,
            "properties": dict(self.properties),
            "join": list(self.join),
            "leave": list(self.leave),
            "topics": dict(self.topics),
            "resubscribe": self.resubscribe,
        }

    @classmethod
    def from_arguments(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            unsubscribed=data.get("unsubscribed"),
            properties=dict(data.get("properties") or {}),
            join=tuple(data.get("join") or ()),
            leave=tuple(data.get("leave") or ()),
            topics=dict(data.get("topics") or {}),
            resubscribe=bool(data.get("resubscribe")),
        )

    def describe(self, segment_names: Mapping[str, str], topic_names: Mapping[str, str]) -> str:
        """The change in a few words, for the preview and the person's approval."""
        parts: list[str] = []
        if self.unsubscribed is not None:
            parts.append("unsubscribe" if self.unsubscribed else "re-subscribe")
        for key, value in self.properties.items():
            parts.append(f"clear {key}" if value is None else f"set {key} = {value!r}")
        parts.extend(f"add to {segment_names.get(s, s)!r}" for s in self.join)
        parts.extend(f"remove from {segment_names.get(s, s)!r}" for s in self.leave)
        parts.extend(f"{sub} {topic_names.get(t, t)!r}" for t, sub in self.topics.items())
        return ", ".join(parts)


async def resolve_change(
    schema: SchemaService,
    *,
    unsubscribed: bool | None,
    properties: Mapping[str, PropertyInput] | None,
    add_segments: Sequence[str],
    remove_segments: Sequence[str],
    topics: Mapping[str, Subscription] | None,
    resubscribe: bool,
) -> Change:
    """The change with every name resolved and every value checked; nothing is written."""
    values = await schema.check_property_values(check_property_input(properties) or {})
    join = await schema.segment_ids(add_segments)
    leave = await schema.segment_ids(remove_segments)
    if both := set(join) & set(leave):
        raise UserFacingError(
            f"Segment {sorted(both)[0]} is in both add_segments and remove_segments; "
            "keep it in one of them."
        )
    subscriptions = await schema.topic_ids(topics or {})
    change = Change(unsubscribed, values, tuple(join), tuple(leave), subscriptions, resubscribe)
    if unsubscribed is None and not (values or join or leave or subscriptions):
        raise UserFacingError(
            "Nothing to change. Give unsubscribed, properties, add_segments, "
            "remove_segments or topics."
        )
    return change


@dataclass
class ContactPlan:
    """The requests one contact needs for the change, from what the mirror knows."""

    contact: MirroredContact
    segments: list[str]
    fields: dict[str, Any]
    join: list[str]
    leave: list[str]
    write_topics: bool
    check_topics: bool
    refused: str | None = None

    @property
    def requests(self) -> int:
        if self.refused is not None:
            return 0
        return (
            int(self.check_topics) + int(bool(self.fields)) + len(self.join) + len(self.leave)
        ) + int(self.write_topics)

    @property
    def needed(self) -> bool:
        return self.requests > 0

    def before_after(
        self, change: Change, segment_names: Mapping[str, str], topic_names: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The changed fields before and after, as shown to the model (`text.caps`); a
        value the mirror does not know is left out of `before` (topics always are: the run
        reads them)."""
        contact = self.contact
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if change.unsubscribed is not None:
            before["unsubscribed"] = contact.unsubscribed
            after["unsubscribed"] = contact.unsubscribed if self.refused else change.unsubscribed
        for key, value in change.properties.items():
            if contact.properties is not None:
                before[key] = contact.properties.get(key)
            after[key] = value
        if change.join or change.leave:
            now = set(self.segments)
            before["segments"] = sorted(segment_names.get(s, s) for s in now)
            later = now if self.refused else (now | set(change.join)) - set(change.leave)
            after["segments"] = sorted(segment_names.get(s, s) for s in later)
        if change.topics:
            after["topics"] = {topic_names.get(t, t): sub for t, sub in change.topics.items()}
        return shown_mapping(before), shown_mapping(after)


def change_needs(change: Change, where: Sequence[Filter] | None) -> Needs:
    """What a run of `change` observes first: the members of every segment it joins or
    leaves, what its search's conditions stand on, `unsubscribed` when it changes it, and
    the property values it sets."""
    conditions = needs_for(where)
    # What the run changes is observed too: its journal holds each contact's before-state,
    # for an undo (`services.undo`).
    return Needs(
        segments=conditions.segments | set(change.join) | set(change.leave),
        fields=conditions.fields or change.unsubscribed is not None,
        values=conditions.values or bool(change.properties),
    )


def plan_for(
    contact: MirroredContact, segments: Sequence[str], change: Change, trust: Trust
) -> ContactPlan:
    """What `contact` (with its segment ids) needs for `change`: a fact `trust` does not
    vouch for is written, whatever the mirror holds."""
    refused = None
    if change.unsubscribed is False and contact.unsubscribed and not change.resubscribe:
        refused = f"unsubscribed from all broadcasts; {RESUBSCRIBE_HINT}"
    fields: dict[str, Any] = {}
    if change.unsubscribed is not None and (
        change.unsubscribed != contact.unsubscribed or not trust.trusts_fields(contact)
    ):
        fields["unsubscribed"] = change.unsubscribed
    known = contact.properties if trust.trusts_values(contact) else None
    values = {
        key: value
        for key, value in change.properties.items()
        if known is None or not _same(known.get(key), value)
    }
    if values:
        fields["properties"] = values
    member = set(segments)
    return ContactPlan(
        contact=contact,
        segments=list(segments),
        fields=fields,
        join=[s for s in change.join if s not in member or not trust.trusts_segment(s)],
        leave=[s for s in change.leave if s in member or not trust.trusts_segment(s)],
        write_topics=bool(change.topics),
        # Read first: for the consent guard, and for the journal's before-state.
        check_topics=bool(change.topics),
        refused=refused,
    )


def _same(current: object, wanted: PropertyInput) -> bool:
    if wanted is None or current is None:
        return wanted is None and current is None
    if isinstance(wanted, str) or isinstance(current, str | bool):
        return current == wanted
    return float(current) == float(wanted)  # type: ignore[arg-type]  # a number


# -- the run ------------------------------------------------------------------------------


async def apply_change(
    client: ResendClient,
    sets: ContactsSets,
    selected: Selected,
    change: Change,
    failures_path: Path,
    progress: Progress,
    where: Sequence[Condition] | None = None,
    *,
    journal: Path | None = None,
    written: WrittenFiles | None = None,
) -> BulkOutcome:
    """Apply `change` to every selected contact that needs it, 8 at a time (the client's
    pacer keeps the account's rate); what each did is counted, failures written out.

    First the run observes what its decisions stand on (`change_needs`): a contact is
    skipped as already as asked only on a fact observed since the run began, and with
    `where` (a search's conditions) a contact that no longer meets them is left alone.
    Before the first write, each contact to change is recorded in `journal` as it was
    (`services.undo`)."""
    started, sent_before = time.monotonic(), client.requests_sent
    filters = None if where is None else await sets.filters(where)
    items, observed = await observe(
        client, sets, selected.contacts, change_needs(change, filters), progress
    )
    dropped: list[tuple[str, str]] = []
    if where is not None:
        items, dropped = await still_matching(sets, where, items)
    emails = {contact.id: contact.email for contact, _ in selected.contacts}
    left = [(emails[contact_id], why) for contact_id, why in dropped]
    plans = [plan_for(contact, segments, change, observed) for contact, segments in items]
    plans = await without_gone(client, sets, plans, observed, progress)
    failures: list[tuple[str, str]] = [(p.contact.email, p.refused) for p in plans if p.refused]
    refused = len(failures)
    failures += [(email, f"could not re-check it: {why}") for email, why in observed.unreadable]
    # The others are accounted for; those left were found deleted by the re-check.
    accounted = {p.contact.id for p in plans} | {contact_id for contact_id, _ in dropped}
    accounted |= {email for email, _ in observed.unreadable}
    failures += [
        (contact.email, "the contact no longer exists")
        for contact, _ in selected.contacts
        if contact.id not in accounted and contact.email not in accounted
    ]
    counts = {"done": 0, "unchanged": sum(1 for p in plans if not p.needed and not p.refused)}
    needed = [p for p in plans if p.needed and not p.refused]
    choices: dict[str, dict[str, Subscription]] = {}
    topics = await _topics_set(client, change)
    names = {topic_id: topic.name for topic_id, topic in topics.items()}
    if change.topics:
        choices, unread = await topic_choices(client, [p.contact for p in needed], progress)
        failures += unread
        read = {email for email, _ in unread}
        failures += [(p.contact.email, "the contact no longer exists") for p in needed
                     if p.contact.id not in choices and p.contact.email not in read]  # fmt: skip
        needed = [p for p in needed if p.contact.id in choices]
    if journal is not None and needed:
        defaults = {topic_id: topic.default_subscription for topic_id, topic in topics.items()}
        records = [_recorded(p, change, choices.get(p.contact.id), defaults) for p in needed]
        await anyio.to_thread.run_sync(write_journal, journal, records, written)

    async def one(plan: ContactPlan) -> None:
        nonlocal refused
        now = choices.get(plan.contact.id)
        outcome = await apply_plan(client, sets, plan, change, now, names)
        if outcome is None:
            counts["done"] += 1
        elif outcome.startswith("refused"):
            refused += 1
            failures.append((plan.contact.email, outcome))
        elif outcome == "unchanged":
            counts["unchanged"] += 1
        else:
            failures.append((plan.contact.email, outcome))

    await each(needed, one, progress, "updated")
    return BulkOutcome(
        action="update",
        selected=len(selected.contacts),
        done=counts["done"],
        unchanged=counts["unchanged"],
        refused=refused,
        no_longer_matching=len(dropped),
        no_longer_matching_sample=[f"{shown(email)}: {why}" for email, why in left[:SAMPLE]],
        failed=len(failures) - refused,
        requests=client.requests_sent - sent_before,
        seconds=round(time.monotonic() - started, 2),
        failures_file=write_failures(failures_path, failures + left),
        notes=_observed_notes(observed.requests),
    )


async def without_gone(
    client: ResendClient,
    sets: ContactsSets,
    plans: list[ContactPlan],
    observed: Observed,
    progress: Progress,
) -> list[ContactPlan]:
    """The plans but those of contacts that would be counted as already as asked and
    are found deleted from Resend (or unreadable) when checked (`confirm_existence`)."""
    skipped = [(p.contact, p.segments) for p in plans if not p.needed and not p.refused]
    dropped = await confirm_existence(client, sets, skipped, observed, progress)
    return [plan for plan in plans if plan.contact.id not in dropped]


def _observed_notes(requests: int) -> list[str]:
    if not requests:
        return []
    return [
        f"{counted(requests, 'request')} re-checked at run time what the run's decisions "
        "stand on; "
        "a contact was skipped as already as asked only on what they found."
    ]


async def topic_choices(
    client: ResendClient, contacts: Sequence[MirroredContact], progress: Progress
) -> tuple[dict[str, dict[str, Subscription]], list[tuple[str, str]]]:
    """Each contact's topic choices (contact id → topic id → choice), read afresh one
    request each, and (email, why) for those that could not be read; a contact found
    deleted is in neither."""
    found: dict[str, dict[str, Subscription]] = {}
    unread: list[tuple[str, str]] = []

    async def read(contact: MirroredContact) -> None:
        try:
            listed = await patiently(partial(client.list_contact_topics, contact.id))
        except NotFoundError:
            return
        except ResendError as exc:
            unread.append((contact.email, f"could not read its topics: {explain(exc)}"))
        else:
            found[contact.id] = {t.id: t.subscription for t in listed}

    await each(contacts, read, progress, "reading topic choices")
    return found, unread


async def _topics_set(client: ResendClient, change: Change) -> dict[str, Topic]:
    """The topics the change sets, by id: their names, and the default choice a contact
    who never chose one has (what an undo puts back)."""
    if not change.topics:
        return {}
    try:
        topics = await patiently(client.list_topics)
    except ResendError as exc:
        raise explain(exc) from None
    return {t.id: t for t in topics if t.id in change.topics}


def _recorded(
    plan: ContactPlan,
    change: Change,
    choices: Mapping[str, Subscription] | None,
    defaults: Mapping[str, Subscription],
) -> Recorded:
    """The contact in the run's journal: the facts the change touches, as they were and
    as the change leaves them."""
    after = Facts(
        unsubscribed=change.unsubscribed,
        properties=change.properties,
        segments={**dict.fromkeys(change.join, True), **dict.fromkeys(change.leave, False)},
        topics=change.topics,
    )
    unchosen = {t: defaults[t] for t in change.topics if t in defaults}
    before = facts_now(plan.contact, plan.segments, {**unchosen, **(choices or {})}, after)
    return Recorded(plan.contact.email, plan.contact.id, before, after)


async def apply_plan(
    client: ResendClient,
    sets: ContactsSets,
    plan: ContactPlan,
    change: Change,
    topics_now: Mapping[str, Subscription] | None = None,
    topic_names: Mapping[str, str] | None = None,
) -> str | None:
    """None when the contact now is as asked; "unchanged" when it already was (its topics,
    `topics_now`, read for the consent guard); otherwise why not ("refused: …" for the
    guard)."""
    contact = plan.contact
    write_topics = plan.write_topics
    if plan.check_topics:
        if topics_now is None:
            try:
                listed = await patiently(partial(client.list_contact_topics, contact.id))
            except NotFoundError:
                return "the contact no longer exists"
            except ResendError as exc:
                return f"could not read its topics: {explain(exc)}"
            topics_now = {t.id: t.subscription for t in listed}
            topic_names = {t.id: t.name for t in listed}
        opted_out = [t for t, sub in topics_now.items() if sub == "opt_out"]
        blocked = [t for t, sub in change.topics.items() if sub == "opt_in" and t in opted_out]
        if blocked and not change.resubscribe:
            name = (topic_names or {}).get(blocked[0], blocked[0])
            return f"refused: opted out of topic {name!r}; {RESUBSCRIBE_HINT}"
        write_topics = any(topics_now.get(t) != sub for t, sub in change.topics.items())
        if not (plan.fields or plan.join or plan.leave or write_topics):
            return "unchanged"
    steps: list[tuple[str, Callable[[], Awaitable[object]], Callable[[], None]]] = []
    if plan.fields:
        patch = partial(_patch, client, contact.id, plan.fields)
        written = partial(_fields_are, client, contact.id, plan.fields)
        steps.append(("fields", _settled(patch, written),
                      partial(_mirror_fields, sets, contact, plan.fields)))  # fmt: skip
    for segment_id in plan.join:
        join = partial(client.add_contact_to_segment, contact.id, segment_id)
        steps.append((f"joined {segment_id}",
                      _settled(join, partial(_member, client, contact.id, segment_id, True)),
                      partial(sets.mirror.set_member, contact.id, segment_id, True)))  # fmt: skip
    for segment_id in plan.leave:
        leave = partial(client.remove_contact_from_segment, contact.id, segment_id)
        steps.append((f"left {segment_id}",
                      _settled(leave, partial(_member, client, contact.id, segment_id, False)),
                      partial(sets.mirror.set_member, contact.id, segment_id, False)))  # fmt: skip
    if write_topics:
        choose = partial(client.update_contact_topics, contact.id, change.topics)
        steps.append(("topics",
                      _settled(choose, partial(_topics_are, client, contact.id, change.topics)),
                      lambda: None))  # fmt: skip
    applied: list[str] = []
    for name, call, remember in steps:
        reason = await attempts(call)
        if reason == "gone":
            reason = "the contact (or a segment) no longer exists"
        if reason is not None:
            return reason + (f" (already applied: {', '.join(applied)})" if applied else "")
        remember()
        applied.append(name)
    return None


def _settled(
    write: Callable[[], Awaitable[object]], done: Callable[[], Awaitable[bool]]
) -> Callable[[], Awaitable[object]]:
    """`write`, whose answer Resend may give in a shape that says nothing: then the write
    may or may not have happened, and a re-read of the contact (`done`) settles it. Only
    what the re-read shows is counted as done; otherwise the unreadable answer stands."""

    async def call() -> object:
        try:
            return await write()
        except UnexpectedResponseError:
            try:
                applied = await patiently(done)
            except ResendError:
                applied = False
            if not applied:
                raise
            return None

    return call


async def _member(client: ResendClient, contact_id: str, segment_id: str, wanted: bool) -> bool:
    segments = await client.list_contact_segments(contact_id)
    return any(s.id == segment_id for s in segments) == wanted


async def _topics_are(
    client: ResendClient, contact_id: str, wanted: Mapping[str, Subscription]
) -> bool:
    now = {t.id: t.subscription for t in await client.list_contact_topics(contact_id)}
    return all(now.get(topic_id) == sub for topic_id, sub in wanted.items())


async def _fields_are(client: ResendClient, contact_id: str, fields: Mapping[str, Any]) -> bool:
    contact = await client.get_contact(contact_id)
    if "unsubscribed" in fields and contact.unsubscribed != fields["unsubscribed"]:
        return False
    for name in NAMES:  # an undo puts names back
        if name in fields and (getattr(contact, name) or None) != (fields[name] or None):
            return False
    for key, value in fields.get("properties", {}).items():
        held = contact.properties.get(key)
        now = None if held is None else held.value
        if value is None:
            if now not in (None, ""):
                return False
        elif isinstance(value, str) != isinstance(now, str) or now != value:
            return False
    return True


async def _patch(client: ResendClient, contact_id: str, fields: Mapping[str, Any]) -> None:
    await client.update_contact(
        contact_id,
        unsubscribed=fields.get("unsubscribed", UNSET),
        properties=fields.get("properties", UNSET),
        first_name=fields.get("first_name", UNSET),
        last_name=fields.get("last_name", UNSET),
    )


def _mirror_fields(sets: ContactsSets, contact: MirroredContact, fields: Mapping[str, Any]) -> None:
    """Write the change through to the mirror, so searches see it at once."""
    properties = None
    if contact.properties is not None:  # known: keep them known
        merged = dict(contact.properties)
        for key, value in fields.get("properties", {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        properties = merged
    sets.mirror.upsert(
        MirroredContact(
            id=contact.id,
            email=contact.email,
            first_name=fields.get("first_name", contact.first_name) or "",
            last_name=fields.get("last_name", contact.last_name) or "",
            unsubscribed=fields.get("unsubscribed", contact.unsubscribed),
            created_at=contact.created_at,
            properties=properties,
        )
    )
