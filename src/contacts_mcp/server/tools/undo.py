"""Undo a bulk run: `update_contacts(undo=<job id>)`, a preview then a confirmed run like
any change to many contacts (see `services.undo`).

An update, a merge's kept contact, an import and an undo are put back from their journal
(the contacts an import or a restore created are deleted again, after a snapshot); a
delete is undone by re-creating its contacts from its snapshot, through the import's
row-by-row strategy (which journals what it creates: a restore can be undone in turn).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from contacts_mcp.server.toolkit import State, ToolContext, result, run, services
from contacts_mcp.server.tools.bulk import (
    SAMPLE,
    ChangePreview,
    ChangeSample,
    UpdateAnswer,
    declined,
    estimate,
    for_review,
    job_run,
    names_by_id,
    refuse_used,
    require_person,
    run_file,
    sample_lines,
)
from contacts_mcp.server.tools.jobs import JobKind
from contacts_mcp.server.tools.sets import fill_mirror
from contacts_mcp.services.bulk import (
    CONFIRM_SECONDS,
    FRESH_SECONDS,
    BulkOutcome,
    People,
)
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.jobs import Job, utc_iso
from contacts_mcp.services.sets import PAGE
from contacts_mcp.text.caps import shown, shown_mapping
from contacts_mcp.text.sanitize import label
from contacts_mcp.text.words import counted

if TYPE_CHECKING:
    from contacts_mcp.services.before_state import Facts, Recorded
    from contacts_mcp.services.jobs import Progress, Work
    from contacts_mcp.services.mirror import MirroredContact

# The journal and the undo itself (`services.before_state`, `services.undo`) are imported
# where used: the server's startup path stays light.

__all__ = ["UNDO_JOB", "facts_shown", "undo_answer", "undo_runnable"]

# The kinds of job an undo puts back (an undo's own kind included).
UNDOABLE = ("update", "delete", "merge", "undo", "import")


def _nonce(job: Job) -> str:
    """What names a run's files: its nonce, or for an import, its job id."""
    return str(job.arguments.get("nonce") or job.id)


def _source(state: State, job_id: str) -> Job:
    """The job to undo: the caller's, of a kind that can be, and ended."""
    try:
        job = state.jobs.find(job_id, state.caller())
    except UserFacingError as exc:
        raise ToolError(str(exc)) from None
    if job.kind not in UNDOABLE:
        raise ToolError(
            f"Job {job.id} is {'an' if job.kind[0] in 'aeiou' else 'a'} {job.kind}: undo "
            "takes the id of an update_contacts (a change or a merge), delete_contacts, "
            "import_contacts or earlier undo job."
        )
    if job.status == "working":
        raise ToolError(
            f"Job {job.id} is still working: wait for it to end (get_job), or stop it with "
            "cancel=true, then undo what it did."
        )
    return job


def facts_shown(facts: Facts, names: Mapping[str, str]) -> dict[str, Any]:
    shown_facts: dict[str, Any] = {}
    shown_facts.update(facts.names)
    if facts.unsubscribed is not None:
        shown_facts["unsubscribed"] = facts.unsubscribed
    shown_facts.update(facts.properties)
    for segment, member in facts.segments.items():
        shown_facts[f"in {names.get(segment, segment)}"] = member
    for topic, choice in facts.topics.items():
        shown_facts[f"topic {names.get(topic, topic)}"] = choice
    return shown_mapping(shown_facts)


def _what_it_did(job: Job, names: Mapping[str, str]) -> str:
    from contacts_mcp.services.bulk_change import Change

    if job.kind == "delete":
        return "a delete"
    if job.kind == "merge":
        return "a merge"
    if job.kind == "undo":
        return f"an undo (of job {job.arguments.get('job', '?')})"
    if job.kind == "import":
        done = job.result or {}
        return f"an import: {done.get('created', 0)} created, {done.get('updated', 0)} updated"
    return Change.from_arguments(job.arguments.get("change") or {}).describe(names, names)


@dataclass(frozen=True)
class Undoing:
    """What an undo puts back: an update's journal, a delete's snapshot (its header, and
    rows by address), or both (a merge)."""

    records: list[Recorded] = field(default_factory=list["Recorded"])
    header: list[str] = field(default_factory=list[str])
    rows: dict[str, list[str]] = field(default_factory=dict[str, list[str]])

    def bound(self) -> People:
        """What a confirmation binds: the contacts put back, and the addresses restored."""
        return People(tuple(sorted([*(r.id for r in self.records), *self.rows])))


def _what_to_undo(state: State, job: Job) -> Undoing:
    """What undoing `job` acts on; refused when there is nothing to read it from."""
    from contacts_mcp.services.before_state import journal_files, read_journal
    from contacts_mcp.services.undo import snapshot_rows, snapshots_of

    if job.kind == "import" and (refused := _not_undoable_import(job)):
        raise ToolError(refused)
    nonce = _nonce(job)
    found = Undoing()
    try:  # a file that cannot be read, or is damaged, is named: nothing is changed
        # A delete's, a merge's, or an undo's that deleted what a run had created.
        header, rows = snapshot_rows(snapshots_of(state.snapshots, nonce))
        found = Undoing(header=header, rows=rows)
        if job.kind != "delete":
            found = replace(found, records=read_journal(journal_files(state.snapshots, nonce)))
    except UserFacingError as exc:
        raise ToolError(str(exc)) from None
    if not found.rows and not found.records and _api_upsert(job):
        raise ToolError(f"Nothing to undo: {_unknown_changes(job)}. Nothing was changed.")
    if not found.rows and not found.records:
        raise ToolError(
            f"Job {job.id} kept no record of what it changed: it changed nothing, ran before "
            "undo existed, or its record was removed (retention, or a person's erasure). "
            "Nothing was changed."
        )
    return found


def _not_undoable_import(job: Job) -> str | None:
    """Why an import job cannot be undone, if it cannot."""
    done = job.result or {}
    if job.arguments.get("dry_run") or done.get("dry_run"):
        return f"Job {job.id} was a dry run: it changed nothing, so there is nothing to undo."
    return None


def _api_upsert(job: Job) -> int:
    """How many existing contacts an import through the Contact Imports API updated:
    what it did to them is not known (Resend reports counts only), so not undone."""
    done = job.result or {}
    if job.kind != "import" or done.get("strategy") != "api":
        return 0
    return int(done.get("updated") or 0)


def _unknown_changes(job: Job) -> str:
    return (
        f"what job {job.id} changed of the {counted(_api_upsert(job), 'existing contact')} "
        "it updated through Resend's Contact Imports API cannot be put back: Resend reports "
        "nothing per contact (strategy 'rows' imports journal it)"
    )


def _change(job: Job, resubscribe: bool) -> dict[str, Any]:
    """What a confirmation binds of the undo itself."""
    return {"undo": job.id, "resubscribe": resubscribe}


def _checked(
    state: State, job: Job, bound: People, confirm: str, resubscribe: bool
) -> dict[str, Any]:
    """The undo job's arguments, once `confirm` is checked for exactly this undo, unused."""
    try:
        checked = state.confirmations.check(confirm, "undo", bound, _change(job, resubscribe))
    except UserFacingError as exc:  # refused: nothing is written
        raise ToolError(str(exc)) from None
    arguments: dict[str, Any] = {"job": job.id, "reads": _nonce(job), "nonce": checked.nonce}
    if resubscribe:
        arguments["resubscribe"] = True
    refuse_used(state, UNDO_JOB, arguments)
    return arguments


def undo_runnable(ctx: ToolContext, job_id: str, confirm: str, resubscribe: bool) -> bool:
    """Whether the confirmed undo would go ahead now (nobody is asked to approve one the
    tool would refuse: its error then says why)."""
    state = services(ctx)
    try:
        job = _source(state, job_id)
        _checked(state, job, _what_to_undo(state, job).bound(), confirm, resubscribe)
    except (ToolError, UserFacingError):
        return False
    return True


async def undo_answer(
    ctx: ToolContext,
    person: ElicitationResult[Any],
    job_id: str,
    confirm: str | None,
    *,
    resubscribe: bool = False,
) -> CallToolResult:
    """update_contacts(undo=…): the preview, or (with `confirm`) the run."""
    state = services(ctx)
    job = _source(state, job_id)
    undoing = _what_to_undo(state, job)
    if confirm is None:
        return await _preview(ctx, state, job, undoing, resubscribe)
    arguments = _checked(state, job, undoing.bound(), confirm, resubscribe)
    if declined(person):
        raise ToolError("The person did not approve: nothing was changed.")
    require_person(ctx, state, person, "changed")
    text, ran = await job_run(ctx, UNDO_JOB, arguments)
    return result(text, UpdateAnswer(run=ran))


async def _preview(
    ctx: ToolContext, state: State, job: Job, undoing: Undoing, resubscribe: bool
) -> CallToolResult:
    """The undo's preview, from the mirror (synced first when over 15 minutes old): the
    run reads every contact afresh before it writes."""
    from contacts_mcp.services.undo import CANNOT_COME_BACK, UndoPlan, needs_of, plan_undo

    records, header, rows = undoing.records, undoing.header, undoing.rows
    await fill_mirror(ctx, state, max_age=FRESH_SECONDS, memberships=bool(records))
    names = await names_by_id(state)
    mirror = state.sets.mirror

    def look_up() -> tuple[list[str], list[tuple[MirroredContact, list[str]]]]:
        # Up to 10,000 lookups: off the event loop, as every mirror read of a set.
        again = [email for email in rows if mirror.find_id(email) is not None]
        return again, mirror.contacts([r.id for r in records])

    again, held = await anyio.to_thread.run_sync(look_up)
    back = [email for email in rows if email not in set(again)]
    plan = (
        plan_undo(records, held, None, names, resubscribe=resubscribe)
        if records
        else UndoPlan([], [])
    )
    to_change, to_delete = plan.to_change, plan.to_delete
    if not to_change and not back and not to_delete:
        raise ToolError(
            f"Nothing to undo for job {job.id}: of the "
            f"{counted(len(records) + len(rows), 'contact')} it changed, {plan.already} are "
            f"as they were before, {len(plan.changed)} changed again since (left alone), "
            f"{len(plan.kept)} stay unsubscribed (an undo never opts anyone back in), "
            f"{len(plan.gone)} were deleted since and {len(again)} deleted by it exist again "
            "(created again since). Nothing was changed."
        )
    notes: list[str] = []
    requests = 0
    if back:
        # The import's scan of the account (100 contacts a request), then a create each.
        requests += 1 + state.sets.state().contacts // PAGE + len(back)
        notes += [
            "Each deleted contact comes back with its fields, property values, segments"
            + (" and topic choices" if "topics" in header else "")
            + f" as the snapshot holds them. {CANNOT_COME_BACK}",
            "At run time the account is read afresh first: an address that exists again "
            "is left alone and listed, never overwritten.",
        ]
        if dropped := await _lost(state, header, rows):
            more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
            notes.append(f"The account no longer has {', '.join(dropped[:5])}{more}: left out.")
    requests += plan.requests()  # the writes, and a delete each
    if to_change:
        # The contacts a run created are read by the delete's snapshot alone (below).
        changes = [r for r in records if r.before.exists]
        ids = {r.id for r in changes}
        reread = sum(1 for contact, _ in held if contact.id in ids)
        needs, read_topics = needs_of(changes)
        reads = needs.requests(state.sets, reread) + (reread if read_topics else 0)
        requests += reads
        notes.append(
            f"At run time each contact is read afresh first ({counted(reads, 'request')}): "
            "one that changed again since the job is left alone and listed, never "
            "overwritten."
        )
    if to_delete:
        # The delete's snapshot reads each contact, its segments (or every segment's
        # members, when cheaper) and its topic choices; a contact changed since is left.
        from contacts_mcp.services.bulk import delete_needs

        has_topics = bool(await run(state.schema.topics()))
        snapshot_reads = delete_needs(None).requests(state.sets, len(to_delete))
        requests += snapshot_reads + (len(to_delete) if has_topics else 0)
        notes.append(
            f"{counted(len(to_delete), 'contact')} the job created are deleted again, each "
            "read afresh into a snapshot first (so this undo can be undone too)."
        )
    if _api_upsert(job):
        unknown = _unknown_changes(job)
        notes.append(unknown[0].upper() + unknown[1:] + ".")
    if plan.kept:
        notes.append(
            f"{counted(len(plan.kept), 'contact')} stay unsubscribed (or opted out): the job "
            "unsubscribed them, and an undo opts nobody back in unless told that none of "
            "them unsubscribed themselves since (Resend cannot show it): resubscribe=true."
        )
    if resubscribe and any(r.now.unsubscribed or "opt_out" in r.now.topics.values()
                           for r in to_change):  # fmt: skip
        notes.append(
            "resubscribe=true: the unsubscribes and opt-outs the job made are put back too, "
            "on your word that none of these people unsubscribed themselves since."
        )
    if plan.gone:
        notes.append(f"{counted(len(plan.gone), 'contact')} were deleted since: nothing to do.")
    columns = {column: i for i, column in enumerate(header)}
    restored = [
        ChangeSample(
            email=shown(email),
            before={"exists": False},
            after=shown_mapping(
                {c: rows[email][i] for c, i in columns.items() if c != "email" and rows[email][i]}
            ),
        )
        for email in back
    ]
    put_back = [
        ChangeSample(
            email=shown(r.record.email),
            before=facts_shown(r.now, names),
            after=facts_shown(r.put_back, names),
        )
        for r in to_change
    ]
    deleted = [
        ChangeSample(
            email=shown(r.record.email),
            before=facts_shown(r.record.after, names),
            after={"exists": False},
        )
        for r in to_delete
    ]
    changed_since = [f"{shown(e)}: exists again at Resend" for e in again]
    changed_since += [f"{shown(r.record.email)}: {r.changed}" for r in plan.changed]
    what = f"restore {counted(len(back), 'contact')}" if back else ""
    if to_change:
        what += (" and " if what else "") + f"put back {counted(len(to_change), 'contact')}"
    if to_delete:
        what += (" and " if what else "") + f"delete {counted(len(to_delete), 'contact')}"
    preview = ChangePreview(
        kind="undo",
        change=f"undo job {job.id} ({_what_it_did(job, names)})",
        count=len(records) + len(rows),
        missing=[shown(r.email) for r in plan.gone[:SAMPLE]],
        already=plan.already,
        to_change=len(to_change) + len(back) + len(to_delete),
        refused=len(plan.kept),
        refused_sample=[shown(r.record.email) for r in plan.kept[:SAMPLE]],
        changed_since=len(changed_since),
        changed_since_sample=changed_since[:SAMPLE],
        sample=(put_back + restored + deleted)[:SAMPLE],
        requests=requests,
        estimated_seconds=estimate(state, requests),
        notes=notes,
        confirm=state.confirmations.issue(
            "undo", undoing.bound(), _change(job, resubscribe), f"Undo job {job.id}: {what}"
        ),
        expires_at=utc_iso(time.time() + CONFIRM_SECONDS),
    )
    return _reviewed(ctx, job, preview, resubscribe)


async def _lost(state: State, header: list[str], rows: Mapping[str, list[str]]) -> list[str]:
    """What the snapshot names that the account no longer has."""
    from contacts_mcp.text.cells import segment_names_of, topic_choices_of
    from contacts_mcp.text.sanitize import formula_unescaped

    segments = {s.name for s in await run(state.schema.segments())}
    topics = {t.name for t in await run(state.schema.topics())}
    properties = {p.key for p in await run(state.schema.properties())}
    fixed = ("email", "first_name", "last_name", "unsubscribed", "segments", "topics")
    lost = [f"property {c}" for c in header if c not in fixed and c not in properties]
    named: set[str] = set()
    at = {column: i for i, column in enumerate(header)}
    for row in rows.values():
        if "segments" in at:
            for name in segment_names_of(formula_unescaped(row[at["segments"]])):
                if name not in segments:
                    named.add(f"segment {name}")
        if "topics" in at:
            try:
                choices = topic_choices_of(formula_unescaped(row[at["topics"]]))
            except ValueError:
                choices = {}
            named.update(f"topic {name}" for name in choices if name not in topics)
    return [*lost, *sorted(named)]


def _reviewed(
    ctx: ToolContext, job: Job, preview: ChangePreview, resubscribe: bool
) -> CallToolResult:
    answer = result(_preview_text(preview), UpdateAnswer(preview=preview))
    arguments = {"undo": job.id, "resubscribe": resubscribe, "confirm": preview.confirm}
    return for_review(ctx, answer, "update_contacts", arguments)


def _preview_text(preview: ChangePreview) -> str:
    lines = [
        f"Preview, nothing written: {preview.change}, {counted(preview.count, 'contact')}: "
        f"{preview.to_change} to put back, {preview.already} already as before, "
        f"{preview.changed_since} changed again since (left alone), {preview.refused} kept "
        f"unsubscribed; {counted(preview.requests, 'request')}, about "
        f"{preview.estimated_seconds} s.",
    ]
    if preview.changed_since_sample:
        lines.append("Left alone: " + "; ".join(map(label, preview.changed_since_sample)))
    if preview.refused_sample:
        lines.append("Kept unsubscribed: " + ", ".join(map(label, preview.refused_sample)))
    lines.append(f"First {len(preview.sample)}, now → put back:")
    lines.extend(sample_lines(preview.sample))
    lines.extend(f"- {note}" for note in preview.notes)
    lines.append(
        "Show this to the user. To run exactly this, call again with the same undo and "
        f"confirm={preview.confirm} (valid 10 minutes)."
    )
    return "\n".join(lines)


# -- the job ------------------------------------------------------------------------------


def _undo_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> BulkOutcome:
        from contacts_mcp.services.undo import snapshot_rows, snapshots_of

        job = state.jobs.find(str(arguments["job"]))
        # A merge: its deleted contacts first, then the kept one put back as it was (and
        # likewise for an undo that deleted the contacts a run had created).
        restored = None
        snapshots = snapshots_of(state.snapshots, str(arguments["reads"]))
        if job.kind == "delete" or (snapshots and snapshot_rows(snapshots)[1]):
            restored = await _restore(state, arguments, progress)
            if job.kind == "delete":
                return restored
        put_back = await _put_back(state, arguments, progress)
        if restored is not None:
            return _both(restored, put_back)
        if put_back is None:
            raise UserFacingError(
                f"Job {job.id}'s record of what it changed is gone (retention, or a person's "
                "erasure): nothing was changed."
            )
        return put_back

    return work


async def _put_back(
    state: State, arguments: Mapping[str, Any], progress: Progress
) -> BulkOutcome | None:
    """Put back what an update (or the kept contact of a merge) changed, from its
    journal; None when it has none (a merge whose kept contact took nothing)."""
    from contacts_mcp.services.before_state import JOURNAL_SUFFIX, journal_files, read_journal
    from contacts_mcp.services.bulk import select
    from contacts_mcp.services.undo import undo_update

    records = read_journal(journal_files(state.snapshots, str(arguments["reads"])))
    if not records:
        return None
    selected = await select(state.sets, state.client, [r.id for r in records], None)
    segments = await state.schema.segments()
    topics = await state.schema.topics()
    names = {**{s.id: s.name for s in segments}, **{t.id: t.name for t in topics}}
    return await undo_update(
        state.client,
        state.sets,
        selected,
        records,
        names,
        run_file(state, "undone", arguments, JOURNAL_SUFFIX),
        run_file(state, "undone", arguments, "-failures.csv"),
        progress,
        written=state.written,
        resubscribe=bool(arguments.get("resubscribe")),
        # What it deletes of the contacts the run created: so this undo can be undone.
        snapshot=run_file(state, "deleted", arguments, ".csv"),
    )


def _both(restored: BulkOutcome, put_back: BulkOutcome | None) -> BulkOutcome:
    """A merge's undo: the contacts restored, and the kept one put back."""
    if put_back is None:
        return restored
    return BulkOutcome(
        action="undo",
        selected=restored.selected + put_back.selected,
        done=restored.done + put_back.done,
        unchanged=restored.unchanged + put_back.unchanged,
        refused=put_back.refused,
        changed_since=restored.changed_since + put_back.changed_since,
        changed_since_sample=[*restored.changed_since_sample, *put_back.changed_since_sample],
        gone=put_back.gone,
        failed=restored.failed + put_back.failed,
        requests=restored.requests + put_back.requests,
        seconds=round(restored.seconds + put_back.seconds, 2),
        failures_file=restored.failures_file or put_back.failures_file,
        notes=[*restored.notes, *put_back.notes],
    )


async def _restore(state: State, arguments: Mapping[str, Any], progress: Progress) -> BulkOutcome:
    """Re-create a delete's contacts from its snapshot, as an import that creates only."""
    from contacts_mcp.imports.plan import ImportSource
    from contacts_mcp.services.undo import CANNOT_COME_BACK, restore_file, snapshots_of

    started, sent_before = time.monotonic(), state.client.requests_sent
    # Named by the undo's nonce: a resumed undo imports the same file, and its import
    # journal goes on from where it stopped.
    out = state.snapshots / f"restore-{arguments['nonce']}.csv"
    dropped: list[str] = []
    if out.is_file():
        with out.open(encoding="utf-8", newline="") as handle:
            columns = {c: c for c in next(csv.reader(handle), [])}
    else:
        segments = {s.name for s in await state.schema.segments()}
        topics = {t.name for t in await state.schema.topics()}
        properties = {p.key for p in await state.schema.properties()}
        written = restore_file(
            snapshots_of(state.snapshots, str(arguments["reads"])),
            out,
            segments=segments,
            topics=topics,
            properties=properties,
            written=state.written,
        )
        columns, dropped = written.columns, written.dropped
    from contacts_mcp.services.before_state import JOURNAL_SUFFIX

    summary = await state.imports.run(
        ImportSource(path=str(out)),
        columns=columns,
        on_conflict="skip",
        strategy="rows",
        progress=progress,
        # Each contact it creates, so that the restore can be undone in turn.
        before_state=run_file(state, "restored", arguments, JOURNAL_SUFFIX),
        written=state.written,
    )
    notes = [CANNOT_COME_BACK]
    if dropped:
        notes.append("The account no longer has " + ", ".join(dropped[:5]) + ": left out.")
    note = await state.sets.after_import(
        created=summary.created, updated=0, upsert=False, progress=progress
    )
    if note:
        notes.append(note)
    if summary.skipped:
        notes.append(
            f"{counted(summary.skipped, 'address')} exist again at Resend (created again "
            "since the delete): left alone, never overwritten."
        )
    return BulkOutcome(
        action="undo",
        selected=summary.rows,
        done=summary.created,
        changed_since=summary.skipped,
        failed=summary.failed + summary.duplicates,
        requests=state.client.requests_sent - sent_before,
        seconds=round(time.monotonic() - started, 2),
        failures_file=summary.failures_file,
        notes=notes,
    )


def _undo_text(outcome: BulkOutcome) -> str:
    text = (
        f"Undone for {outcome.done} of {counted(outcome.selected, 'contact')} "
        f"({outcome.unchanged} already as before, {outcome.changed_since} changed again "
        f"since and left alone, {outcome.refused} kept unsubscribed, {outcome.gone} deleted "
        f"since, {outcome.failed} failed); {counted(outcome.requests, 'request')} in "
        f"{outcome.seconds:.1f} s."
    )
    if outcome.changed_since_sample:
        text += "\nLeft alone: " + "; ".join(map(label, outcome.changed_since_sample))
    text += "".join(f"\n- {note}" for note in outcome.notes)
    if outcome.snapshot_file:
        text += f"\nSnapshot of the contacts it deleted: {outcome.snapshot_file}"
    if outcome.failures_file:
        text += f"\nEach contact not put back, with the reason: {outcome.failures_file}"
    return text


UNDO_JOB = JobKind("undo", BulkOutcome, _undo_work, _undo_text)
