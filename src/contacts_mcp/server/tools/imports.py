"""The import tools: preview a CSV, import it, and check Contact Imports API jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from contacts_mcp.api.imports import ContactImport
from contacts_mcp.imports.models import ImportList, ImportSummary, PreviewOut

if TYPE_CHECKING:
    from contacts_mcp.imports.plan import Progress
from contacts_mcp.server.toolkit import (
    SegmentRefs,
    State,
    ToolContext,
    TopicChoices,
    hints,
    result,
    run,
    services,
)
from contacts_mcp.text.sanitize import clean, label

__all__ = ["register_import_tools"]

# Columns a column map may name: a contact needs few, and a map past this is a mistake.
MAX_COLUMNS = 200

PathArg = Annotated[
    str | SkipJsonSchema[None],
    Field(description="CSV file path inside an allowed import folder.", max_length=1024),
]
TextArg = Annotated[
    str | SkipJsonSchema[None], Field(description="CSV content, instead of a path (≤ 2 MB).")
]
ColumnsArg = Annotated[
    dict[str, str],
    Field(
        description=(
            "CSV column → email | first_name | last_name | unsubscribed | skip | property key."
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


class ImportJobs(BaseModel):
    imports: list[ContactImport]


def _preview_text(report: PreviewOut) -> str:
    fmt = report.format
    delimiter = {"\t": "tab"}.get(fmt.delimiter, fmt.delimiter)
    lines = [
        f"{clean(report.file)}: {report.rows} rows, {report.importable_rows} importable "
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
        f"{verb} {summary.rows} rows via {summary.strategy}: {summary.created} created, "
        f"{summary.updated} updated, {summary.skipped} skipped, {summary.failed} failed, "
        f"{summary.duplicates} duplicates"
    )
    if summary.resumed_rows:
        text += f" ({summary.resumed_rows} rows done by an earlier run)"
    text += f"; {summary.requests} requests in {summary.seconds:.1f} s."
    if summary.failures_file:
        text += f"\nRows not imported, with reasons: {summary.failures_file}"
    for note in summary.notes[:5]:
        text += f"\n- {clean(note, 200)}"
    return text


def _job_line(job: ContactImport) -> str:
    c = job.counts
    return (
        f"{label(job.id, 40)}: {label(job.status, 20)} | {c.total} rows, {c.created} created, "
        f"{c.updated} updated, "
        f"{c.skipped} skipped, {c.failed} failed | started {job.created_at[:16]}"
    )


def _increasing(ctx: ToolContext) -> Progress:
    """`ctx.report_progress`, passing on only reports that move forward and are not final.

    MCP requires each progress notification of a request to be greater than the last;
    the import reports phases ("reading the file", "uploading part 1") at the same count.
    A report that reaches the total comes just before the result, and a notification sent
    with the result is dropped by the TypeScript SDK with an error: the result says it.
    """
    last: float | None = None

    async def report(progress: float, total: float | None, message: str) -> None:
        nonlocal last
        if (last is not None and progress <= last) or (total and progress >= total):
            return
        last = progress
        await ctx.report_progress(progress, total, message)

    return report


def register_import_tools(server: MCPServer[State]) -> None:
    @server.tool(annotations=hints("Preview CSV import", "read"))
    async def preview_import(
        ctx: ToolContext,
        path: PathArg = None,
        csv_text: TextArg = None,
        columns: ColumnsArg | SkipJsonSchema[None] = None,
        new_properties: NewPropertiesArg = None,
        encoding: EncodingArg = None,
        delimiter: DelimiterArg = None,
        has_header: HeaderArg = None,
    ) -> Annotated[CallToolResult, PreviewOut]:
        """Read a CSV and propose a column mapping; report bad rows. Writes nothing.

        Pass `columns` to check an edited mapping.
        """
        from contacts_mcp.imports.plan import ImportSource

        source = ImportSource(path, csv_text, encoding, delimiter, has_header)
        report = await run(
            services(ctx).imports.preview(
                source, columns=columns, new_properties=new_properties, progress=_increasing(ctx)
            )
        )
        return result(_preview_text(report), report)

    @server.tool(annotations=hints("Import contacts from CSV", "update"))
    async def import_contacts(
        ctx: ToolContext,
        columns: ColumnsArg,
        on_conflict: Annotated[
            Literal["upsert", "skip"],
            Field(description="Existing contacts: upsert updates them, skip leaves them."),
        ],
        path: PathArg = None,
        csv_text: TextArg = None,
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
    ) -> Annotated[CallToolResult, ImportSummary]:
        """Import contacts from a CSV, after preview_import and the user's OK.

        Resumable: run the same import again to finish an interrupted one.
        """
        from contacts_mcp.imports.plan import ImportSource

        source = ImportSource(path, csv_text, encoding, delimiter, has_header)
        summary = await run(
            services(ctx).imports.run(
                source,
                columns=columns,
                on_conflict=on_conflict,
                new_properties=new_properties,
                create_missing_properties=create_missing_properties,
                segments=segments or (),
                topics=topics,
                dry_run=dry_run,
                strategy=strategy,
                progress=_increasing(ctx),
            )
        )
        return result(_summary_text(summary), summary)

    @server.tool(annotations=hints("Get import status", "read"))
    async def get_import(
        ctx: ToolContext,
        import_id: Annotated[
            str | SkipJsonSchema[None],
            Field(description="Omit to list recent imports.", max_length=100),
        ] = None,
    ) -> Annotated[CallToolResult, ImportJobs]:
        """Status and counts of Contact Imports API jobs."""
        found = await run(services(ctx).imports.status(import_id))
        jobs = found.imports if isinstance(found, ImportList) else [found]
        text = "\n".join(_job_line(job) for job in jobs) or "No imports yet."
        return result(text, ImportJobs(imports=jobs))
