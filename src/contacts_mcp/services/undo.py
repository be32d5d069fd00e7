"""Undo of a bulk run: what it changed, put back contact by contact as it was before.

An update's undo reads the run's journal (`services.before_state`) and compares each
contact afresh with it, fact by fact:

- as it was before: nothing to do;
- as the run left it: put back;
- anything else: it changed again after the run, so the whole contact is left alone and
  listed (never overwritten);
- putting back would opt someone in (unsubscribed → subscribed, a topic opt-out → opt-in):
  never done by an undo, since nothing the API shows tells whether the person
  unsubscribed themselves after the run. That fact is left as it is, and listed.

An undo journals what it puts back in the same way, so an undo can be undone too.

A delete's undo re-creates each deleted contact from the run's snapshot (fields,
property values, segments and topic choices) with the import's row-by-row strategy and
`on_conflict="skip"`: an address that exists again at Resend (created again since) is
left alone and listed. A contact comes back with a new id and creation date; Resend's
history of the old one (emails sent, opens) stays with the old id.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import anyio

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.models import Subscription
from contacts_mcp.services import datafolder
from contacts_mcp.services.before_state import (
    Facts,
    Recorded,
    facts_now,
    same_value,
    write_journal,
)
from contacts_mcp.services.bulk import (
    BUILT_IN_COLUMNS,
    SAMPLE,
    BulkOutcome,
    Selected,
    delete_selected,
    write_failures,
)
from contacts_mcp.services.bulk_change import Change, ContactPlan, apply_plan, topic_choices
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.jobs import Progress
from contacts_mcp.services.mirror import MirroredContact
from contacts_mcp.services.outfiles import OutFile, WrittenFiles
from contacts_mcp.services.private import private_folder
from contacts_mcp.services.recheck import Needs, each, observe
from contacts_mcp.services.sets import ContactsSets
from contacts_mcp.text.caps import shown
from contacts_mcp.text.cells import segment_names_of, segments_cell, topic_choices_of, topics_cell
from contacts_mcp.text.sanitize import formula_safe, formula_unescaped
from contacts_mcp.text.words import counted

__all__ = [
    "CANNOT_COME_BACK",
    "Restore",
    "RestoreFile",
    "UndoPlan",
    "needs_of",
    "plan_restore",
    "plan_undo",
    "restore_file",
    "snapshot_rows",
    "snapshots_of",
    "undo_update",
]

CANNOT_COME_BACK = (
    "A restored contact gets a new id and creation date; Resend's history of the deleted "
    "one (emails sent to it, opens, clicks) stays with the old id and does not come back."
)


@dataclass(frozen=True)
class Restore:
    """What undoing a run does to one contact."""

    record: Recorded
    put_back: Facts = field(default_factory=Facts)
    """The facts written back (each as it was before the run)."""
    now: Facts = field(default_factory=Facts)
    """Those facts as they are now (for the undo's own journal)."""
    kept: list[str] = field(default_factory=list[str])
    """Facts left as they are because putting them back would opt the person in."""
    changed: str | None = None
    """Why the contact is left alone: changed again after the run."""
    delete: bool = False
    """The run created it, and it is still as the run left it: deleted (with a snapshot)."""


def plan_restore(
    record: Recorded, now: Facts, names: Mapping[str, str], *, resubscribe: bool = False
) -> Restore:
    """What undoing the run does to this contact, given what it holds now (`names`:
    segment and topic ids → names, for what is said). An unsubscribe or opt-out the run
    made is put back only with `resubscribe`: the person's word that nobody unsubscribed
    themselves since."""
    put_back: dict[str, Any] = {"names": {}, "properties": {}, "segments": {}, "topics": {}}
    was: dict[str, Any] = {"names": {}, "properties": {}, "segments": {}, "topics": {}}
    kept: list[str] = []
    before, after = record.before, record.after

    def changed(what: str, value: object) -> Restore:
        return Restore(record, changed=_changed_since(what, value))

    if not before.exists:
        differs = _differs(now, after, names)
        return Restore(record, delete=True) if differs is None else changed(*differs)

    if before.unsubscribed is not None and now.unsubscribed not in (None, before.unsubscribed):
        if now.unsubscribed != after.unsubscribed:
            return changed("unsubscribed", now.unsubscribed)
        if before.unsubscribed is False and not resubscribe:
            kept.append("stays unsubscribed (an undo never opts anyone back in)")
        else:
            put_back["unsubscribed"], was["unsubscribed"] = before.unsubscribed, now.unsubscribed
    for kind, held in (("names", before.names), ("properties", before.properties)):
        for key, value in held.items():
            current = getattr(now, kind).get(key)
            if same_value(current, value):
                continue
            if not same_value(current, getattr(after, kind).get(key)):
                return changed(key, current)
            put_back[kind][key], was[kind][key] = value, current
    for segment, member in before.segments.items():
        current = now.segments.get(segment, member)
        if current == member:
            continue
        if current != after.segments.get(segment, current):
            return changed(f"membership of {names.get(segment, segment)}", current)
        put_back["segments"][segment], was["segments"][segment] = member, current
    for topic, choice in before.topics.items():
        current = now.topics.get(topic, choice)
        if current == choice:
            continue
        if current != after.topics.get(topic, current):
            return changed(f"topic {names.get(topic, topic)}", current)
        if choice == "opt_in" and not resubscribe:
            kept.append(f"stays opted out of {names.get(topic, topic)} (never opted back in)")
            continue
        put_back["topics"][topic], was["topics"][topic] = choice, current
    return Restore(record, put_back=Facts.from_json(put_back), now=Facts.from_json(was), kept=kept)


def _changed_since(what: str, value: object) -> str:
    return f"{what} changed since the run (now {_spoken(value)})"


def _differs(now: Facts, after: Facts, names: Mapping[str, str]) -> tuple[str, object] | None:
    """The first fact of `after` that `now` no longer holds (what, and its value now)."""
    if after.unsubscribed is not None and now.unsubscribed != after.unsubscribed:
        return "unsubscribed", now.unsubscribed
    for kind, held in (("names", after.names), ("properties", after.properties)):
        for key, value in held.items():
            if not same_value(getattr(now, kind).get(key), value):
                return key, getattr(now, kind).get(key)
    for segment, member in after.segments.items():
        if now.segments.get(segment, member) != member:
            return f"membership of {names.get(segment, segment)}", not member
    for topic, choice in after.topics.items():
        if now.topics.get(topic, choice) != choice:
            return f"topic {names.get(topic, topic)}", now.topics.get(topic)
    return None


def _spoken(value: object) -> str:
    if value is None or value == "":
        return "no value"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def needs_of(records: Sequence[Recorded]) -> tuple[Needs, bool]:
    """What an undo of these records observes afresh first, and whether it reads each
    contact's topic choices."""
    facts = [_compared(r) for r in records]
    segments = frozenset(s for f in facts for s in f.segments)
    fields = any(f.unsubscribed is not None or f.names for f in facts)
    values = any(f.properties for f in facts)
    return Needs(segments=segments, fields=fields, values=values), any(f.topics for f in facts)


def _compared(record: Recorded) -> Facts:
    """The facts an undo reads of this contact now: those it would put back, or for a
    contact the run created, everything the run wrote (any change since leaves it)."""
    return record.before if record.before.exists else record.after


@dataclass
class UndoPlan:
    """An update's undo, contact by contact, on what is known of each now."""

    restores: list[Restore]
    gone: list[Recorded]
    """Deleted from Resend since the run."""

    @property
    def to_change(self) -> list[Restore]:
        return [r for r in self.restores if r.changed is None and r.put_back]

    @property
    def to_delete(self) -> list[Restore]:
        """Contacts the run created, still as it left them."""
        return [r for r in self.restores if r.delete]

    @property
    def changed(self) -> list[Restore]:
        return [r for r in self.restores if r.changed is not None]

    @property
    def kept(self) -> list[Restore]:
        return [r for r in self.restores if r.kept and r.changed is None]

    @property
    def already(self) -> int:
        return sum(
            1
            for r in self.restores
            if r.changed is None and not r.put_back and not r.kept and not r.delete
        )

    def requests(self) -> int:
        """The writes it needs (the reads are counted apart), and a delete each."""
        return sum(_writes(r.put_back) for r in self.to_change) + len(self.to_delete)


def _writes(facts: Facts) -> int:
    fields = facts.unsubscribed is not None or bool(facts.properties or facts.names)
    return int(fields) + len(facts.segments) + int(bool(facts.topics))


def plan_undo(
    records: Sequence[Recorded],
    held: Sequence[tuple[MirroredContact, list[str]]],
    topics: Mapping[str, Mapping[str, Subscription]] | None,
    names: Mapping[str, str],
    *,
    resubscribe: bool = False,
) -> UndoPlan:
    """The undo of these records given the contacts as `held` now (with their segment
    ids) and, where read, their topic choices. A fact not known (property values the
    mirror never read, topic choices not read) is taken as the run left it: the run
    reads it afresh before it writes."""
    by_id = {contact.id: (contact, segments) for contact, segments in held}
    restores: list[Restore] = []
    gone: list[Recorded] = []
    for record in records:
        found = by_id.get(record.id)
        if found is None:
            gone.append(record)
            continue
        contact, segments = found
        now = facts_now(
            contact,
            segments,
            (topics or {}).get(record.id, record.after.topics),
            _compared(record),
        )
        if contact.properties is None:  # not known: as the run left them, until read
            now = replace(now, properties=record.after.properties)
        restores.append(plan_restore(record, now, names, resubscribe=resubscribe))
    return UndoPlan(restores, gone)


async def undo_update(
    client: ResendClient,
    sets: ContactsSets,
    selected: Selected,
    records: Sequence[Recorded],
    names: Mapping[str, str],
    journal: Path,
    failures_path: Path,
    progress: Progress,
    *,
    written: WrittenFiles | None,
    resubscribe: bool = False,
    snapshot: Path,
) -> BulkOutcome:
    """Put back what an update run changed (`records`, its journal) on each contact that
    is still as the run left it, and delete each contact it created that is still as it
    left it (after a snapshot of them to `snapshot`); `selected` holds those contacts as
    the mirror holds them (those deleted since are missing)."""
    started, sent_before = time.monotonic(), client.requests_sent
    # The contacts the run created are read once, by the delete's snapshot, and checked
    # on that read (`_delete_created`); the others are read here.
    created = {r.id: r for r in records if not r.before.exists}
    changes = [r for r in records if r.before.exists]
    items: list[tuple[MirroredContact, list[str]]] = []
    failures: list[tuple[str, str]] = []
    choices: dict[str, dict[str, Subscription]] = {}
    needs, read_topics = needs_of(changes)
    if changes:
        ours = [item for item in selected.contacts if item[0].id not in created]
        items, observed = await observe(client, sets, ours, needs, progress)
        failures += [(email, f"could not re-check it: {why}") for email, why in observed.unreadable]
    if read_topics:
        choices, unread = await topic_choices(client, [c for c, _ in items], progress)
        failures += unread
        items = [item for item in items if item[0].id in choices]
    unreadable = {email for email, _ in failures}
    readable = [r for r in changes if r.email not in unreadable]
    plan = plan_undo(
        readable, items, choices if read_topics else None, names, resubscribe=resubscribe
    )
    # The undo's own journal: so the undo can be undone.
    to_change = plan.to_change
    if to_change:
        records_now = [Recorded(r.record.email, r.record.id, r.now, r.put_back) for r in to_change]
        await anyio.to_thread.run_sync(write_journal, journal, records_now, written)
    by_id = {contact.id: (contact, segments) for contact, segments in items}
    counts = {"done": 0}

    async def one(restore: Restore) -> None:
        contact, segments = by_id[restore.record.id]
        change, contact_plan = _as_change(contact, segments, restore.put_back)
        outcome = await apply_plan(client, sets, contact_plan, change, choices.get(contact.id))
        if outcome is None or outcome == "unchanged":
            counts["done"] += 1
        else:
            failures.append((contact.email, outcome))

    await each(to_change, one, progress, "put back")
    left: list[tuple[str, str]] = []
    deleted = await _delete_created(client, sets, selected, created, names, snapshot, progress,
                                    left, written=written)  # fmt: skip
    held = {contact.id for contact, _ in selected.contacts}
    gone = [r.email for r in plan.gone]
    gone += [r.email for r in created.values() if r.id not in held]
    changed = [(r.record.email, r.changed or "") for r in plan.changed] + left
    failures += [(email, f"left alone: {why}") for email, why in changed]
    failures += [(r.record.email, "; ".join(r.kept)) for r in plan.kept]
    failures += [(email, "deleted from Resend since the run") for email in gone]
    notes = [
        f"{counted(len(changed), 'contact')} changed again after the run: left alone, "
        "never overwritten."
    ] if changed else []  # fmt: skip
    if deleted is not None:
        counts["done"] += deleted.done
        if deleted.done:
            notes.append(
                f"{counted(deleted.done, 'contact')} the run created deleted again, each in "
                "the snapshot first (snapshot_file): an undo of this undo restores them."
            )
        if deleted.failed:
            notes.append(
                f"{_could_not_delete(deleted.failed)}; each with the reason: "
                f"{deleted.failures_file}"
            )
    if plan.kept:
        notes.append(
            f"{counted(len(plan.kept), 'contact')} stay unsubscribed (or opted out) where "
            "the run had unsubscribed them: an undo never opts anyone back in, since "
            "Resend cannot show whether they unsubscribed themselves since. If none did, "
            "undo again with resubscribe=true."
        )
    return BulkOutcome(
        action="undo",
        selected=len(records),
        done=counts["done"],
        unchanged=plan.already,
        refused=len(plan.kept),
        changed_since=len(changed),
        changed_since_sample=[f"{shown(email)}: {why}" for email, why in changed[:SAMPLE]],
        failed=len(failures)
        - len(changed)
        - len(plan.kept)
        - len(gone)
        + (0 if deleted is None else deleted.failed),
        gone=len(gone) + (0 if deleted is None else deleted.unchanged),
        snapshot_file=None if deleted is None or not deleted.done else deleted.snapshot_file,
        requests=client.requests_sent - sent_before,
        seconds=round(time.monotonic() - started, 2),
        failures_file=write_failures(failures_path, failures),
        notes=notes,
    )


async def _delete_created(
    client: ResendClient,
    sets: ContactsSets,
    selected: Selected,
    created: Mapping[str, Recorded],
    names: Mapping[str, str],
    snapshot: Path,
    progress: Progress,
    left: list[tuple[str, str]],
    *,
    written: WrittenFiles | None,
) -> BulkOutcome | None:
    """Delete the contacts a run created, as a bulk delete does: each read afresh into a
    snapshot first (so this undo can be undone), but one that changed since the run is
    left alone, and added to `left` with what changed."""
    mine = [item for item in selected.contacts if item[0].id in created]
    if not mine:
        return None
    topic_ids = {name: topic_id for topic_id, name in names.items()}

    def changed(
        contact: MirroredContact, segments: list[str], topics: Mapping[str, str] | None
    ) -> str | None:
        after = created[contact.id].after
        chosen = {
            topic_ids[name]: choice
            for name, choice in (topics or {}).items()
            if name in topic_ids and choice in ("opt_in", "opt_out")
        }
        now = facts_now(contact, segments, cast(dict[str, Subscription], chosen), after)
        differs = _differs(now, after, names)
        if differs is None:
            return None
        left.append((contact.email, _changed_since(*differs)))
        return left[-1][1]

    return await delete_selected(
        client, sets, Selected(mine, []), snapshot, progress, written=written, unless=changed
    )


def _could_not_delete(count: int) -> str:
    return f"{counted(count, 'contact')} the run created could not be deleted"


def _as_change(
    contact: MirroredContact, segments: list[str], put_back: Facts
) -> tuple[Change, ContactPlan]:
    """Putting back one contact's facts, as a change to that contact alone."""
    change = Change(
        unsubscribed=put_back.unsubscribed,
        properties=dict(put_back.properties),
        join=tuple(s for s, member in put_back.segments.items() if member),
        leave=tuple(s for s, member in put_back.segments.items() if not member),
        topics=dict(put_back.topics),
        resubscribe=True,  # an opt-in here is one the plan allowed (`plan_restore`)
    )
    fields: dict[str, Any] = {}
    if put_back.unsubscribed is not None:
        fields["unsubscribed"] = put_back.unsubscribed
    if put_back.properties:
        fields["properties"] = dict(put_back.properties)
    fields.update(put_back.names)
    plan = ContactPlan(
        contact=contact,
        segments=segments,
        fields=fields,
        join=list(change.join),
        leave=list(change.leave),
        write_topics=bool(change.topics),
        check_topics=bool(change.topics),
    )
    return change, plan


# -- a delete's undo ----------------------------------------------------------------------


def snapshot_rows(paths: Sequence[Path]) -> tuple[list[str], dict[str, list[str]]]:
    """The header and rows (by address, lower case) of a delete's snapshots, the newest
    row of each address winning: a run resumed after a restart snapshots what it still
    had to delete, read afresh."""
    header: list[str] = []
    rows: dict[str, list[str]] = {}
    for path in paths:
        try:
            handle = path.open(encoding="utf-8", newline="")
        except OSError as exc:
            raise UserFacingError(
                f"The run's snapshot ({path.name}) cannot be read ({exc.strerror}): nothing "
                "was changed."
            ) from None
        with handle:
            reader = csv.reader(handle)
            head = next(reader, None)
            if head is None or head[:1] != ["email"]:
                raise UserFacingError(
                    f"{path.name} is not a snapshot of deleted contacts: nothing was changed."
                )
            for column in head:
                if column not in header:
                    header.append(column)
            for row in reader:
                if not row or not row[0].strip():
                    continue  # an erasure removed the person's row, or a blank line
                cells = dict(zip(head, row, strict=False))
                rows[formula_unescaped(row[0]).strip().lower()] = [
                    cells.get(column, "") for column in header
                ]
    width = len(header)
    return header, {email: row + [""] * (width - len(row)) for email, row in rows.items()}


@dataclass(frozen=True)
class RestoreFile:
    """What a delete's undo imports: the snapshot's rows, cut to what exists now."""

    path: Path
    columns: dict[str, str]
    rows: int
    dropped: list[str]
    """What the account no longer has, left out (a segment, a topic, a property)."""


def restore_file(
    paths: Sequence[Path],
    out: Path,
    *,
    segments: set[str],
    topics: set[str],
    properties: set[str],
    written: WrittenFiles | None,
) -> RestoreFile:
    """Write `out`: the snapshots' rows, with the segments, topics and property columns
    the account no longer has left out (an address that exists again is left alone by
    the import that reads it, `on_conflict="skip"`)."""
    header, rows = snapshot_rows(paths)
    kept = [c for c in header if c in BUILT_IN_COLUMNS or c in ("segments", "topics")]
    kept += [c for c in header if c not in kept and c in properties]
    dropped = [f"property {c}" for c in header if c not in kept]
    lost: set[str] = set()
    private_folder(out.parent)
    file = OutFile(out, kind="snapshot", replace=False, written=written)
    count = 0
    try:
        writer = csv.writer(file.text(), lineterminator="\r\n")
        writer.writerow(kept)
        for row in rows.values():
            cells = dict(zip(header, row, strict=True))
            if "segments" in cells:
                names = segment_names_of(formula_unescaped(cells["segments"]))
                lost.update(f"segment {n}" for n in names if n not in segments)
                cells["segments"] = formula_safe(segments_cell(n for n in names if n in segments))
            if "topics" in cells:
                try:
                    choices = topic_choices_of(formula_unescaped(cells["topics"]))
                except ValueError:
                    choices = {}
                lost.update(f"topic {n}" for n in choices if n not in topics)
                cells["topics"] = formula_safe(
                    topics_cell({n: c for n, c in choices.items() if n in topics})
                )
            writer.writerow([cells[c] for c in kept])
            count += 1
    except BaseException:
        file.abandon()
        raise
    file.publish(count)
    return RestoreFile(out, {c: c for c in kept}, count, [*dropped, *sorted(lost)])


def snapshots_of(snapshots: Path, nonce: str) -> list[Path]:
    """The snapshots of what a run (by its nonce) deleted, oldest first: a delete's, or
    a merge's of the contacts it merged away."""
    return [
        path
        for kind in ("deleted", "merged")
        for path in datafolder.files(snapshots, f"{kind}-*-{nonce}.csv")
        if not datafolder.is_failures(path)
    ]
