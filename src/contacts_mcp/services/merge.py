"""Merge a group of duplicate contacts into one: keep one, give it what the others hold
and it lacks, then delete the others.

What the kept contact gets:
- each property value it has none for, from the others (oldest first); where both hold a
  value, the kept contact's stays, and the preview names the conflict;
- every segment any of them is in;
- every topic opt-out any of them made (opt-outs always win; an opt-in is never copied:
  the kept contact's own choice, or the topic's default, stands);
- `unsubscribed`, if any of them unsubscribed: an opt-out from one address is the
  person's, whichever address they used.

Then the others are snapshotted (fields, values, segments, topic choices) and deleted.
The kept contact's before-state is journaled before its first write (`before_state`),
so `update_contacts(undo=<job id>)` restores the others from the snapshot and puts the
kept contact back as it was.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import NotFoundError, ResendError
from contacts_mcp.api.models import Subscription
from contacts_mcp.services.before_state import Facts, Recorded, facts_now, write_journal
from contacts_mcp.services.bulk import (
    BulkOutcome,
    UnwritableValueError,
    attempts,
    write_contacts_csv,
    write_failures,
)
from contacts_mcp.services.bulk_change import Change, ContactPlan, apply_plan
from contacts_mcp.services.explain import UserFacingError, explain
from contacts_mcp.services.jobs import Progress
from contacts_mcp.services.mirror import MirroredContact, PropertyValue
from contacts_mcp.services.outfiles import WrittenFiles
from contacts_mcp.services.private import private_folder
from contacts_mcp.services.recheck import each
from contacts_mcp.services.sets import ContactsSets, patiently, read_record
from contacts_mcp.text.caps import shown
from contacts_mcp.text.words import counted

__all__ = ["MAX_MERGE", "Member", "MergePlan", "merge", "plan_merge", "read_members"]

# Contacts one merge takes: a person's duplicates are a handful; each is read three ways.
MAX_MERGE = 10


@dataclass(frozen=True)
class Member:
    """One contact of the group, read afresh: fields and values, segments, topic choices."""

    contact: MirroredContact
    segments: list[str]
    topics: dict[str, Subscription]


@dataclass
class MergePlan:
    """What the kept contact gets from the others (`plan_merge`), and the conflicts."""

    keep: Member
    others: list[Member]
    properties: dict[str, PropertyValue] = field(default_factory=dict[str, PropertyValue])
    conflicts: list[str] = field(default_factory=list[str])
    join: list[str] = field(default_factory=list[str])
    opt_outs: dict[str, Subscription] = field(default_factory=dict[str, Subscription])
    unsubscribe: bool = False

    @property
    def after(self) -> Facts:
        """The kept contact's facts the merge sets."""
        return Facts(
            unsubscribed=True if self.unsubscribe else None,
            properties=dict(self.properties),
            segments=dict.fromkeys(self.join, True),
            topics=dict(self.opt_outs),
        )

    def change(self) -> tuple[Change, ContactPlan]:
        fields: dict[str, Any] = {}
        if self.unsubscribe:
            fields["unsubscribed"] = True
        if self.properties:
            fields["properties"] = dict(self.properties)
        change = Change(
            unsubscribed=True if self.unsubscribe else None,
            properties=dict(self.properties),
            join=tuple(self.join),
            topics=dict(self.opt_outs),
        )
        plan = ContactPlan(
            contact=self.keep.contact,
            segments=self.keep.segments,
            fields=fields,
            join=list(self.join),
            leave=[],
            write_topics=bool(self.opt_outs),
            check_topics=bool(self.opt_outs),
        )
        return change, plan

    def requests(self) -> int:
        """What the run writes (it reads each contact again first: 3 requests each)."""
        fields = self.unsubscribe or bool(self.properties)
        return int(fields) + len(self.join) + int(bool(self.opt_outs)) + len(self.others)

    def gifts(self, names: Mapping[str, str]) -> list[str]:
        """What the kept contact gets, in words."""
        parts: list[str] = []
        if self.properties:
            parts.append("copy " + ", ".join(sorted(self.properties)))
        parts.extend(f"add to {names.get(s, s)!r}" for s in self.join)
        parts.extend(f"opt out of {names.get(t, t)!r}" for t in self.opt_outs)
        if self.unsubscribe:
            parts.append("unsubscribe")
        return parts

    def describe(self, names: Mapping[str, str]) -> str:
        parts = self.gifts(names)
        gives = f" ({', '.join(parts)})" if parts else ""
        return (
            f"merge {counted(len(self.others) + 1, 'contact')} into "
            f"{shown(self.keep.contact.email)}{gives}, then delete "
            + ", ".join(shown(m.contact.email) for m in self.others)
        )


def plan_merge(keep: Member, others: Sequence[Member]) -> MergePlan:
    """What the kept contact gets from the others (see the module doc); `others` oldest
    first, so the oldest value of a property missing on the kept contact is the one taken."""
    plan = MergePlan(keep, list(others))
    held = dict(keep.contact.properties or {})
    for other in others:
        for key, value in (other.contact.properties or {}).items():
            if value in (None, ""):
                continue
            if held.get(key) in (None, "") and key not in plan.properties:
                plan.properties[key] = value
            elif held.get(key) not in (None, "") and held[key] != value:
                plan.conflicts.append(
                    f"{key}: keeps {_short(held[key])} ({shown(other.contact.email)} has "
                    f"{_short(value)})"
                )
        plan.join += [s for s in other.segments if s not in keep.segments and s not in plan.join]
        for topic, choice in other.topics.items():
            if choice == "opt_out" and keep.topics.get(topic) != "opt_out":
                plan.opt_outs[topic] = "opt_out"
        if other.contact.unsubscribed and not keep.contact.unsubscribed:
            plan.unsubscribe = True
    return plan


def _short(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 30 else text[:29] + "…")


async def read_members(
    client: ResendClient,
    sets: ContactsSets,
    ids: Sequence[str],
    progress: Progress,
    *,
    gone_ok: bool = False,
) -> list[Member]:
    """Each contact read afresh (three requests: the contact, its segments, its topic
    choices), into the mirror; a contact not found is refused, naming it, unless
    `gone_ok` (a merge resumed after a restart finds those it deleted gone)."""
    found: dict[str, Member] = {}
    problems: list[str] = []

    async def read(contact_id: str) -> None:
        read_at = time.time()
        try:
            contact = await patiently(partial(client.get_contact, contact_id))
            segments = await patiently(partial(client.list_contact_segments, contact_id))
            topics = await patiently(partial(client.list_contact_topics, contact_id))
        except NotFoundError:
            sets.mirror.remove(contact_id)
            if not gone_ok:
                problems.append(f"contact {contact_id} no longer exists")
            return
        except ResendError as exc:
            problems.append(f"could not read contact {contact_id}: {explain(exc)}")
            return
        record = read_record(contact, read_at)
        sets.mirror.upsert(record, changed=False, at=read_at)
        sets.mirror.set_memberships(contact.id, [s.id for s in segments], at=read_at)
        found[contact_id] = Member(
            record, sorted(s.id for s in segments), {t.id: t.subscription for t in topics}
        )

    await each(ids, read, progress, "reading the contacts to merge")
    if problems:
        raise UserFacingError(
            f"Nothing was merged: {problems[0]}. Search the duplicates again and merge what "
            "is there now."
        )
    return [found[contact_id] for contact_id in ids if contact_id in found]


async def merge(
    client: ResendClient,
    sets: ContactsSets,
    members: Sequence[Member],
    keep_id: str,
    names: Mapping[str, str],
    files: tuple[Path, Path, Path],
    progress: Progress,
    *,
    written: WrittenFiles | None,
) -> BulkOutcome:
    """Merge `members` (read afresh) into the one with `keep_id`: journal it, give it what
    the others hold, snapshot the others, delete them. `files`: the journal, the snapshot
    and the failures report. Nothing is deleted unless the kept contact took everything."""
    journal, snapshot, failures_path = files
    started, sent_before = time.monotonic(), client.requests_sent
    keep = next((m for m in members if m.contact.id == keep_id), None)
    if keep is None:
        raise UserFacingError(
            f"Nothing was merged: the contact to keep ({keep_id}) no longer exists. Search "
            "the duplicates again and merge what is there now."
        )
    others = [m for m in members if m.contact.id != keep_id]
    others.sort(key=lambda m: (m.contact.created_at, m.contact.id))
    plan = plan_merge(keep, others)
    change, contact_plan = plan.change()
    notes = [f"Kept {shown(keep.contact.email)}; its own values win: " + "; ".join(plan.conflicts)]
    notes = notes if plan.conflicts else [f"Kept {shown(keep.contact.email)}."]
    if contact_plan.requests:
        before = facts_now(keep.contact, keep.segments, keep.topics, plan.after)
        record = Recorded(keep.contact.email, keep.contact.id, before, plan.after)
        await anyio.to_thread.run_sync(write_journal, journal, [record], written)
        reason = await apply_plan(client, sets, contact_plan, change, keep.topics)
        if reason not in (None, "unchanged"):
            raise UserFacingError(
                f"Nothing was deleted: {shown(keep.contact.email)} could not take what the "
                f"others hold ({reason}). Try the merge again in a minute."
            )
    if not others:  # a run taken up again after it deleted them all
        return BulkOutcome(
            action="merge",
            selected=len(members),
            done=0,
            requests=client.requests_sent - sent_before,
            seconds=round(time.monotonic() - started, 2),
            notes=[*notes, "The others were deleted already, by an earlier run of this merge."],
        )
    topic_names = {t: names.get(t, t) for m in others for t in m.topics}
    keys = sorted({k for m in others for k in m.contact.properties or {}})
    private_folder(snapshot.parent)
    try:
        await anyio.to_thread.run_sync(
            lambda: write_contacts_csv(
                snapshot,
                [(m.contact, m.segments) for m in others],
                keys,
                names,
                overwrite=False,
                written=written,
                kind="snapshot",
                topics={
                    m.contact.id: {topic_names[t]: c for t, c in m.topics.items()} for m in others
                },
            )
        )
    except UnwritableValueError as exc:
        raise UserFacingError(
            f"{exc.problem}: its snapshot cannot hold it, so nothing was deleted "
            f"({shown(keep.contact.email)} may have taken its values already). {exc.fix}"
        ) from None
    failures: list[tuple[str, str]] = []
    deleted = 0

    async def delete(member: Member) -> None:
        nonlocal deleted
        reason = await attempts(partial(client.delete_contact, member.contact.id))
        if reason is not None and reason != "gone":
            failures.append((member.contact.email, reason))
            return
        deleted += 1
        sets.mirror.remove(member.contact.id)

    await each(others, delete, progress, "deleted")
    return BulkOutcome(
        action="merge",
        selected=len(members),
        done=deleted,
        failed=len(failures),
        requests=client.requests_sent - sent_before,
        seconds=round(time.monotonic() - started, 2),
        snapshot_file=str(snapshot),
        failures_file=write_failures(failures_path, failures),
        notes=[
            *notes,
            f"Gave it: {', '.join(plan.gifts(names))}."
            if contact_plan.requests
            else "It already held everything the others did.",
        ],
    )
