"""The import tools: preview a CSV and import it, each as a job (see `tools.jobs`)."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import CallToolResult
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from contacts_mcp.imports.models import ImportSummary, PreviewOut
from contacts_mcp.server.screens import (
    APPROVAL_META,
    IMPORT_REVIEW,
    app_only,
    app_only_tool,
    client_supports_apps,
    screen,
)
from contacts_mcp.server.toolkit import (
    SegmentRefs,
    State,
    ToolContext,
    TopicChoices,
    hints,
    result,
    services,
    text_of,
)
from contacts_mcp.server.tools.bulk import Approval, NotAsked, ask_person, can_elicit
from contacts_mcp.server.tools.jobs import JobKind, JobOut, start_and_wait
from contacts_mcp.services.bulk import CONFIRM_SECONDS
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.jobs import utc_iso
from contacts_mcp.services.uploads import KEEP_SECONDS
from contacts_mcp.text.sanitize import clean
from contacts_mcp.text.words import counted

if TYPE_CHECKING:
    from contacts_mcp.imports.plan import ImportSource
    from contacts_mcp.services.jobs import Progress, Work

__all__ = ["IMPORT_JOBS", "register_import_tools"]

# Columns a column map may name: a contact needs few, and a map past this is a mistake.
MAX_COLUMNS = 200

PathArg = Annotated[
    str | SkipJsonSchema[None],
    Field(description="CSV file path inside an allowed import folder.", max_length=1024),
]
TextArg = Annotated[
    str | SkipJsonSchema[None], Field(description="CSV content, instead of a path (≤ 2 MB).")
]
UploadArg = Annotated[
    str | SkipJsonSchema[None],
    Field(description="An upload's id (sent from the import screen).", max_length=60),
]
ColumnsArg = Annotated[
    dict[str, str],
    Field(
        description=(
            "CSV column → email | first_name | last_name | unsubscribed | segments | topics | "
            "skip | property key."
        ),
        max_length=MAX_COLUMNS,
    ),
]
NewPropertiesArg = Annotated[
    Annotated[dict[str, Literal["string", "number"]], Field(max_length=MAX_COLUMNS)]
    | SkipJsonSchema[None],
    Field(description="Property keys to create → type."),
]
EncodingArg = Annotated[
    str | SkipJsonSchema[None], Field(description="e.g. cp1252; default: detected.", max_length=40)
]
DelimiterArg = Annotated[
    Literal[",", ";", "\t", "|"] | SkipJsonSchema[None], Field(description="Default: detected.")
]
HeaderArg = Annotated[bool | SkipJsonSchema[None], Field(description="Default: detected.")]


def _preview_text(report: PreviewOut) -> str:
    fmt = report.format
    delimiter = {"\t": "tab"}.get(fmt.delimiter, fmt.delimiter)
    lines = [
        f"{clean(report.file)}: {counted(report.rows, 'row')}, {report.importable_rows} importable "
        f"({fmt.encoding}, delimiter {delimiter!r}, header {'yes' if fmt.has_header else 'no'}).",
        "Proposed mapping:",
    ]
    for column in report.columns:
        target = column.maps_to
        if column.property_type and target not in ("email", "first_name", "last_name", "skip"):
            target += f" ({'new ' if column.new_property else ''}{column.property_type} property)"
        lines.append(f"- {clean(column.column, 60)} → {clean(target, 60)}: {clean(column.reason)}")
    for kind, summary in (
        ("invalid emails", report.invalid_emails),
        ("duplicate emails", report.duplicate_emails),
        ("values of the wrong type", report.type_problems),
        ("malformed rows", report.malformed_rows),
    ):
        if summary.count:
            examples = "; ".join(
                f"row {issue.row}: {clean(issue.value, 40)!r} {clean(issue.problem, 60)}"
                for issue in summary.examples[:3]
            )
            lines.append(f"{summary.count} {kind} (e.g. {examples})")
    lines.append("Show this to the user; then call import_contacts with import_arguments.")
    return "\n".join(lines)


def _summary_text(summary: ImportSummary) -> str:
    verb = "Would import" if summary.dry_run else "Imported"
    text = (
        f"{verb} {counted(summary.rows, 'row')} via {summary.strategy}: {summary.created} created, "
        f"{summary.updated} updated, {summary.skipped} skipped, {summary.failed} failed, "
        f"{summary.duplicates} duplicates"
    )
    if summary.resumed_rows:
        text += f" ({counted(summary.resumed_rows, 'row')} done by an earlier run)"
    text += f"; {counted(summary.requests, 'request')} in {summary.seconds:.1f} s."
    if summary.import_ids:
        text += f"\nResend import ids (get_job takes them): {', '.join(summary.import_ids)}"
    if summary.failures_file:
        text += f"\nRows not imported, with reasons: {summary.failures_file}"
    for note in summary.notes[:5]:
        text += f"\n- {clean(note, 200)}"
    return text


def _source(arguments: Mapping[str, Any]) -> ImportSource:
    from contacts_mcp.imports.plan import ImportSource

    return ImportSource(
        arguments.get("path"),
        arguments.get("csv_text"),
        arguments.get("encoding"),
        arguments.get("delimiter"),
        arguments.get("has_header"),
        upload=arguments.get("upload"),
        upload_file=arguments.get("upload_file"),
    )


def _with_upload(state: State, arguments: dict[str, Any]) -> dict[str, Any]:
    """The job's arguments with the caller's upload resolved to its file, now, while the
    request says who is calling (only the caller who sent it may import it)."""
    upload = arguments.get("upload")
    if upload is None or "path" in arguments or "csv_text" in arguments:
        return arguments  # the import's own check says what to give
    try:
        found = state.uploads.path_of(str(upload).strip(), state.caller())
    except UserFacingError as exc:
        raise ToolError(str(exc)) from None
    return {**arguments, "upload_file": str(found)}


def _preview_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> PreviewOut:
        return await state.imports.preview(
            _source(arguments),
            columns=arguments.get("columns"),
            new_properties=arguments.get("new_properties"),
            progress=progress,
            api_seconds=state.api_deadline,
        )

    return work


def _import_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> ImportSummary:
        from contacts_mcp.services.before_state import JOURNAL_SUFFIX
        from contacts_mcp.services.jobs import running_job_id

        # What each contact was before, named by the job: update_contacts(undo=<job>).
        job_id = running_job_id()
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        journal = (
            None
            if job_id is None
            else state.snapshots / f"imported-{stamp}-{job_id}{JOURNAL_SUFFIX}"
        )
        summary = await state.imports.run(
            _source(arguments),
            columns=arguments["columns"],
            on_conflict=arguments["on_conflict"],
            new_properties=arguments.get("new_properties"),
            create_missing_properties=arguments.get("create_missing_properties", False),
            segments=arguments.get("segments") or (),
            topics=arguments.get("topics"),
            dry_run=arguments.get("dry_run", False),
            strategy=arguments.get("strategy", "auto"),
            progress=progress,
            before_state=journal,
            written=state.written,
        )
        if journal is not None and not summary.dry_run:
            summary.notes.append(_undo_note(summary, job_id or "", arguments["on_conflict"]))
        if not summary.dry_run:
            # An import is a write through this server: searches should see it.
            note = await state.sets.after_import(
                created=summary.created,
                updated=summary.updated,
                upsert=arguments["on_conflict"] == "upsert",
                progress=progress,
            )
            if note:
                summary.notes.append(note)
        return summary

    return work


def _undo_note(summary: ImportSummary, job_id: str, on_conflict: str) -> str:
    note = (
        f"To take this import back: update_contacts(undo={job_id!r}) deletes the contacts "
        "it created and puts back what it changed, except where a contact changed since."
    )
    if summary.resumed_rows:
        note += (
            " The rows an earlier, interrupted run of it did are undone with that run's job "
            "(get_job lists recent jobs)."
        )
    if summary.strategy == "api" and on_conflict == "upsert":
        note += (
            " Through Resend's Contact Imports API, only what it created: what it changed "
            "of existing contacts is not reported per contact (strategy 'rows' records it)."
        )
    return note


PREVIEW_JOB = JobKind("preview", PreviewOut, _preview_work, _preview_text, writes=False)
IMPORT_JOB = JobKind("import", ImportSummary, _import_work, _summary_text)
IMPORT_JOBS: tuple[JobKind[Any], ...] = (PREVIEW_JOB, IMPORT_JOB)


def _given(**arguments: Any) -> dict[str, Any]:
    """The arguments a job journals: those given, as plain JSON."""
    return {key: value for key, value in arguments.items() if value is not None}


# The most of a file one upload_csv call carries (base64 makes it a third larger on the
# wire): well under a host's message limits, and a progress step the screen can show.
MAX_CHUNK_BYTES = 1024 * 1024


class UploadOut(BaseModel):
    upload_id: str
    size: int = Field(description="Bytes held so far.")
    done: bool
    expires_at: str


class ImportApprovalAnswer(BaseModel):
    run: JobOut[ImportSummary] | None = Field(
        default=None, description="The import, once approved."
    )
    cancelled: bool = False


# Shown to an Apps client's model when preview_import names no file: the screen offers
# the person a file picker.
NO_FILE = (
    "No file given. The person can pick a CSV file from their machine in the import screen "
    "shown with this answer; or give `path` (a file in an import folder) or `csv_text`."
)
NOT_VALID = (
    "This approval is not valid: already used, expired, or not one this server gave this "
    "screen. Nothing was imported; check the mapping again for a new one."
)


def _would_update(on_conflict: str, dry_run: bool) -> bool:
    """Whether an import may change existing contacts (upsert, not a dry run)."""
    return on_conflict == "upsert" and not dry_run


async def ask_to_import(
    ctx: ToolContext,
    on_conflict: str = "skip",
    dry_run: bool = False,
    path: str | None = None,
    csv_text: str | None = None,
    upload: str | None = None,
    columns: dict[str, str] | None = None,
    new_properties: dict[str, str] | None = None,
    create_missing_properties: bool = False,
    segments: list[str] | None = None,
    topics: dict[str, str] | None = None,
    strategy: str = "auto",
) -> Elicit[Approval] | Approval | NotAsked:
    """Under --approval required, ask the person to approve an import that would update
    existing contacts, where the client can ask them (as the bulk tools ask)."""
    state = services(ctx)
    if not (state.approval_required and _would_update(on_conflict, dry_run)):
        return NotAsked()
    if not can_elicit(ctx) or sum(v is not None for v in (path, csv_text, upload)) != 1:
        return NotAsked()  # nobody to ask, or an import the tool refuses anyway
    source = (
        f"the file {clean(path, 80)!r}"
        if path is not None
        else "the uploaded file"
        if upload is not None
        else "the CSV text given"
    )
    mapped = sum(target != "skip" for target in (columns or {}).values())
    created = f", creating {counted(len(new_properties), 'property')}" if new_properties else ""
    message = (
        f"Import contacts from {source} ({counted(mapped, 'column')} mapped{created}), "
        "updating contacts that already exist. Approve?"
    )
    # The answer is kept for exactly this import (see `ask_person`).
    key = json.dumps(
        [path, csv_text, upload, columns, new_properties, create_missing_properties,
         segments, topics, strategy, on_conflict],
        sort_keys=True, ensure_ascii=False,
    )  # fmt: skip
    return await ask_person(ctx, key, (message, time.time() + CONFIRM_SECONDS))


ImportPersonApproval = Annotated[ElicitationResult[Any], Resolve(ask_to_import)]


def _require_person(ctx: ToolContext, person: ElicitationResult[Any]) -> None:
    """Under --approval required, an import that would update existing contacts runs only
    on a person's yes: refused otherwise, saying where they can give it."""
    if not isinstance(person, AcceptedElicitation):
        raise ToolError("The person did not approve: nothing was imported.")
    if isinstance(person.data, Approval):
        if person.data.approve:
            return
        raise ToolError("The person did not approve: nothing was imported.")
    if client_supports_apps(ctx):
        where = (
            "Call preview_import: the person reviews the mapping and approves in the import screen."
        )
    else:
        where = (
            "This client can ask nobody (no elicitation, no MCP Apps): run it from a host that can."
        )
    raise ToolError(
        "This server updates existing contacts only when a person approves (--approval "
        "required), and nobody has: nothing was imported. An import with on_conflict='skip' "
        f"(creating only), or a dry_run, needs none. {where}"
    )


def _with_approval(ctx: ToolContext, answer: CallToolResult) -> CallToolResult:
    """A preview for a client with MCP Apps, with a one-time nonce in `_meta` (never where
    the model reads) approving the import of exactly this preview's `import_arguments`:
    bound to the preview job, read from its result when approved."""
    data = answer.structured_content or {}
    if data.get("status") not in ("completed", "working"):
        return answer
    state = services(ctx)
    expires = time.time() + CONFIRM_SECONDS
    approved = {"preview_job": str(data["job_id"])}
    nonce = state.approvals.issue("import_contacts", approved, state.caller(), expires)
    answer.meta = {
        **(answer.meta or {}),
        APPROVAL_META: {"nonce": nonce, "expires_at": utc_iso(expires)},
    }
    return answer


def _approved_import(state: State, approved: Mapping[str, Any]) -> dict[str, Any]:
    """The import_contacts arguments a nonce approves: its preview's `import_arguments`,
    with the CSV text the preview read (its arguments hold a placeholder)."""
    try:
        job = state.jobs.find(str(approved.get("preview_job", "")), state.caller())
    except UserFacingError:
        raise ToolError(NOT_VALID) from None
    if job.kind != PREVIEW_JOB.name or job.status != "completed" or job.result is None:
        raise ToolError(
            f"The preview (job {job.id}) did not finish ({job.status}): nothing was imported. "
            "Check the mapping again."
        )
    arguments = dict(PreviewOut.model_validate(job.result).import_arguments)
    if "csv_text" in arguments:
        arguments["csv_text"] = job.arguments.get("csv_text")
    return arguments


def register_import_tools(server: MCPServer[State]) -> None:
    @server.tool(annotations=hints("Preview CSV import", "read"), meta=screen(IMPORT_REVIEW))
    async def preview_import(
        ctx: ToolContext,
        path: PathArg = None,
        csv_text: TextArg = None,
        upload: UploadArg = None,
        columns: ColumnsArg | SkipJsonSchema[None] = None,
        new_properties: NewPropertiesArg = None,
        encoding: EncodingArg = None,
        delimiter: DelimiterArg = None,
        has_header: HeaderArg = None,
    ) -> Annotated[CallToolResult, JobOut[PreviewOut]]:
        """Read a CSV and propose a column mapping; report bad rows. Writes nothing.

        Pass `columns` to check an edited mapping.
        """
        arguments = _given(
            path=path, csv_text=csv_text, upload=upload, columns=columns,
            new_properties=new_properties, encoding=encoding, delimiter=delimiter,
            has_header=has_header,
        )  # fmt: skip
        apps = client_supports_apps(ctx)
        if apps and path is None and csv_text is None and upload is None:
            raise ToolError(NO_FILE)  # the screen offers a file picker
        state = services(ctx)
        answer = await start_and_wait(ctx, PREVIEW_JOB, _with_upload(state, arguments))
        # A read-only server imports nothing: its screen gets no approval to offer.
        return _with_approval(ctx, answer) if apps and not state.read_only else answer

    @server.tool(annotations=hints("Import contacts from CSV", "update"))
    async def import_contacts(
        ctx: ToolContext,
        person: ImportPersonApproval,
        columns: ColumnsArg,
        on_conflict: Annotated[
            Literal["upsert", "skip"],
            Field(description="Existing contacts: upsert updates them, skip leaves them."),
        ],
        path: PathArg = None,
        csv_text: TextArg = None,
        upload: UploadArg = None,
        new_properties: NewPropertiesArg = None,
        create_missing_properties: Annotated[
            bool, Field(description="Allow creating new_properties.")
        ] = False,
        segments: SegmentRefs | SkipJsonSchema[None] = None,
        topics: TopicChoices | SkipJsonSchema[None] = None,
        dry_run: Annotated[bool, Field(description="Check and count only.")] = False,
        strategy: Annotated[
            Literal["auto", "api", "rows"],
            Field(description="api: Resend's import API; rows: one by one; auto picks."),
        ] = "auto",
        encoding: EncodingArg = None,
        delimiter: DelimiterArg = None,
        has_header: HeaderArg = None,
    ) -> Annotated[CallToolResult, JobOut[ImportSummary]]:
        """Import contacts from a CSV, after preview_import and the user's OK. A job;
        run it again to finish an interrupted one.
        """
        arguments = _given(
            path=path, csv_text=csv_text, upload=upload, columns=columns, on_conflict=on_conflict,
            new_properties=new_properties, create_missing_properties=create_missing_properties,
            segments=segments, topics=topics, dry_run=dry_run, strategy=strategy,
            encoding=encoding, delimiter=delimiter, has_header=has_header,
        )  # fmt: skip
        state = services(ctx)
        if state.approval_required and _would_update(on_conflict, dry_run):
            _require_person(ctx, person)
        return await start_and_wait(ctx, IMPORT_JOB, _with_upload(state, arguments))

    @server.tool(
        annotations=hints("Approve a reviewed import", "update"), meta=app_only(IMPORT_REVIEW)
    )
    async def approve_import(
        ctx: ToolContext,
        nonce: Annotated[str, Field(description="From the preview's _meta.", max_length=100)],
        approve: Annotated[bool, Field(description="false cancels: nothing runs.")],
        on_conflict: Annotated[
            Literal["upsert", "skip"], Field(description="upsert updates existing contacts.")
        ] = "skip",
    ) -> Annotated[CallToolResult, ImportApprovalAnswer]:
        """For the import screen only: run (or cancel) the import it shows."""
        state = services(ctx)
        pending = state.approvals.spend(nonce.strip(), state.caller())
        if pending is None or pending.tool != "import_contacts":
            raise ToolError(NOT_VALID)
        if not approve:
            return result("Cancelled: nothing was imported.", ImportApprovalAnswer(cancelled=True))
        arguments = {**_approved_import(state, pending.arguments), "on_conflict": on_conflict}
        answer = await start_and_wait(ctx, IMPORT_JOB, _with_upload(state, arguments))
        run = JobOut[ImportSummary].model_validate(answer.structured_content)
        return result(text_of(answer), ImportApprovalAnswer(run=run))

    @server.tool(annotations=hints("Upload a CSV", "create"), meta=app_only_tool())
    async def upload_csv(
        ctx: ToolContext,
        data: Annotated[str, Field(description="The next chunk, base64.", max_length=1_500_000)],
        offset: Annotated[int, Field(description="Bytes sent before this chunk.", ge=0)] = 0,
        upload_id: Annotated[
            str | SkipJsonSchema[None], Field(description="Omit to begin.", max_length=60)
        ] = None,
        name: Annotated[str, Field(description="The file's name.", max_length=200)] = "upload.csv",
        done: Annotated[bool, Field(description="This is the last chunk.")] = False,
    ) -> Annotated[CallToolResult, UploadOut]:
        """For the import screen only: send a CSV from the person's machine, in chunks."""
        state = services(ctx)
        caller = state.caller()
        try:
            chunk = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ToolError("`data` is not base64: send the chunk base64-encoded.") from None
        if len(chunk) > MAX_CHUNK_BYTES:
            raise ToolError(f"A chunk carries at most {MAX_CHUNK_BYTES // 1024} KB: split it.")
        try:
            if upload_id is None:
                if offset:
                    raise UserFacingError("A new upload starts at offset 0.")
                upload_id = state.uploads.begin(caller, clean(name, 200)).id
            held = state.uploads.append(upload_id, caller, offset, chunk)
            if done:
                held = state.uploads.finish(upload_id, caller)
        except UserFacingError as exc:
            raise ToolError(str(exc)) from None
        text = (
            f"Upload {held.id}: {held.size:,} bytes, "
            + ("whole: preview_import or import_contacts take it as `upload`." if held.finished
               else "send the next chunk from that offset.")
            + f" Kept for {KEEP_SECONDS // 3600} hours."
        )  # fmt: skip
        out = UploadOut(
            upload_id=held.id, size=held.size, done=held.finished, expires_at=utc_iso(held.expires)
        )
        return result(text, out)
