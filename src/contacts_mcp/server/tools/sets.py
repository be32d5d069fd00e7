"""Sets of contacts: search and count the whole account, and keep its mirror fresh."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from contacts_mcp.server.render import LIST_COLUMNS, contact_row
from contacts_mcp.server.screens import SEARCH_RESULTS, screen
from contacts_mcp.server.toolkit import State, ToolContext, hints, result, run, services
from contacts_mcp.server.tools.jobs import JobKind, increasing, working_text, working_text_for
from contacts_mcp.services.jobs import JobView
from contacts_mcp.services.sets import (
    MAX_GROUPS,
    Condition,
    SearchOrder,
    SearchOut,
    SyncSummary,
)
from contacts_mcp.text.sanitize import label
from contacts_mcp.text.words import counted

if TYPE_CHECKING:
    from contacts_mcp.services.jobs import Job, Progress, Work

__all__ = ["SET_JOBS", "fill_mirror", "register_set_tools"]


def _sync_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> SyncSummary:
        return await state.sets.sync(
            arguments.get("mode", "new"),
            properties=arguments.get("properties", False),
            properties_max_age=arguments.get("properties_max_age"),
            memberships=arguments.get("memberships", True),
            progress=progress,
        )

    return work


def _sync_text(summary: SyncSummary) -> str:
    text = (
        f"Mirror synced ({summary.mode}): {counted(summary.contacts, 'contact')}, "
        f"{counted(summary.segments, 'segment')}"
    )
    if summary.mode == "new":
        text += f", {summary.new_contacts} new"
    if summary.properties_read:
        text += f", properties read for {summary.properties_read}"
    text += f"; {counted(summary.requests, 'request')} in {summary.seconds:.1f} s."
    return "\n".join([text, *(f"- {note}" for note in summary.notes)])


SYNC_JOB = JobKind("sync", SyncSummary, _sync_work, _sync_text, writes=False, shared=True)
SET_JOBS: tuple[JobKind[Any], ...] = (SYNC_JOB,)
# Duplicate groups the text answer lists one by one.
SHOWN_GROUPS = 10


_ORDER_WORDS = {
    "newest": "newest first",
    "oldest": "oldest first",
    "email": "by email",
    "name": "by name",
}


def _search_text(found: SearchOut, count_only: bool) -> str:
    lines = [f"{counted(found.count, 'contact')} {'matches' if found.count == 1 else 'match'}."]
    if not count_only and found.contacts:
        lines[0] = f"{lines[0][:-1]}; {_ORDER_WORDS[found.sort]} ({LIST_COLUMNS}):"
        lines.extend(contact_row(c) for c in found.contacts)
        if found.next_after:
            lines.append(f"More: after={found.next_after}")
    some = [s for s in found.segments or () if s.count]
    if some:
        named = ", ".join(f"{s.name} {s.count}" for s in some[:5])
        lines.append(
            f"In segments: {named}" + (f", {len(some) - 5} more." if len(some) > 5 else ".")
        )
    lines.append(found.mirror.note)
    return "\n".join(lines)


Conditions = Annotated[
    list[Condition],
    Field(
        description=(
            "All must hold. field: email, domain, first_name, last_name, unsubscribed, "
            "created_at, segment, or a property key. op: eq, contains, gt, gte, lt, lte, "
            "empty, not_empty; segment: in, not_in. "
            'e.g. {"field":"domain","op":"eq","value":"acme.com"}'
        ),
        max_length=20,
    ),
]


def register_set_tools(server: MCPServer[State]) -> None:
    # Read-only: a refresh only reads the account, into this server's own mirror.
    @server.tool(annotations=hints("Search contacts", "read"), meta=screen(SEARCH_RESULTS))
    async def search_contacts(
        ctx: ToolContext,
        where: Conditions,
        count_only: Annotated[bool, Field(description="Just the count.")] = False,
        limit: Annotated[int, Field(description="Page size.", ge=1, le=100)] = 50,
        sort: Annotated[SearchOrder, Field(description="Page order.")] = "newest",
        after: Annotated[
            Annotated[str, Field(max_length=100)] | SkipJsonSchema[None],
            Field(description="next_after of the previous page."),
        ] = None,
        refresh: Annotated[
            Literal["new", "full"] | SkipJsonSchema[None],
            Field(description="Sync the mirror first: new contacts, or everything."),
        ] = None,
        properties: Annotated[
            bool,
            Field(
                description="Read property values not known (refresh=full: all); 1 request each."
            ),
        ] = False,
        max_age_minutes: Annotated[
            # The bound on the int itself: on the union it was neither checked nor valid
            # JSON Schema ("ge").
            Annotated[int, Field(ge=0)] | SkipJsonSchema[None],
            Field(description="With properties: re-read values older than this."),
        ] = None,
        duplicates: Annotated[
            bool, Field(description="Instead: groups of likely duplicates (no conditions).")
        ] = False,
    ) -> Annotated[CallToolResult, SearchOut]:
        """Find or count contacts across the whole account in one call, from a mirror
        of it. Prefer it to paging list_contacts. Topics are not searchable.
        """
        state = services(ctx)
        if duplicates and (where or count_only or after is not None):
            raise ToolError(
                "duplicates=true looks across the whole account: call it with where=[] and "
                "no count_only or after."
            )
        synced: SyncSummary | None = None
        running: JobView | None = None
        # A first fill for a count or a field search lists the contacts alone; segment
        # memberships are read once a condition needs them, or with refresh=full.
        memberships = refresh == "full" or any(c.field.strip() == "segment" for c in where)
        if refresh is None and not properties:
            await fill_mirror(ctx, state, memberships=memberships)
        else:
            never_filled = state.sets.state().synced_at is None
            arguments: dict[str, Any] = {
                "mode": refresh or "new",
                "properties": properties,
                "memberships": memberships,
            }
            if properties and max_age_minutes is not None:
                arguments["properties_max_age"] = max_age_minutes * 60
            job = await _refresh(ctx, state, arguments)
            if job.status == "completed" and job.result is not None:
                synced = SyncSummary.model_validate(job.result)
            elif never_filled:
                raise ToolError(_filling(job, state))
            else:
                running = job.view()
        found = await run(
            state.sets.search(
                where,
                limit=limit,
                after=after,
                count_only=count_only,
                partial=running is not None,
                order=sort,
                segments=True,
            )
        )
        found = found.model_copy(update={"synced": synced, "refresh_job": running})
        if duplicates:
            return await _duplicates(state, found, synced)
        text = _search_text(found, count_only)
        if synced is not None:
            text = _sync_text(synced) + "\n" + text
        if running is not None:
            text += "\nThe refresh goes on: these results are from the previous sync. " + (
                working_text_for(running)
            )
        return result(text, found)


async def _duplicates(state: State, found: SearchOut, synced: SyncSummary | None) -> CallToolResult:
    """The account's likely duplicates, found in the mirror (one pass over it)."""
    from contacts_mcp.services.duplicates import mirror_duplicates

    groups = await anyio.to_thread.run_sync(mirror_duplicates, state.mirror)
    shown = groups[:MAX_GROUPS]
    answer = found.model_copy(
        update={
            "contacts": [],
            "next_after": None,
            "duplicates": shown,
            "duplicate_groups": len(groups),
        }
    )
    people = sum(len(group.contacts) for group in groups)
    lines = [
        f"{counted(len(groups), 'group')} of likely duplicates ({counted(people, 'contact')}) "
        f"among {counted(found.count, 'contact')}, most certain first:"
        if groups
        else f"No likely duplicates among {counted(found.count, 'contact')}."
    ]
    for group in shown[:SHOWN_GROUPS]:
        emails = ", ".join(
            label(c.email) + (" (keep)" if c.id == group.keep else "") for c in group.contacts
        )
        lines.append(f"- {group.confidence} ({', '.join(group.reasons)}): {emails}")
    if len(groups) > SHOWN_GROUPS:
        lines.append(f"… {len(groups) - SHOWN_GROUPS} more in the structured content.")
    lines.append(answer.mirror.note)
    text = "\n".join(lines)
    if synced is not None:
        text = _sync_text(synced) + "\n" + text
    return result(text, answer)


def _covers(running: Mapping[str, Any], asked: Mapping[str, Any]) -> bool:
    """Whether a sync already running does all the asked one would."""
    if asked.get("properties_max_age") is not None:
        return running == asked
    covered_modes = {"full": ("full", "new", "segments"), "new": ("new", "segments")}
    mode_covered = asked.get("mode") in covered_modes.get(running.get("mode", ""), ("segments",))
    # A first fill without memberships does not cover one that needs them.
    members_covered = running.get("memberships", True) or not asked.get("memberships", True)
    values_covered = running.get("properties", False) or not asked.get("properties", False)
    return (
        mode_covered
        and members_covered
        and values_covered
        and running.get("properties_max_age") is None
    )


def _start_sync(state: State, arguments: dict[str, Any]) -> Job:
    """A sync of the account's mirror: shared, as every caller's searches read it."""
    work = _sync_work(state, arguments)
    return state.jobs.start(
        SYNC_JOB.name, arguments, work, caller=state.caller(), shared=SYNC_JOB.shared
    )


async def _refresh(ctx: ToolContext, state: State, arguments: dict[str, Any]) -> Job:
    """The sync asked for, joined if one that covers it is running (a second search during
    a sync follows that job, rather than failing or starting another); then waited on."""
    running = next(
        (
            job
            for job in state.jobs.running()
            if job.kind == SYNC_JOB.name and _covers(job.arguments, arguments)
        ),
        None,
    )
    job = running or _start_sync(state, arguments)
    await state.jobs.wait(job, state.wait_seconds, increasing(ctx))
    if job.status == "failed":
        raise ToolError(f"The refresh failed: {job.error}")
    return job


async def fill_mirror(
    ctx: ToolContext, state: State, *, max_age: float | None = None, memberships: bool = True
) -> None:
    """Fill a mirror never synced (or, given `max_age` in seconds, one fully synced longer
    ago), so a first search (or selection) can answer if that ends within the wait
    budget; otherwise say which job is filling it. Without `memberships` (an answer that
    needs none, such as a count), a first fill lists the contacts alone; with them, a
    mirror filled that way reads its segments' member lists first."""
    for _ in range(2):  # a running sync joined may have left out the memberships wanted
        mirror = state.sets.state()
        members_wanted = memberships and mirror.memberships_pending
        if mirror.synced_at is not None and (max_age is None or mirror.listed_within(max_age)):
            if not (members_wanted or mirror.imports_pending):
                return
            # An import's new contacts: one list page per 100 brings them in (and, as any
            # sync does here by default, the member lists not read yet).
            mode = "new" if mirror.imports_pending else "segments"
            job = await _refresh(ctx, state, {"mode": mode, "properties": False})
            if members_wanted and job.status != "completed":
                raise ToolError(
                    "This account's segment memberships are being read first (a request per "
                    f"100 members). {working_text(job)} Then call again."
                )
            return
        arguments = {"mode": "full", "properties": False, "memberships": memberships}
        # A sync already running (a refresh) fills it too: wait for that one.
        running = next((job for job in state.jobs.running() if job.kind == SYNC_JOB.name), None)
        job = running or _start_sync(state, arguments)
        await state.jobs.wait(job, state.wait_seconds, increasing(ctx))
        if job.status == "failed":
            raise ToolError(f"Filling the mirror failed: {job.error}")
        if job.status != "completed":
            if mirror.synced_at is None:
                raise ToolError(_filling(job, state))
            raise ToolError(
                "This account's mirror is being refreshed first (a full sync), so the "
                f"contacts' state is current. {working_text(job)} Then "
                "call again."
            )
        if not (memberships and state.sets.state().memberships_pending):
            return


def _filling(job: Job, state: State) -> str:
    return (
        "This account's mirror is being filled (a first sync). "
        + working_text(job)
        + " Then search again."
    )
