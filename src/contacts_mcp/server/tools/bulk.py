"""Sets of contacts acted on: change or delete them (confirmed by the server), or export
them.

A selection is `contacts` (ids or emails) or `search` (a search_contacts selection).
Without `confirm`, `update_contacts` (past 10 contacts) and `delete_contacts` (always)
only preview: the count, a sample, the cost, and a confirmation bound to exactly that.
With it, the server checks the confirmation, asks the person where the client can (form
elicitation), and runs the job.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from contacts_mcp.api.errors import ResendError
from contacts_mcp.server.render import LIST_COLUMNS, contact_row
from contacts_mcp.server.screens import (
    APPROVAL_META,
    BULK_REVIEW,
    app_only,
    client_supports_apps,
    screen,
)
from contacts_mcp.server.toolkit import (
    PropertyValues,
    SegmentRefs,
    State,
    ToolContext,
    TopicChoices,
    hints,
    result,
    run,
    services,
    text_of,
)
from contacts_mcp.server.tools.jobs import JobKind, JobOut, start_and_wait
from contacts_mcp.server.tools.sets import fill_mirror
from contacts_mcp.services.bulk import (
    CONFIRM_SECONDS,
    READ_ONE_BY_ONE_UP_TO,
    BulkOutcome,
    ExportOutcome,
)
from contacts_mcp.services.erasure import ForgetOutcome
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.jobs import utc_iso
from contacts_mcp.services.sets import Condition, FoundContact, decode_search
from contacts_mcp.text.caps import shown
from contacts_mcp.text.sanitize import label, quoted
from contacts_mcp.text.words import counted

if TYPE_CHECKING:
    from contacts_mcp.services.bulk import Selected
    from contacts_mcp.services.bulk_change import Change, ContactPlan
    from contacts_mcp.services.jobs import Progress, Work

logger = logging.getLogger(__name__)

__all__ = ["BULK_JOBS", "register_bulk_tools", "register_export_tool"]

# Writes a new local file; replaces one only when asked (overwrite).
EXPORT_HINTS = ToolAnnotations(
    title="Export contacts to CSV",
    read_only_hint=False,
    destructive_hint=False,
    idempotent_hint=False,
    open_world_hint=True,
)

SAMPLE = 10
# Past this many contacts a change could be worth running as one import (were that safe).
IMPORT_WORTH_IT = 100
# A change to at most this many contacts runs without a preview (as that many
# update_contact calls would); deletes always need one.
SKIP_CONFIRM_UP_TO = 10
# Requests/s assumed for a time estimate only until Resend's `ratelimit-limit` says (the
# middle of the defaults its docs have given: 2, 5 and 10); pacing never assumes one.
ASSUMED_RATE = 5.0

ContactsArg = Annotated[
    Annotated[list[Annotated[str, Field(max_length=320)]], Field(max_length=100_000)]
    | SkipJsonSchema[None],
    Field(description="Contact ids or emails (≤ 10,000)."),
]
SearchArg = Annotated[
    Annotated[str, Field(max_length=8000)] | SkipJsonSchema[None],
    Field(description="Or: the `selection` of a search_contacts answer."),
]
MergeArg = Annotated[
    Annotated[str, Field(max_length=320)] | SkipJsonSchema[None],
    Field(description='Merge `contacts` into one: the one to keep, or "auto". Others deleted.'),
]
UndoArg = Annotated[
    Annotated[str, Field(max_length=100)] | SkipJsonSchema[None],
    Field(description="A bulk or import job's id: put back what it changed (no other change)."),
]
ConfirmArg = Annotated[
    Annotated[str, Field(max_length=500)] | SkipJsonSchema[None],
    Field(description="From the preview; omit to preview."),
]


class Approval(BaseModel):
    approve: bool = Field(description="Yes, do it.")


class NotAsked(BaseModel):
    """The person was not asked: no confirmation to ask about, or no way to ask."""


class BulkPreview(BaseModel):
    action: str
    count: int = Field(description="Contacts selected.")
    missing: list[str] = Field(description="Named contacts that do not exist.")
    sample: list[FoundContact] = Field(description=f"Up to {SAMPLE} of them.")
    requests: int = Field(description="API requests the run needs.")
    estimated_seconds: int
    notes: list[str] = Field(default_factory=list[str])
    confirm: str = Field(description="Pass as `confirm` to run exactly this.")
    expires_at: str


class DeleteAnswer(BaseModel):
    preview: BulkPreview | None = None
    run: JobOut[BulkOutcome] | None = None


class ChangeSample(BaseModel):
    email: str
    before: dict[str, Any] = Field(description="What the mirror knows of the changed fields.")
    after: dict[str, Any]


class ChangePreview(BaseModel):
    kind: Literal["update", "undo", "merge"] = Field(
        default="update", description="A change, an undo of a job, or a merge."
    )
    change: str
    count: int = Field(description="Contacts selected.")
    missing: list[str] = Field(description="Named contacts that do not exist.")
    already: int = Field(description="Already as asked: no request.")
    to_change: int
    refused: int = Field(description="Held back by the consent guard.")
    refused_sample: list[str] = Field(description=f"Up to {SAMPLE} of their emails.")
    changed_since: int = Field(default=0, description="Undo: changed again since; left alone.")
    changed_since_sample: list[str] = Field(default_factory=list[str])
    sample: list[ChangeSample] = Field(description=f"Up to {SAMPLE}, before → after.")
    requests: int = Field(description="API requests the run needs.")
    estimated_seconds: int
    notes: list[str]
    confirm: str = Field(description="Pass as `confirm` to run exactly this.")
    expires_at: str


class UpdateAnswer(BaseModel):
    preview: ChangePreview | None = None
    run: JobOut[BulkOutcome] | None = None


def _can_elicit(ctx: ToolContext) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` (before modes existed) means form; url-only does not.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _approval_question(ctx: ToolContext, confirm: str | None) -> tuple[str, float] | None:
    """The question for the person about the run `confirm` confirms, and when the
    confirmation expires, where the client can ask them and the confirmation is one of
    ours, unexpired; else None."""
    state = services(ctx)
    found = state.confirmations.read(confirm) if confirm else None
    if found is None or found.expires < time.time() or not _can_elicit(ctx):
        return None
    if found.action == "delete":
        message = (
            f"{found.summary}. This cannot be undone; a snapshot is kept for re-import. Approve?"
        )
    elif found.action == "forget":
        message = f"{found.summary}. This cannot be undone, and no copy is kept. Approve?"
    else:
        message = f"{found.summary}. Approve?"
    return message, found.expires


async def _ask(
    ctx: ToolContext, confirm: str, question: tuple[str, float]
) -> Elicit[Approval] | Approval:
    """Ask the person `question` about the run `confirm` confirms.

    A 2026-07-28 client is asked through the SDK (the call returns the question, and the
    client calls again with the answer: no time limit). A 2025-11-25 client is asked in
    the middle of the call, and hosts give a call 60 s: a person who takes longer would
    find their answer dropped with the call. So the question is asked from the server's
    own task group, and the answer kept until the confirmation expires: the call that
    comes next with the same `confirm` (the model calls again once the host gave up)
    uses it, and a second call while the person decides waits on the same question.
    """
    if _answers_by_retry(ctx):
        return Elicit(question[0], Approval)
    state = services(ctx)
    key = hashlib.sha256(confirm.encode()).hexdigest()
    kept = state.approvals.answer(key)
    if kept is None:
        asking = state.asking.get(key)
        if asking is None:
            asking = state.asking[key] = anyio.Event()
            state.background.start_soon(_ask_and_keep, ctx, key, question, asking)
        await asking.wait()
        kept = state.approvals.answer(key)
    if kept is None:
        raise ToolError(
            "The person's answer could not be read: nothing was changed. Call again with "
            "the same `confirm` to ask them once more."
        )
    return Approval(approve=kept)


async def _ask_and_keep(
    ctx: ToolContext, key: str, question: tuple[str, float], asked: anyio.Event
) -> None:
    state = services(ctx)
    try:
        outcome = await ctx.elicit(question[0], Approval)
        approve = isinstance(outcome, AcceptedElicitation) and outcome.data.approve
        state.approvals.keep_answer(key, approve, question[1])
    except Exception:  # the client went away, or answered with nothing readable
        logger.info("an approval question got no readable answer", exc_info=True)
    finally:
        state.asking.pop(key, None)
        asked.set()


def _answers_by_retry(ctx: ToolContext) -> bool:
    """Whether the client answers questions by calling again (2026-07-28 and later)."""
    version = ctx.protocol_version
    return version is not None and version >= "2026-07-28"


# The import and erasure tools ask the person the same way (`tools.imports`,
# `tools.privacy`).
can_elicit = _can_elicit
ask_person = _ask
approval_question = _approval_question


async def _runnable(
    ctx: ToolContext,
    kind: JobKind[Any],
    confirm: str,
    contacts: list[str] | None,
    search: str | None,
    change: Mapping[str, Any],
) -> bool:
    """Whether the confirmed run would go ahead now, checked as the tool then checks it:
    the confirmation against the selection as it stands, and not used before. Nobody is
    asked to approve a run the tool would refuse (its error then says why)."""
    state = services(ctx)
    try:
        where = _conditions(contacts, search)
        selected = await _selection(ctx, state, contacts, where, fresh=False)
        if not selected.contacts:
            return False
        nonce = state.confirmations.check(confirm, kind.name, selected, change).nonce
        update = None if kind is DELETE_JOB else change
        _refuse_reuse(state, kind, selected, nonce, where, update)
    except (ToolError, UserFacingError, ResendError):
        return False
    return True


async def ask_to_delete(
    ctx: ToolContext,
    confirm: str | None = None,
    contacts: list[str] | None = None,
    search: str | None = None,
) -> Elicit[Approval] | Approval | NotAsked:
    """Ask the person to approve a confirmed delete, where the client can ask them."""
    question = _approval_question(ctx, confirm)
    if question is None or confirm is None:
        return NotAsked()
    if not await _runnable(ctx, DELETE_JOB, confirm, contacts, search, {"delete": True}):
        return NotAsked()
    return await _ask(ctx, confirm, question)


async def ask_to_update(
    ctx: ToolContext,
    confirm: str | None = None,
    contacts: list[str] | None = None,
    search: str | None = None,
    unsubscribed: bool | None = None,
    properties: dict[str, Any] | None = None,
    add_segments: list[str] | None = None,
    remove_segments: list[str] | None = None,
    topics: dict[str, Any] | None = None,
    resubscribe: bool = False,
    merge: str | None = None,
    undo: str | None = None,
) -> Elicit[Approval] | Approval | NotAsked:
    """Ask the person to approve a confirmed change, where the client can ask them."""
    from contacts_mcp.services.bulk_change import resolve_change

    question = _approval_question(ctx, confirm)
    if question is None or confirm is None:
        return NotAsked()
    if undo is not None:
        from contacts_mcp.server.tools.undo import undo_runnable

        if not undo_runnable(ctx, undo, confirm, resubscribe):
            return NotAsked()
        return await _ask(ctx, confirm, question)
    if merge is not None:
        from contacts_mcp.server.tools.merge import merge_runnable

        if not await merge_runnable(ctx, contacts, merge, confirm):
            return NotAsked()
        return await _ask(ctx, confirm, question)
    try:
        change = await resolve_change(
            services(ctx).schema,
            unsubscribed=unsubscribed,
            properties=properties,
            add_segments=add_segments or (),
            remove_segments=remove_segments or (),
            topics=topics,
            resubscribe=resubscribe,
        )
    except (ResendError, UserFacingError):
        return NotAsked()  # the tool refuses it, and says why
    if not await _runnable(ctx, UPDATE_JOB, confirm, contacts, search, change.arguments()):
        return NotAsked()
    return await _ask(ctx, confirm, question)


# The person is asked only about a run that would go ahead: the resolvers check the
# confirmation and the selection first, as the tools then do again.
DeleteApproval = Annotated[ElicitationResult[Any], Resolve(ask_to_delete)]
UpdateApproval = Annotated[ElicitationResult[Any], Resolve(ask_to_update)]


def _require_person(
    ctx: ToolContext,
    state: State,
    person: ElicitationResult[Any],
    done: str,
    *,
    screen: bool = True,
) -> None:
    """Under --approval required, a run the person did not approve is refused, saying
    where they can (nobody was asked: the client has no form, or this call came from the
    model rather than the review screen)."""
    if not state.approval_required:
        return
    if isinstance(person, AcceptedElicitation) and isinstance(person.data, Approval):
        return  # asked, and approved (a no was refused already)
    if screen and client_supports_apps(ctx):
        where = "Approve in the review screen shown with the preview."
    else:
        where = (
            "This client can ask nobody (no elicitation, no MCP Apps): run it from a host "
            "that can, such as Claude Desktop (review screen) or Claude Code (a form)."
        )
    raise ToolError(
        f"This server runs bulk changes only when a person approves them (--approval "
        f"required), and nobody has: nothing was {done}. {where}"
    )


def _declined(person: ElicitationResult[Any]) -> bool:
    if not isinstance(person, AcceptedElicitation):
        return True  # declined or cancelled
    return isinstance(person.data, Approval) and not person.data.approve


def _estimate(state: State, requests: int) -> int:
    rate = state.client.pacer.rate_limit or ASSUMED_RATE
    return max(1, round(requests / rate))


def _sample(selected: Selected) -> list[FoundContact]:
    return [FoundContact.of(contact) for contact, _ in selected.contacts[:SAMPLE]]


def _conditions(contacts: list[str] | None, search: str | None) -> list[Condition] | None:
    """The search's conditions (None when contacts are named), once the call is known to
    select in exactly one way; refused before any work otherwise."""
    from contacts_mcp.services.bulk import check_selection

    try:
        where = None if search is None else decode_search(search)
        check_selection(contacts, where)
    except UserFacingError as exc:
        raise ToolError(str(exc)) from None
    return where


def _selection_args(contacts: list[str] | None, where: list[Condition] | None) -> dict[str, Any]:
    if where is not None:
        return {"where": [c.model_dump() for c in where]}
    return {"contacts": contacts}


async def _selection(
    ctx: ToolContext,
    state: State,
    contacts: list[str] | None,
    where: list[Condition] | None,
    *,
    fresh: bool,
) -> Selected:
    """The selection; when `fresh` (a preview, or a run that needs none), from a mirror
    fully synced in the last 15 minutes, or read from Resend itself.

    A confirmed run reads the mirror as its preview left it (written through since), so
    it finds exactly the contacts previewed.
    """
    from contacts_mcp.services.bulk import FRESH_SECONDS, select

    if where is not None or len(contacts or ()) > READ_ONE_BY_ONE_UP_TO:
        # A search needs the mirror; so do many named contacts: paging the account
        # (100 a request) beats reading each one it does not hold (2 requests each).
        await fill_mirror(ctx, state, max_age=FRESH_SECONDS if fresh else None)
        return await run(select(state.sets, state.client, contacts, where))
    stale = fresh and not state.sets.state().fully_synced_within(FRESH_SECONDS)
    return await run(select(state.sets, state.client, contacts, None, reread=stale))


def _nothing_selected(action: str, selected: Selected) -> str:
    gone = len(selected.missing)
    missing = (
        f" ({counted(gone, 'named contact')} {'does' if gone == 1 else 'do'} not exist)"
        if gone
        else ""
    )
    return (
        f"No contacts to {action}: the selection matches none{missing}. Check the ids or "
        "emails, or search_contacts with refresh=new if they were added elsewhere."
    )


def _run_file(state: State, action: str, arguments: Mapping[str, Any], suffix: str) -> Path:
    """A file of a bulk run in the snapshots folder: its action, when, and its nonce."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return state.snapshots / f"{action}-{stamp}-{arguments['nonce']}{suffix}"


def _delete_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> BulkOutcome:
        from contacts_mcp.services.bulk import delete_selected, select

        # Exactly the contacts previewed (their ids were checked against the confirmation);
        # a search's are re-checked against its conditions.
        selected = await select(state.sets, state.client, arguments["ids"], None)
        snapshot = _run_file(state, "deleted", arguments, ".csv")
        return await delete_selected(
            state.client,
            state.sets,
            selected,
            snapshot,
            progress,
            _where(arguments),
            written=state.written,
        )

    return work


def _where(arguments: Mapping[str, Any]) -> list[Condition] | None:
    """A bulk job's search conditions, when it acts on a search."""
    where = arguments.get("where")
    return None if where is None else [Condition.model_validate(c) for c in where]


def _left_alone(outcome: BulkOutcome) -> str:
    if not outcome.no_longer_matching:
        return ""
    return (
        f"\n{outcome.no_longer_matching} left untouched, no longer matching the search at run "
        "time: " + "; ".join(map(label, outcome.no_longer_matching_sample))
    )


def _outcome_text(outcome: BulkOutcome) -> str:
    text = (
        f"Deleted {outcome.done} of {counted(outcome.selected, 'contact')} "
        f"({outcome.unchanged} already "
        f"gone, {outcome.failed} failed); {counted(outcome.requests, 'request')} in "
        f"{outcome.seconds:.1f} s."
    )
    text += _left_alone(outcome)
    if outcome.snapshot_file:
        text += f"\nSnapshot (re-import with import_contacts): {outcome.snapshot_file}"
    if outcome.failures_file:
        text += f"\nNot deleted, with reasons: {outcome.failures_file}"
    return text


DELETE_JOB = JobKind("delete", BulkOutcome, _delete_work, _outcome_text)


def _update_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> BulkOutcome:
        from contacts_mcp.services.bulk import select
        from contacts_mcp.services.bulk_change import Change, apply_change

        # Exactly the contacts previewed (their ids were checked against the confirmation);
        # a search's are re-checked against its conditions.
        selected = await select(state.sets, state.client, arguments["ids"], None)
        from contacts_mcp.services.before_state import JOURNAL_SUFFIX

        failures = _run_file(state, "updated", arguments, "-failures.csv")
        change = Change.from_arguments(arguments["change"])
        return await apply_change(
            state.client,
            state.sets,
            selected,
            change,
            failures,
            progress,
            _where(arguments),
            # What each contact was before: for an undo (update_contacts(undo=…)).
            journal=_run_file(state, "updated", arguments, JOURNAL_SUFFIX),
            written=state.written,
        )

    return work


def _update_text(outcome: BulkOutcome) -> str:
    text = (
        f"Updated {outcome.done} of {counted(outcome.selected, 'contact')} "
        f"({outcome.unchanged} already "
        f"as asked, {outcome.refused} held back by the consent guard, {outcome.failed} failed); "
        f"{counted(outcome.requests, 'request')} in {outcome.seconds:.1f} s."
    )
    text += _left_alone(outcome)
    text += "".join(f"\n- {note}" for note in outcome.notes)
    if outcome.failures_file:
        text += f"\nNot changed, with reasons: {outcome.failures_file}"
    return text


UPDATE_JOB = JobKind("update", BulkOutcome, _update_work, _update_text)


def _export_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> ExportOutcome:
        from contacts_mcp.services.bulk import export_selected

        return await export_selected(
            state.client,
            state.sets,
            arguments.get("contacts"),
            _where(arguments),
            arguments.get("properties"),
            Path(arguments["file"]) if arguments.get("file") else None,
            overwrite=arguments.get("overwrite", False),
            written=state.written,
            progress=progress,
            fresh=arguments.get("fresh", False),
        )

    return work


def _export_text(outcome: ExportOutcome) -> str:
    text = f"Exported {counted(outcome.rows, 'contact')} ({', '.join(outcome.columns)})"
    text += f" to {outcome.file}." if outcome.file else "."
    if outcome.refreshed:
        text += " The mirror was synced first."
    text += "".join(f"\n- {columns}: {when}." for columns, when in outcome.freshness.items())
    if outcome.contacts:
        shown = outcome.contacts[:SAMPLE]
        text += (
            f"\nThe rows are in the structured content; the first {len(shown)} (email | segments):"
        )
        text += "".join(f"\n{label(row['email'])} | {quoted(row['segments'])}" for row in shown)
    return text


EXPORT_JOB = JobKind("export", ExportOutcome, _export_work, _export_text)
BULK_JOBS: tuple[JobKind[Any], ...] = (UPDATE_JOB, DELETE_JOB, EXPORT_JOB)


def register_bulk_tools(server: MCPServer[State]) -> None:
    @server.tool(annotations=hints("Update contacts", "update"), meta=screen(BULK_REVIEW))
    async def update_contacts(
        ctx: ToolContext,
        person: UpdateApproval,
        contacts: ContactsArg = None,
        search: SearchArg = None,
        unsubscribed: Annotated[
            bool | SkipJsonSchema[None], Field(description="true opts out of all broadcasts.")
        ] = None,
        properties: PropertyValues | SkipJsonSchema[None] = None,
        add_segments: SegmentRefs | SkipJsonSchema[None] = None,
        remove_segments: SegmentRefs | SkipJsonSchema[None] = None,
        topics: TopicChoices | SkipJsonSchema[None] = None,
        resubscribe: Annotated[
            bool, Field(description="Only when the people asked to opt back in.")
        ] = False,
        merge: MergeArg = None,
        undo: UndoArg = None,
        confirm: ConfirmArg = None,
    ) -> Annotated[CallToolResult, UpdateAnswer]:
        """Change many contacts at once. Past 10 contacts, the first call (no `confirm`)
        is a preview that writes nothing; show it to the user, then call again with its
        `confirm`.
        """
        from contacts_mcp.services.bulk_change import (
            change_needs,
            plan_for,
            resolve_change,
            without_gone,
        )
        from contacts_mcp.services.recheck import observe

        changes = (unsubscribed, properties, add_segments, remove_segments, topics)
        if undo is not None:
            from contacts_mcp.server.tools.undo import undo_answer

            if any(v is not None for v in (contacts, search, merge, *changes)):
                raise ToolError(
                    "undo takes only a job id (and resubscribe, confirm): it puts back what "
                    "that job changed. Call it without a selection or a change."
                )
            return await undo_answer(ctx, person, undo, confirm, resubscribe=resubscribe)
        if merge is not None:
            from contacts_mcp.server.tools.merge import merge_answer

            if search is not None or any(v is not None for v in changes) or resubscribe:
                raise ToolError(
                    'merge takes `contacts` (the group) and the one to keep (or "auto"), '
                    "and no other change: the kept contact takes what the others hold."
                )
            return await merge_answer(ctx, person, contacts, merge, confirm)
        state = services(ctx)
        where = _conditions(contacts, search)
        change = await run(
            resolve_change(
                state.schema,
                unsubscribed=unsubscribed,
                properties=properties,
                add_segments=add_segments or (),
                remove_segments=remove_segments or (),
                topics=topics,
                resubscribe=resubscribe,
            )
        )
        selected = await _selection(ctx, state, contacts, where, fresh=confirm is None)
        if not selected.contacts:
            raise ToolError(_nothing_selected("update", selected))
        needs = change_needs(
            change, None if where is None else await run(state.sets.filters(where))
        )
        # Planned as the run will: what it re-checks as the mirror holds it, the rest written.
        plans = [plan_for(c, segments, change, needs) for c, segments in selected.contacts]
        needed = [plan for plan in plans if plan.needed]
        if not needed:
            # "Nothing to change" is said only on facts observed now, never on the mirror's.
            items, observed = await run(
                observe(state.client, state.sets, selected.contacts, needs, _silent)
            )
            plans = [plan_for(c, segments, change, observed) for c, segments in items]
            plans = await run(without_gone(state.client, state.sets, plans, observed, _silent))
            needed = [plan for plan in plans if plan.needed]
            if not needed and observed.unreadable:
                email, why = observed.unreadable[0]
                raise ToolError(
                    f"Could not check {counted(len(observed.unreadable), 'selected contact')} "
                    f"against Resend ({email}: {why}). Nothing was written; try again in a "
                    "minute."
                )
            if not plans:
                raise ToolError(
                    "No contacts to update: "
                    + (
                        "the one selected was"
                        if len(selected.contacts) == 1
                        else f"the {len(selected.contacts)} selected were"
                    )
                    + " deleted from Resend since the mirror saw them. Nothing was written."
                )
            if not needed:
                gone = len(selected.contacts) - len(plans)
                raise ToolError(_nothing_to_change(plans, observed.requests, gone))
            # What it observed is in the mirror now: the selection (and the confirmation
            # bound to it) is the one a confirmed call will find.
            selected = await _selection(ctx, state, contacts, where, fresh=False)
            if not selected.contacts:
                raise ToolError(_nothing_selected("update", selected))
            plans = [plan_for(c, segments, change, observed) for c, segments in selected.contacts]
            needed = [plan for plan in plans if plan.needed]
        refused = [plan for plan in plans if plan.refused]
        recheck = needs.requests(state.sets, len(plans))
        segment_names = (  # to name them: read only when the change or its checks have any
            {s.id: s.name for s in await run(state.schema.segments())}
            if change.join or change.leave or needs.segments
            else {}
        )
        topic_names = (
            {t.id: t.name for t in await run(state.schema.topics())} if change.topics else {}
        )
        described = change.describe(segment_names, topic_names)
        summary = f"Update {counted(len(plans), 'contact')}: {described}"
        # A few contacts change at once, as update_contact would; unless every set
        # operation waits for a person (--approval required).
        if confirm is None and (len(plans) > SKIP_CONFIRM_UP_TO or state.approval_required):
            requests = sum(plan.requests for plan in plans) + recheck
            preview = ChangePreview(
                change=described,
                count=len(plans),
                missing=selected.missing,
                already=len(plans) - len(needed) - len(refused),
                to_change=len(needed),
                refused=len(refused),
                refused_sample=[shown(plan.contact.email) for plan in refused[:SAMPLE]],
                sample=[
                    ChangeSample(email=shown(plan.contact.email), before=before, after=after)
                    for plan in (needed + refused)[:SAMPLE]
                    for before, after in [plan.before_after(change, segment_names, topic_names)]
                ],
                requests=requests,
                estimated_seconds=_estimate(state, requests),
                notes=_change_notes(plans, change, needs.describe(segment_names), recheck),
                confirm=state.confirmations.issue("update", selected, change.arguments(), summary),
                expires_at=utc_iso(time.time() + CONFIRM_SECONDS),
            )
            answer = result(_change_preview_text(preview), UpdateAnswer(preview=preview))
            return _for_review(
                ctx,
                answer,
                "update_contacts",
                {
                    "contacts": contacts,
                    "search": search,
                    "unsubscribed": unsubscribed,
                    "properties": properties,
                    "add_segments": add_segments,
                    "remove_segments": remove_segments,
                    "topics": topics,
                    "resubscribe": resubscribe,
                    "confirm": preview.confirm,
                },
            )
        if confirm is not None:
            try:
                nonce = state.confirmations.check(
                    confirm, "update", selected, change.arguments()
                ).nonce
            except UserFacingError as exc:  # refused: nothing is written
                raise ToolError(str(exc)) from None
            _refuse_reuse(state, UPDATE_JOB, selected, nonce, where, change.arguments())
            if _declined(person):
                raise ToolError("The person did not approve: nothing was changed.")
            _require_person(ctx, state, person, "changed")
        else:  # a few contacts, changed at once (as update_contact would, one by one)
            nonce = secrets.token_hex(8)
        arguments = {
            **_job_selection(selected, where),
            "change": change.arguments(),
            "nonce": nonce,
        }
        text, ran = await _run(ctx, UPDATE_JOB, arguments)
        return result(text, UpdateAnswer(run=ran))

    @server.tool(annotations=hints("Delete contacts", "delete"), meta=screen(BULK_REVIEW))
    async def delete_contacts(
        ctx: ToolContext,
        person: DeleteApproval,
        contacts: ContactsArg = None,
        search: SearchArg = None,
        confirm: ConfirmArg = None,
    ) -> Annotated[CallToolResult, DeleteAnswer]:
        """Delete many contacts. First call without `confirm`: a preview that writes
        nothing; show it to the user, then call again with its `confirm`.
        """
        state = services(ctx)
        where = _conditions(contacts, search)
        selected = await _selection(ctx, state, contacts, where, fresh=confirm is None)
        if not selected.contacts:
            raise ToolError(_nothing_selected("delete", selected))
        change = {"delete": True}
        if confirm is None:
            from contacts_mcp.services.bulk import delete_needs

            summary = f"Delete {counted(len(selected.contacts), 'contact')}"
            needs = delete_needs(None if where is None else await run(state.sets.filters(where)))
            # A read of each contact and its segments (for the snapshot, and to re-check a
            # search), the segment names, and a delete each.
            requests = needs.requests(state.sets, len(selected.contacts)) + 1
            requests += len(selected.contacts)
            names = {s.id: s.name for s in await run(state.schema.segments())}
            parts = needs.describe(names)
            # The topic list, then each contact's choices, where the account has topics.
            requests += 1
            if await run(state.schema.topics()):
                requests += len(selected.contacts)
                parts.append("each contact's topic choices")
            rechecked = ", ".join(parts)
            notes = [
                f"At run time, {rechecked} are read afresh first: the snapshot holds the "
                "latest values"
                + (
                    ", and a contact that no longer matches the search is left untouched."
                    if where is not None
                    else "."
                )
            ]
            preview = BulkPreview(
                action="delete",
                count=len(selected.contacts),
                missing=selected.missing,
                sample=_sample(selected),
                requests=requests,
                estimated_seconds=_estimate(state, requests),
                notes=notes,
                confirm=state.confirmations.issue("delete", selected, change, summary),
                expires_at=utc_iso(time.time() + CONFIRM_SECONDS),
            )
            answer = result(_preview_text(preview), DeleteAnswer(preview=preview))
            arguments = {"contacts": contacts, "search": search, "confirm": preview.confirm}
            return _for_review(ctx, answer, "delete_contacts", arguments)
        try:
            checked = state.confirmations.check(confirm, "delete", selected, change)
        except UserFacingError as exc:  # refused: nothing is written
            raise ToolError(str(exc)) from None
        arguments = {**_job_selection(selected, where), "nonce": checked.nonce}
        _refuse_reuse(state, DELETE_JOB, selected, checked.nonce, where)
        if _declined(person):
            raise ToolError("The person did not approve: nothing was deleted.")
        _require_person(ctx, state, person, "deleted")
        text, ran = await _run(ctx, DELETE_JOB, arguments)
        return result(text, DeleteAnswer(run=ran))

    @server.tool(annotations=hints("Approve a reviewed run", "delete"), meta=app_only(BULK_REVIEW))
    async def approve_run(
        ctx: ToolContext,
        nonce: Annotated[str, Field(description="From the preview's _meta.", max_length=100)],
        approve: Annotated[bool, Field(description="false cancels: nothing runs.")],
    ) -> Annotated[CallToolResult, ApprovalAnswer]:
        """For the review screen only: run (or cancel) the previewed change it shows."""
        state = services(ctx)
        pending = state.approvals.spend(nonce.strip(), state.caller())
        if pending is None or pending.tool not in REVIEWED_TOOLS:
            # (An import's approval is approve_import's: spent here all the same, as any
            # nonce used for the wrong thing is.)
            raise ToolError(
                "This approval is not valid: already used, expired, or not one this server "
                "gave this screen. Nothing was changed; preview the change again."
            )
        if not approve:
            return result("Cancelled: nothing was changed.", ApprovalAnswer(cancelled=True))
        by_person = AcceptedElicitation(data=Approval(approve=True))
        if pending.tool == "delete_contacts":
            answer = await delete_contacts(ctx, by_person, **pending.arguments)
        elif pending.tool == "update_contacts":
            answer = await update_contacts(ctx, by_person, **pending.arguments)
        else:  # the erasure tool reviews on this screen too
            from contacts_mcp.server.tools.privacy import forget_people

            answer = await forget_people(ctx, by_person, **pending.arguments)
        structured = answer.structured_content or {}
        approved = ApprovalAnswer.model_validate({"run": structured["run"]})
        return result(text_of(answer), approved)


def register_export_tool(server: MCPServer[State]) -> None:
    @server.tool(annotations=EXPORT_HINTS)
    async def export_contacts(
        ctx: ToolContext,
        contacts: ContactsArg = None,
        search: SearchArg = None,
        properties: Annotated[
            Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)]
            | SkipJsonSchema[None],
            Field(description="Property keys to include; default all."),
        ] = None,
        path: Annotated[
            Annotated[str, Field(max_length=1024)] | SkipJsonSchema[None],
            Field(description="New .csv in an import folder; ≤ 50 rows also come inline."),
        ] = None,
        overwrite: Annotated[bool, Field(description="Replace an existing file.")] = False,
        fresh: Annotated[bool, Field(description="Read each contact from Resend first.")] = False,
    ) -> Annotated[CallToolResult, JobOut[ExportOutcome]]:
        """Export contacts as formula-safe CSV that import_contacts reads back unchanged."""
        from contacts_mcp.imports.files import path_for_export

        state = services(ctx)
        where = _conditions(contacts, search)
        await run(state.sets.property_keys(properties))  # unknown keys: refused now
        try:
            target = (
                None
                if path is None
                else path_for_export(path, state.files, overwrite=overwrite, written=state.written)
            )
        except UserFacingError as exc:  # refused: nothing is written
            raise ToolError(str(exc)) from None
        arguments = {
            **_selection_args(contacts, where),
            "properties": properties,
            "file": None if target is None else str(target),
            "overwrite": overwrite,
            "fresh": fresh,
        }
        # The file comes as a resource too (`file_uris`, and a link to it), for clients
        # that cannot reach this disk.
        return await start_and_wait(ctx, EXPORT_JOB, arguments)


# The tools whose previews this screen reviews, and approve_run runs.
REVIEWED_TOOLS = ("delete_contacts", "update_contacts", "forget_contacts")


class ApprovalAnswer(BaseModel):
    run: JobOut[BulkOutcome] | JobOut[ForgetOutcome] | None = Field(
        default=None, description="The run, once approved."
    )
    cancelled: bool = False


def _for_review(
    ctx: ToolContext, answer: CallToolResult, tool: str, arguments: dict[str, Any]
) -> CallToolResult:
    """A preview, with the approval nonce its review screen needs where the client shows
    screens: in `_meta` only, which hosts give the screen and not the model."""
    if not client_supports_apps(ctx):
        return answer
    state = services(ctx)
    expires = time.time() + CONFIRM_SECONDS
    nonce = state.approvals.issue(tool, arguments, state.caller(), expires)
    answer.meta = {APPROVAL_META: {"nonce": nonce, "expires_at": utc_iso(expires)}}
    return answer


def _preview_text(preview: BulkPreview) -> str:
    lines = [
        f"Preview, nothing written: {preview.action} {counted(preview.count, 'contact')}; "
        f"{counted(preview.requests, 'request')}, about {preview.estimated_seconds} s.",
    ]
    if preview.missing:
        named = counted(len(preview.missing), "named contact")
        lines.append(f"{named} {'does' if len(preview.missing) == 1 else 'do'} not exist.")
    lines.append(f"First {len(preview.sample)} ({LIST_COLUMNS}):")
    lines.extend(contact_row(c) for c in preview.sample)
    lines.extend(f"- {note}" for note in preview.notes)
    lines.append(
        "Show this to the user. To run exactly this, call again with the same selection "
        f"and confirm={preview.confirm} (valid 10 minutes)."
    )
    return "\n".join(lines)


async def _run(
    ctx: ToolContext, kind: JobKind[BulkOutcome], arguments: Mapping[str, Any]
) -> tuple[str, JobOut[BulkOutcome]]:
    """Start (or join) a confirmed bulk job; its text and handle (or result)."""
    answer = await start_and_wait(ctx, kind, arguments)
    assert isinstance(answer.structured_content, dict)
    text = answer.content[0].text if answer.content[0].type == "text" else ""
    return text, JobOut[BulkOutcome].model_validate(answer.structured_content)


def _job_selection(selected: Selected, where: list[Condition] | None) -> dict[str, Any]:
    """What a bulk job acts on: the previewed ids, and a search's conditions to re-check."""
    arguments: dict[str, Any] = {"ids": selected.ids}
    if where is not None:
        arguments["where"] = [c.model_dump(exclude_none=True) for c in where]
    return arguments


async def _silent(done: float, total: float | None, message: str) -> None:
    """Progress nobody follows (a preview's quick re-check)."""


def _nothing_to_change(plans: list[ContactPlan], requests: int, gone: int) -> str:
    refused = [plan for plan in plans if plan.refused]
    held = (
        f", and {len(refused)} {'is' if len(refused) == 1 else 'are'} held back by the "
        f"consent guard ({refused[0].refused})"
        if refused
        else ""
    )
    already = len(plans) - len(refused)
    if refused:  # the verb agrees with the share: "1 of the 3 contacts is"
        subject = f"{already} of the {counted(len(plans), 'contact')}"
    else:
        subject = "the 1 contact" if already == 1 else f"all {already} contacts"
    verb = "is" if already == 1 else "are"
    checked = (
        f" (checked against Resend just now: {counted(requests, 'request')})" if requests else ""
    )
    deleted = (
        f" {counted(gone, 'other selected contact')} "
        f"{'was' if gone == 1 else 'were'} deleted from Resend since."
        if gone
        else ""
    )
    return (
        f"Nothing to change: {subject} {verb} already as asked{held}{checked}. Nothing was "
        f"written.{deleted}"
    )


def _refuse_reuse(
    state: State,
    kind: JobKind[Any],
    selected: Selected,
    nonce: str,
    where: list[Condition] | None,
    change: Mapping[str, Any] | None = None,
) -> None:
    """Refuse a confirmation whose run already ended (one still working is joined)."""
    arguments = _job_selection(selected, where)
    if change is not None:
        arguments["change"] = change
    _refuse_used(state, kind, {**arguments, "nonce": nonce})


def _refuse_used(state: State, kind: JobKind[Any], arguments: Mapping[str, Any]) -> None:
    """Refuse the run of a confirmation (in `arguments`) that already ended."""
    earlier = state.jobs.previous(kind.name, arguments, state.caller())
    if earlier is not None and earlier.status != "working":
        raise ToolError(
            f"That confirmation was already used (job {earlier.id}, {earlier.status}). "
            "Call again without `confirm` for a new preview."
        )


def _change_notes(
    plans: list[ContactPlan], change: Change, rechecked: list[str], recheck: int
) -> list[str]:
    notes: list[str] = []
    if rechecked:
        notes.append(
            f"At run time, {', '.join(rechecked)} are re-checked against Resend first "
            f"({counted(recheck, 'request')}): a contact is skipped as already as asked, or "
            "left out of the search, only on what that finds."
        )
    if change.topics:
        note = (
            "Topic subscriptions are not known locally: the run reads each contact's first "
            "(1 request) and writes those that differ (1 more)"
        )
        if not change.resubscribe and "opt_in" in change.topics.values():
            note += "; contacts who opted out of a topic are held back by the consent guard"
        notes.append(note + ".")
    notes.append(
        "The run records each contact as it was before it writes: update_contacts with "
        "undo=<its job id> puts back what it changed."
    )
    as_import = not (change.leave or change.topics or change.unsubscribed is False)
    if as_import and len(plans) > IMPORT_WORTH_IT:
        notes.append(
            "The run is paced, one contact at a time. One Contact Imports API upsert would "
            "take a few requests, but no Resend source says such an import leaves the "
            "other fields alone or adds existing contacts to its segments, so it is not "
            "used (README: bulk changes as imports)."
        )
    return notes


def _change_preview_text(preview: ChangePreview) -> str:
    lines = [
        f"Preview, nothing written: {preview.change}, for {counted(preview.count, 'contact')}: "
        f"{preview.to_change} to change, {preview.already} already as asked, "
        f"{preview.refused} held back by the consent guard; "
        f"{counted(preview.requests, 'request')}, "
        f"about {preview.estimated_seconds} s.",
    ]
    if preview.missing:
        named = counted(len(preview.missing), "named contact")
        lines.append(f"{named} {'does' if len(preview.missing) == 1 else 'do'} not exist.")
    if preview.refused_sample:
        lines.append("Held back (they opted out): " + ", ".join(map(label, preview.refused_sample)))
    lines.append(f"First {len(preview.sample)}, before → after:")
    lines.extend(sample_lines(preview.sample))
    lines.extend(f"- {note}" for note in preview.notes)
    lines.append(
        "Show this to the user. To run exactly this, call again with the same arguments "
        f"and confirm={preview.confirm} (valid 10 minutes)."
    )
    return "\n".join(lines)


def _fields(values: Mapping[str, Any]) -> str:
    if not values:
        return "(not known)"
    return ", ".join(f"{key}={quoted(str(value))}" for key, value in values.items())


def sample_lines(samples: list[ChangeSample]) -> list[str]:
    """A preview's sample as text: `email: before → after`, one contact a line."""
    return [f"{label(s.email)}: {_fields(s.before)} → {_fields(s.after)}" for s in samples]


async def names_by_id(state: State) -> dict[str, str]:
    """The account's segment and topic names by id: for what a change says it does."""
    segments = await run(state.schema.segments())
    topics = await run(state.schema.topics())
    return {**{s.id: s.name for s in segments}, **{t.id: t.name for t in topics}}


# The erasure tool (`tools.privacy`), the undo (`tools.undo`) and the merge
# (`tools.merge`) select, ask and refuse as these tools do.
declined = _declined
estimate = _estimate
for_review = _for_review
require_person = _require_person
select_named = _selection
job_run = _run
refuse_used = _refuse_used
run_file = _run_file
silent = _silent
