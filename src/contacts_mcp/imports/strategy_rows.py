"""Row-by-row import: one contact at a time through the client, paced and resumable.

Requests per row stay close to one: a single paged scan learns which emails already
exist (100 contacts per request), then a new contact is one `POST /contacts` carrying
its properties, segments and topics; an existing one is read, then a `PATCH` of what
differs (plus one request per segment to join), or nothing at all with
`on_conflict="skip"`. Every operation is idempotent — a lost response to a create is
retried and Resend answers with the same contact — so re-running after a crash or
cancel creates no duplicates.

Consent: an existing contact who unsubscribed stays unsubscribed, and existing contacts
are never opted in to topics; only new contacts get the file's opt-ins.

The read of an existing contact (its fields and values, and its segments or topic
choices when the row changes them) is its true state at write time: the consent rule
holds on it, only what differs is written, and with a journal (`ImportPlan.before`, for
an undo) what it was is on disk first. Each contact created is journaled as created.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from anyio.abc import ObjectReceiveStream

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import (
    AuthenticationError,
    QuotaExceededError,
    RateLimitError,
    ResendError,
    ServerError,
    TransportError,
)
from contacts_mcp.api.models import Subscription
from contacts_mcp.imports.journal import Outcome, email_key
from contacts_mcp.imports.plan import ImportPlan, ImportSummary, scan_existing, split_segments
from contacts_mcp.imports.preview import FirstSeen, MappedRow, iter_mapped_rows
from contacts_mcp.services.before_state import NAMES, Facts, Recorded, same_value
from contacts_mcp.services.explain import UserFacingError, explain
from contacts_mcp.text.cells import topic_choices_of
from contacts_mcp.text.sanitize import clean
from contacts_mcp.text.words import counted

__all__ = ["run_rows"]

PROGRESS_INTERVAL = 0.5
_TRANSIENT = (TransportError, ServerError, RateLimitError)
_FATAL = (AuthenticationError, QuotaExceededError)


@dataclass(frozen=True)
class _Job:
    row: MappedRow
    action: Literal["create", "update"]
    contact_id: str | None = None


class _StopImportError(Exception):
    """Ends the import early; the message says why and that it can resume."""


async def run_rows(client: ResendClient, plan: ImportPlan) -> ImportSummary:
    """Import `plan` row by row; the journal makes a re-run continue where this one ended."""
    started = time.monotonic()
    requests_before = client.requests_sent
    journal = plan.journal
    await plan.progress(0, plan.total_rows, "looking up existing contacts")
    if plan.mirror is not None and not plan.dry_run:
        plan.mirror.begin_import()
    scanned = await scan_existing(client, journal)
    plan.notes.insert(0, f"{counted(scanned, 'contact')} existed before this run.")
    # A resumed import trusts only rows whose contact is really there now.
    redo = journal.forget_missing()
    if redo:
        plan.notes.append(
            f"{counted(redo, 'row')} recorded by an earlier run done again: their contacts "
            "no longer exist."
        )
    done_before = journal.done_rows()
    processed = len(done_before)
    transient_failures = 0
    consecutive_transient = 0
    last_progress = 0.0

    async def progress(force: bool = False) -> None:
        nonlocal last_progress
        now = time.monotonic()
        if force or now - last_progress >= PROGRESS_INTERVAL:
            last_progress = now
            await plan.progress(processed, plan.total_rows, f"{processed}/{plan.total_rows} rows")

    def finish(row: int, outcome: Outcome, email: str | None, detail: str | None = None) -> None:
        nonlocal processed
        processed += 1
        journal.record(row, outcome, email, detail)

    async def perform(job: _Job) -> None:
        nonlocal consecutive_transient, transient_failures, processed
        email = job.row.email or ""
        for attempt in range(plan.settings.row_attempts):
            try:
                outcome = await _apply(client, plan, job)
            except _FATAL as exc:
                raise _StopImportError(str(explain(exc))) from None
            except _TRANSIENT as exc:
                if attempt + 1 < plan.settings.row_attempts:
                    await anyio.sleep(2.0**attempt)
                    continue
                consecutive_transient += 1
                transient_failures += 1
                processed += 1
                # Not journaled as done, so running the import again retries this row.
                plan.notes.append(
                    f"Row {job.row.row} ({email}): Resend kept failing "
                    f"({clean(str(explain(exc)), 100)}); run the import again to retry it."
                )
                if consecutive_transient >= plan.settings.circuit_breaker:
                    raise _StopImportError(
                        f"Resend failed {consecutive_transient} rows in a row."
                    ) from None
                return
            except ResendError as exc:
                consecutive_transient = 0
                reason = f"Resend refused it: {clean(str(explain(exc)), 160)}"
                finish(job.row.row, "failed", email, reason)
                return
            consecutive_transient = 0
            finish(job.row.row, outcome, email)
            return

    async def worker(jobs: ObjectReceiveStream[_Job]) -> None:
        async with jobs:
            async for job in jobs:
                await perform(job)
                await progress()

    stopped: str | None = None
    try:
        send, receive = anyio.create_memory_object_stream[_Job](plan.settings.row_concurrency * 2)
        async with anyio.create_task_group() as tg:
            for _ in range(plan.settings.row_concurrency):
                tg.start_soon(worker, receive.clone())
            receive.close()
            first_seen = FirstSeen()
            async with send:
                for mapped in _rows(plan):
                    # Every row counts for "first occurrence wins", done or not.
                    first = _first_row(first_seen, mapped)
                    if mapped.row in done_before:
                        continue
                    job = _classify(plan, mapped, first, finish)
                    if job is None:
                        continue
                    if plan.dry_run:
                        outcome: Outcome = "created" if job.action == "create" else "updated"
                        finish(mapped.row, outcome, mapped.email, "dry run")
                        continue
                    await send.send(job)
                    await progress()
    except* _StopImportError as group:
        stopped = str(group.exceptions[0])
    finally:
        # Also on cancellation: what finished stays finished (flushing does not await).
        journal.flush()
    if stopped is not None:
        raise UserFacingError(
            f"{stopped} Stopped after {processed} of {counted(plan.total_rows, 'row')}; what "
            "was done is "
            "saved. Run the same import again to continue where it stopped."
        )
    await progress(force=True)
    counts = journal.counts()
    return ImportSummary(
        strategy="rows",
        dry_run=plan.dry_run,
        rows=plan.total_rows,
        created=counts.get("created", 0),
        updated=counts.get("updated", 0),
        skipped=counts.get("skipped", 0),
        failed=counts.get("failed", 0) + transient_failures,
        duplicates=counts.get("duplicate", 0),
        resumed_rows=len(done_before),
        requests=client.requests_sent - requests_before,
        seconds=round(time.monotonic() - started, 3),
        notes=plan.notes,
    )


def _rows(plan: ImportPlan) -> Any:
    with plan.source.table(plan.settings.files) as table:
        yield from iter_mapped_rows(table, plan.columns, plan.property_types)


def _first_row(first_seen: FirstSeen, mapped: MappedRow) -> int:
    """The first row of this row's email (its own number when it is the first)."""
    if mapped.problem is not None or mapped.email is None:
        return mapped.row
    return first_seen.add(email_key(mapped.email), mapped.row) or mapped.row


def _classify(plan: ImportPlan, mapped: MappedRow, first: int, finish: Any) -> _Job | None:
    """What to do with a row; rows that need no request are finished here."""
    if mapped.problem is not None or mapped.email is None:
        finish(mapped.row, "failed", mapped.email, mapped.problem or "no email address")
        return None
    if first != mapped.row:
        finish(
            mapped.row, "duplicate", mapped.email, f"same email as row {first}; row {first} wins"
        )
        return None
    existing = plan.journal.existing(mapped.email)
    if existing is None:
        return _Job(mapped, "create")
    if plan.journal.created_here(mapped.email):
        # An earlier run created it and stopped before writing the row down: the create
        # carried the whole row, so the row is done, and it is a creation.
        if plan.before is not None and not plan.dry_run:  # journaled again: harmless
            fields, segment_ids, topics = _targets(plan, mapped)
            unsubscribed = fields.get("unsubscribed") is True
            plan.before.add(_created(mapped, existing.id, unsubscribed, segment_ids, topics))
        finish(mapped.row, "created", mapped.email, "created by an earlier run")
        return None
    if plan.on_conflict == "skip":
        finish(mapped.row, "skipped", mapped.email, "already exists (on_conflict=skip)")
        return None
    return _Job(mapped, "update", existing.id)


async def _apply(client: ResendClient, plan: ImportPlan, job: _Job) -> Outcome:
    row = job.row
    assert row.email is not None
    fields, segment_ids, topics = _targets(plan, row)
    if job.action == "create":
        unsubscribed = fields.get("unsubscribed") is True
        plan.journal.will_create(row.email)
        created = await client.create_contact(
            row.email,
            first_name=_text(fields.get("first_name")),
            last_name=_text(fields.get("last_name")),
            unsubscribed=True if unsubscribed else None,
            properties=row.properties,
            segments=segment_ids,
            topics=topics,
        )
        plan.journal.mark_existing(row.email, created.id, unsubscribed)
        if plan.before is not None:
            plan.before.add(_created(row, created.id, unsubscribed, segment_ids, topics))
        if plan.mirror is not None:
            # Resend answers a create with the id alone: the contact reaches the mirror
            # from the next list page, and takes these from the import then.
            plan.mirror.expect_created(row.email, created.id, segment_ids, row.properties)
        return "created"
    return await _update(client, plan, job, fields, segment_ids, topics)


def _created(
    row: MappedRow,
    contact_id: str,
    unsubscribed: bool,
    segment_ids: list[str],
    topics: dict[str, Subscription],
) -> Recorded:
    """A contact this import created, as the create left it (its undo deletes it)."""
    assert row.email is not None
    after = Facts(
        unsubscribed=unsubscribed,
        names={name: _text(row.fields.get(name)) for name in NAMES},
        properties=dict(row.properties),
        segments=dict.fromkeys(segment_ids, True),
        topics=topics,
    )
    return Recorded(row.email, contact_id, Facts(exists=False), after)


async def _update(
    client: ResendClient,
    plan: ImportPlan,
    job: _Job,
    fields: dict[str, Any],
    segment_ids: list[str],
    topics: dict[str, Subscription],
) -> Outcome:
    """Update an existing contact with what differs from it now, read first; what it was
    is journaled (when the import keeps a journal) before the first write."""
    row, contact_id = job.row, job.contact_id
    assert row.email is not None
    assert contact_id is not None
    now = await client.get_contact(contact_id)
    before: dict[str, Any] = {"names": {}, "properties": {}, "segments": {}, "topics": {}}
    after: dict[str, Any] = {"names": {}, "properties": {}, "segments": {}, "topics": {}}
    changes: dict[str, Any] = {}
    for name in NAMES:
        wanted, held = fields.get(name), getattr(now, name) or None
        if wanted is not None and not same_value(held, wanted):
            before["names"][name] = held
            changes[name] = after["names"][name] = wanted
    wanted_unsubscribed = fields.get("unsubscribed")
    if (
        isinstance(wanted_unsubscribed, bool)
        and wanted_unsubscribed != now.unsubscribed
        and not (now.unsubscribed and wanted_unsubscribed is False)  # never re-subscribed
    ):
        before["unsubscribed"], after["unsubscribed"] = now.unsubscribed, wanted_unsubscribed
        changes["unsubscribed"] = wanted_unsubscribed
    values: dict[str, Any] = {}
    for key, value in row.properties.items():
        held_value = now.properties[key].value if key in now.properties else None
        if not same_value(held_value, value):
            before["properties"][key], after["properties"][key] = held_value, value
            values[key] = value
    if values:
        changes["properties"] = values
    join: list[str] = []
    if segment_ids:
        member = {s.id for s in await client.list_contact_segments(contact_id)}
        join = [s for s in segment_ids if s not in member]
        before["segments"] = dict.fromkeys(join, False)
        after["segments"] = dict.fromkeys(join, True)
    # Existing contacts keep their own topic choices: only opt-outs are applied.
    opt_outs: dict[str, Subscription] = {t: sub for t, sub in topics.items() if sub == "opt_out"}
    if opt_outs:
        held_topics = {t.id: t.subscription for t in await client.list_contact_topics(contact_id)}
        defaults = await _topic_defaults(client, plan)
        # A choice never made is the topic's default: opted out already if that is opt_out.
        held_topics = {t: held_topics.get(t, defaults.get(t, "opt_in")) for t in opt_outs}
        opt_outs = {t: sub for t, sub in opt_outs.items() if held_topics[t] != "opt_out"}
        before["topics"] = {t: held_topics[t] for t in opt_outs}
        after["topics"] = dict(opt_outs)
    if not (changes or join or opt_outs):
        return "skipped"
    if plan.before is not None:
        plan.before.add(
            Recorded(row.email, contact_id, Facts.from_json(before), Facts.from_json(after))
        )
    mirror = plan.mirror
    if changes:
        await client.update_contact(contact_id, **changes)
        if mirror is not None:
            written = {k: v for k, v in changes.items() if k != "properties"}
            mirror.write_fields(contact_id, written, by="import")
            mirror.write_values(contact_id, values, by="import")
    for segment_id in join:
        await client.add_contact_to_segment(contact_id, segment_id)
        if mirror is not None:
            mirror.set_member(contact_id, segment_id, True, by="import")
    if opt_outs:
        await client.update_contact_topics(contact_id, opt_outs)
    return "updated"


async def _topic_defaults(client: ResendClient, plan: ImportPlan) -> dict[str, Subscription]:
    """Each topic's default (a choice never made is the default), read once per run."""
    if plan.topic_defaults is None:
        plan.topic_defaults = {t.id: t.default_subscription for t in await client.list_topics()}
    return plan.topic_defaults


def _targets(
    plan: ImportPlan, row: MappedRow
) -> tuple[dict[str, Any], list[str], dict[str, Subscription]]:
    """A row's fields (names, `unsubscribed`), the segments it joins and its topic choices."""
    fields = dict(row.fields)
    named = split_segments(str(fields.pop("segments", None) or ""))
    segment_ids = list(dict.fromkeys([*plan.segment_ids, *(plan.row_segments[n] for n in named)]))
    return fields, segment_ids, _row_topics(plan, str(fields.pop("topics", None) or ""))


def _row_topics(plan: ImportPlan, cell: str) -> dict[str, Subscription]:
    """The import's topic choices with this row's own (its topics column): for a topic
    both name, an opt-out wins, whichever gives it."""
    topics = dict(plan.topics)
    for name, choice in topic_choices_of(cell).items():
        topic_id = plan.row_topics[name]
        if topics.get(topic_id) != "opt_out":
            topics[topic_id] = "opt_out" if choice == "opt_out" else "opt_in"
    return topics


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
