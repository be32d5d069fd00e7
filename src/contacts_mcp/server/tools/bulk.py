"""Sets of contacts acted on: delete them (confirmed by the server) or export them.

A selection is `contacts` (ids or emails) or `where` (search_contacts' conditions).
Without `confirm`, `delete_contacts` only previews: the count, a sample, the cost, and
a confirmation bound to exactly that. With it, the server checks the confirmation,
asks the person where the client can (form elicitation), and runs the job.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import CallToolResult, ResourceLink, ToolAnnotations
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from contacts_mcp.server.render import LIST_COLUMNS, contact_row
from contacts_mcp.server.toolkit import State, ToolContext, hints, result, run, services
from contacts_mcp.server.tools.jobs import JobKind, JobOut, start_and_wait
from contacts_mcp.server.tools.sets import fill_mirror
from contacts_mcp.services.bulk import (
    CONFIRM_SECONDS,
    READ_ONE_BY_ONE_UP_TO,
    BulkOutcome,
    ExportOutcome,
)
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.jobs import utc_iso
from contacts_mcp.services.sets import Condition, FoundContact, decode_search
from contacts_mcp.text.sanitize import label, quoted

if TYPE_CHECKING:
    from contacts_mcp.services.bulk import Selected
    from contacts_mcp.services.jobs import Progress, Work

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
# Requests/s assumed for estimates until Resend's headers say (its documented default).
ASSUMED_RATE = 10.0

ContactsArg = Annotated[
    Annotated[list[Annotated[str, Field(max_length=320)]], Field(max_length=100_000)]
    | SkipJsonSchema[None],
    Field(description="Contact ids or emails (≤ 10,000)."),
]
SearchArg = Annotated[
    Annotated[str, Field(max_length=8000)] | SkipJsonSchema[None],
    Field(description="Or: the `selection` of a search_contacts answer."),
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
    confirm: str = Field(description="Pass as `confirm` to run exactly this.")
    expires_at: str


class DeleteAnswer(BaseModel):
    preview: BulkPreview | None = None
    run: JobOut[BulkOutcome] | None = None


def _can_elicit(ctx: ToolContext) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` (before modes existed) means form; url-only does not.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def ask_person(ctx: ToolContext, confirm: str | None) -> Elicit[Approval] | NotAsked:
    """Ask the person to approve a confirmed run, where the client can ask them."""
    state = services(ctx)
    found = state.confirmations.read(confirm) if confirm else None
    if found is None or not _can_elicit(ctx):
        return NotAsked()
    return Elicit(
        f"{found.summary} ({found.count} contacts). This cannot be undone; a snapshot is "
        "kept for re-import. Approve?",
        Approval,
    )


PersonArg = Annotated[ElicitationResult[Any], Resolve(ask_person)]


def _declined(person: ElicitationResult[Any]) -> bool:
    if not isinstance(person, AcceptedElicitation):
        return True  # declined or cancelled
    return isinstance(person.data, Approval) and not person.data.approve


def _estimate(state: State, requests: int) -> int:
    rate = state.client.pacer.rate_limit or ASSUMED_RATE
    return max(1, round(requests / rate))


def _sample(selected: Selected) -> list[FoundContact]:
    return [
        FoundContact(
            id=c.id, email=c.email, first_name=c.first_name, last_name=c.last_name,
            unsubscribed=c.unsubscribed, created_at=c.created_at,
        )
        for c, _ in selected.contacts[:SAMPLE]
    ]  # fmt: skip


def _conditions(search: str | None) -> list[Condition] | None:
    if search is None:
        return None
    try:
        return decode_search(search)
    except UserFacingError as exc:
        raise ToolError(str(exc)) from None


def _selection_args(contacts: list[str] | None, where: list[Condition] | None) -> dict[str, Any]:
    if where is not None:
        return {"where": [c.model_dump() for c in where]}
    return {"contacts": contacts}


def _delete_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> BulkOutcome:
        from contacts_mcp.services.bulk import delete_selected, select

        # Exactly the contacts previewed (their ids were checked against the confirmation).
        selected = await select(state.sets, state.client, arguments["ids"], None)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        snapshot = state.snapshots / f"deleted-{stamp}-{arguments['nonce']}.csv"
        return await delete_selected(state.client, state.sets, selected, snapshot, progress)

    return work


def _outcome_text(outcome: BulkOutcome) -> str:
    text = (
        f"Deleted {outcome.done} of {outcome.selected} contacts ({outcome.unchanged} already "
        f"gone, {outcome.failed} failed); {outcome.requests} requests in {outcome.seconds:.1f} s."
    )
    if outcome.snapshot_file:
        text += f"\nSnapshot (re-import with import_contacts): {outcome.snapshot_file}"
    if outcome.failures_file:
        text += f"\nNot deleted, with reasons: {outcome.failures_file}"
    return text


DELETE_JOB = JobKind("delete", BulkOutcome, _delete_work, _outcome_text)


def _export_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> ExportOutcome:
        from contacts_mcp.services.bulk import export_selected

        where = arguments.get("where")
        return await export_selected(
            state.client,
            state.sets,
            arguments.get("contacts"),
            None if where is None else [Condition.model_validate(c) for c in where],
            arguments.get("properties"),
            Path(arguments["file"]) if arguments.get("file") else None,
            overwrite=arguments.get("overwrite", False),
            progress=progress,
        )

    return work


def _export_text(outcome: ExportOutcome) -> str:
    text = f"Exported {outcome.rows} contacts ({', '.join(outcome.columns)})"
    text += f" to {outcome.file}." if outcome.file else "."
    if outcome.refreshed:
        text += " The mirror was synced first."
    if outcome.contacts:
        shown = outcome.contacts[:SAMPLE]
        text += (
            f"\nThe rows are in the structured content; the first {len(shown)} (email | segments):"
        )
        text += "".join(f"\n{label(row['email'])} | {quoted(row['segments'])}" for row in shown)
    return text


EXPORT_JOB = JobKind("export", ExportOutcome, _export_work, _export_text)
BULK_JOBS: tuple[JobKind[Any], ...] = (DELETE_JOB, EXPORT_JOB)


def register_bulk_tools(server: MCPServer[State]) -> None:
    @server.tool(annotations=hints("Delete contacts", "delete"))
    async def delete_contacts(
        ctx: ToolContext,
        person: PersonArg,
        contacts: ContactsArg = None,
        search: SearchArg = None,
        confirm: ConfirmArg = None,
    ) -> Annotated[CallToolResult, DeleteAnswer]:
        """Delete many contacts. First call without `confirm`: a preview that writes
        nothing; show it to the user, then call again with its `confirm`.
        """
        from contacts_mcp.services.bulk import select

        state = services(ctx)
        where = _conditions(search)
        if where is not None or len(contacts or ()) > READ_ONE_BY_ONE_UP_TO:
            # A search needs the mirror; so do many named contacts: paging the account
            # (100 a request) beats reading each one it does not hold (2 requests each).
            await fill_mirror(ctx, state)
        selected = await run(select(state.sets, state.client, contacts, where))
        if not selected.contacts:
            raise ToolError(
                "No contacts to delete: the selection matches none"
                + (
                    f" ({len(selected.missing)} named contacts do not exist)."
                    if selected.missing
                    else "."
                )
            )
        change = {"delete": True}
        if confirm is None:
            summary = f"Delete {len(selected.contacts)} contacts"
            requests = (
                len(selected.contacts)
                + sum(1 for c, _ in selected.contacts if c.properties is None)
                + 1
            )
            preview = BulkPreview(
                action="delete",
                count=len(selected.contacts),
                missing=selected.missing,
                sample=_sample(selected),
                requests=requests,
                estimated_seconds=_estimate(state, requests),
                confirm=state.confirmations.issue("delete", selected, change, summary),
                expires_at=utc_iso(time.time() + CONFIRM_SECONDS),
            )
            return result(_preview_text(preview), DeleteAnswer(preview=preview))
        try:
            checked = state.confirmations.check(confirm, "delete", selected, change)
        except UserFacingError as exc:  # refused: nothing is written
            raise ToolError(str(exc)) from None
        arguments = {"ids": selected.ids, "nonce": checked.nonce}
        earlier = state.jobs.previous(DELETE_JOB.name, arguments)
        if earlier is not None and earlier.status != "working":
            raise ToolError(
                f"That confirmation was already used (job {earlier.id}, {earlier.status}). "
                "Call again without `confirm` for a new preview."
            )
        if _declined(person):
            raise ToolError("The person did not approve: nothing was deleted.")
        answer = await start_and_wait(ctx, DELETE_JOB, arguments)
        assert isinstance(answer.structured_content, dict)
        ran = JobOut[BulkOutcome].model_validate(answer.structured_content)
        text = answer.content[0].text if answer.content[0].type == "text" else ""
        return result(text, DeleteAnswer(run=ran))


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
    ) -> Annotated[CallToolResult, JobOut[ExportOutcome]]:
        """Export contacts as formula-safe CSV that import_contacts reads back unchanged."""
        from contacts_mcp.imports.files import path_for_export

        state = services(ctx)
        where = _conditions(search)
        if (contacts is None) == (where is None):
            raise ToolError(
                "Select contacts with exactly one of `contacts` (ids or emails) or `search` "
                "(the selection of a search_contacts answer)."
            )
        await run(state.sets.property_keys(properties))  # unknown keys: refused now
        try:
            target = (
                None if path is None else path_for_export(path, state.files, overwrite=overwrite)
            )
        except UserFacingError as exc:  # refused: nothing is written
            raise ToolError(str(exc)) from None
        arguments = {
            **_selection_args(contacts, where),
            "properties": properties,
            "file": None if target is None else str(target),
            "overwrite": overwrite,
        }
        answer = await start_and_wait(ctx, EXPORT_JOB, arguments)
        if (
            target is not None
            and answer.structured_content
            and answer.structured_content.get("result")
        ):
            answer.content.append(
                ResourceLink(
                    type="resource_link",
                    uri=target.resolve().as_uri(),
                    name=target.name,
                    mime_type="text/csv",
                )
            )
        return answer


def _preview_text(preview: BulkPreview) -> str:
    lines = [
        f"Preview, nothing written: {preview.action} {preview.count} contacts; "
        f"{preview.requests} requests, about {preview.estimated_seconds} s.",
    ]
    if preview.missing:
        lines.append(f"{len(preview.missing)} named contacts do not exist.")
    lines.append(f"First {len(preview.sample)} ({LIST_COLUMNS}):")
    lines.extend(contact_row(c) for c in preview.sample)
    lines.append(
        "Show this to the user. To run exactly this, call again with the same selection "
        f"and confirm={preview.confirm} (valid 10 minutes)."
    )
    return "\n".join(lines)
