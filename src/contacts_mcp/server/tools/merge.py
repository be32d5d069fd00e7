"""Merge duplicates: `update_contacts(contacts=[…], merge="auto" | <the one to keep>)`, a
preview then a confirmed run like any change to many contacts (see `services.merge`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from contacts_mcp.server.toolkit import State, ToolContext, result, run, services
from contacts_mcp.server.tools.bulk import (
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
    select_named,
    silent,
)
from contacts_mcp.server.tools.jobs import JobKind
from contacts_mcp.services.bulk import CONFIRM_SECONDS, BulkOutcome, People
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.jobs import utc_iso
from contacts_mcp.text.caps import shown
from contacts_mcp.text.sanitize import label
from contacts_mcp.text.words import counted

if TYPE_CHECKING:
    from contacts_mcp.services.jobs import Progress, Work
    from contacts_mcp.services.mirror import MirroredContact

__all__ = ["MERGE_JOB", "merge_answer", "merge_runnable"]


def _keep_id(contacts: list[MirroredContact], keep: str) -> str:
    """The id of the contact to keep: by the rule ("auto"), or the one named (the rule
    stands on addresses and creation times, which never change)."""
    from contacts_mcp.services.duplicates import keep_of

    if keep.strip().lower() == "auto":
        found = keep_of(contacts)
        if found is None:
            raise ToolError(
                "Every address in the group is on a misspelt domain, so none is clearly the "
                "one to keep: pass merge=<the id or email to keep>. Nothing was changed."
            )
        return found
    wanted = keep.strip().lower()
    for contact in contacts:
        if wanted in (contact.id.lower(), contact.email.lower()):
            return contact.id
    raise ToolError(
        f"merge names {shown(keep)}, which is not one of the contacts given: name one of "
        'them (id or email), or merge="auto". Nothing was changed.'
    )


async def _group(
    ctx: ToolContext, state: State, contacts: list[str] | None, *, fresh: bool
) -> tuple[list[MirroredContact], People]:
    """The named contacts (as a preview finds them when `fresh`, else as the mirror holds
    them since), and what a confirmation binds of them."""
    from contacts_mcp.services.merge import MAX_MERGE

    named = list(dict.fromkeys(ref.strip().lower() for ref in contacts or () if ref.strip()))
    if not 2 <= len(named) <= MAX_MERGE:
        raise ToolError(
            f"A merge takes 2 to {MAX_MERGE} contacts, in `contacts` (ids or emails), e.g. a "
            "group from search_contacts with duplicates=true. Nothing was changed."
        )
    selected = await select_named(ctx, state, named, None, fresh=fresh)
    if selected.missing:
        raise ToolError(
            f"{counted(len(selected.missing), 'named contact')} "
            f"{'does' if len(selected.missing) == 1 else 'do'} not exist "
            f"({', '.join(map(label, selected.missing[:3]))}): nothing was merged."
        )
    ids = sorted(selected.ids)
    if len(ids) < 2:
        raise ToolError("Those name one contact (by id and by email): nothing to merge.")
    return [contact for contact, _ in selected.contacts], People(tuple(ids))


async def merge_answer(
    ctx: ToolContext,
    person: ElicitationResult[Any],
    contacts: list[str] | None,
    keep: str,
    confirm: str | None,
) -> CallToolResult:
    """update_contacts(contacts=…, merge=…): the preview, or (with `confirm`) the run."""
    from contacts_mcp.server.tools.undo import facts_shown
    from contacts_mcp.services.before_state import facts_now
    from contacts_mcp.services.merge import plan_merge, read_members

    state = services(ctx)
    group, bound = await _group(ctx, state, contacts, fresh=confirm is None)
    keep_id = _keep_id(group, keep)
    if confirm is not None:  # the job reads every contact afresh before it writes
        arguments = _checked(state, bound, keep_id, confirm)
        if declined(person):
            raise ToolError("The person did not approve: nothing was changed.")
        require_person(ctx, state, person, "changed")
        text, ran = await job_run(ctx, MERGE_JOB, arguments)
        return result(text, UpdateAnswer(run=ran))
    members = await run(read_members(state.client, state.sets, list(bound.addresses), silent))
    kept = next(m for m in members if m.contact.id == keep_id)
    others = sorted(
        (m for m in members if m.contact.id != keep_id),
        key=lambda m: (m.contact.created_at, m.contact.id),
    )
    plan = plan_merge(kept, others)
    names = await names_by_id(state)
    requests = 3 * len(members) + plan.requests()
    before = facts_now(kept.contact, kept.segments, kept.topics, plan.after)
    notes = [
        "At run time each contact is read again first (3 requests each); nothing is "
        "deleted unless the kept contact took everything first.",
        "The others are snapshotted before they are deleted: update_contacts with "
        "undo=<the merge's job id> brings them back and puts the kept contact back as it "
        "was.",
    ]
    if plan.conflicts:
        kept_values = "; ".join(plan.conflicts[:5])
        notes.append(f"Where both hold a value, the kept contact's stays: {kept_values}.")
    if plan.unsubscribe or plan.opt_outs:
        notes.append(
            "Opt-outs always win: an unsubscribe or topic opt-out from any of them is the "
            "person's, and the kept contact takes it."
        )
    summary = f"Merge {counted(len(members), 'contact')} into {shown(kept.contact.email)}"
    email = shown(kept.contact.email)
    after = facts_shown(plan.after, names)
    sample = [ChangeSample(email=email, before=facts_shown(before, names), after=after)]
    sample += [
        ChangeSample(
            email=shown(m.contact.email),
            before={
                "unsubscribed": m.contact.unsubscribed,
                "segments": sorted(names.get(s, s) for s in m.segments),
            },
            after={"deleted": True},
        )
        for m in others
    ]
    preview = ChangePreview(
        kind="merge",
        change=plan.describe(names),
        count=len(members),
        missing=[],
        already=0,
        to_change=len(others) + (1 if plan.gifts(names) else 0),  # deleted, and the kept
        refused=0,
        refused_sample=[],
        sample=sample,
        requests=requests,
        estimated_seconds=estimate(state, requests),
        notes=notes,
        confirm=state.confirmations.issue("merge", bound, {"merge": keep_id}, summary),
        expires_at=utc_iso(time.time() + CONFIRM_SECONDS),
    )
    answer = result(_preview_text(preview), UpdateAnswer(preview=preview))
    arguments = {"contacts": contacts, "merge": keep, "confirm": preview.confirm}
    return for_review(ctx, answer, "update_contacts", arguments)


def _checked(state: State, bound: People, keep_id: str, confirm: str) -> dict[str, Any]:
    try:
        checked = state.confirmations.check(confirm, "merge", bound, {"merge": keep_id})
    except UserFacingError as exc:  # refused: nothing is written
        raise ToolError(str(exc)) from None
    arguments = {"ids": list(bound.addresses), "keep": keep_id, "nonce": checked.nonce}
    refuse_used(state, MERGE_JOB, arguments)
    return arguments


async def merge_runnable(
    ctx: ToolContext, contacts: list[str] | None, keep: str, confirm: str
) -> bool:
    """Whether the confirmed merge would go ahead now (nobody is asked to approve one the
    tool would refuse)."""
    state = services(ctx)
    try:
        group, bound = await _group(ctx, state, contacts, fresh=False)
        _checked(state, bound, _keep_id(group, keep), confirm)
    except (ToolError, UserFacingError):
        return False
    return True


def _preview_text(preview: ChangePreview) -> str:
    lines = [
        f"Preview, nothing written: {preview.change}; {counted(preview.requests, 'request')}, "
        f"about {preview.estimated_seconds} s.",
        "Now → after:",
    ]
    lines.extend(sample_lines(preview.sample))
    lines.extend(f"- {note}" for note in preview.notes)
    lines.append(
        "Show this to the user. To run exactly this, call again with the same contacts and "
        f"merge, and confirm={preview.confirm} (valid 10 minutes)."
    )
    return "\n".join(lines)


def _merge_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> BulkOutcome:
        from contacts_mcp.services.before_state import JOURNAL_SUFFIX
        from contacts_mcp.services.merge import merge, read_members

        started, sent_before = time.monotonic(), state.client.requests_sent
        # Resumed after a restart, it finds those it deleted already gone: it goes on
        # with the rest (its first snapshot holds them).
        members = await read_members(
            state.client, state.sets, arguments["ids"], progress, gone_ok=True
        )
        names = await names_by_id(state)
        files = (
            run_file(state, "merged", arguments, JOURNAL_SUFFIX),
            run_file(state, "merged", arguments, ".csv"),
            run_file(state, "merged", arguments, "-failures.csv"),
        )
        outcome = await merge(
            state.client,
            state.sets,
            members,
            str(arguments["keep"]),
            names,
            files,
            progress,
            written=state.written,
        )
        # The reads of the contacts count too, as the preview counted them.
        spent = {
            "requests": state.client.requests_sent - sent_before,
            "seconds": round(time.monotonic() - started, 2),
        }
        return outcome.model_copy(update=spent)

    return work


def _merge_text(outcome: BulkOutcome) -> str:
    text = (
        f"Merged {counted(outcome.selected, 'contact')}: {outcome.done} deleted after the kept "
        f"one took what they held ({outcome.failed} failed); "
        f"{counted(outcome.requests, 'request')} in {outcome.seconds:.1f} s."
    )
    text += "".join(f"\n- {note}" for note in outcome.notes)
    if outcome.snapshot_file:
        text += f"\nSnapshot of the deleted ones: {outcome.snapshot_file}"
    if outcome.failures_file:
        text += f"\nNot deleted, with reasons: {outcome.failures_file}"
    return text


MERGE_JOB = JobKind("merge", BulkOutcome, _merge_work, _merge_text)
