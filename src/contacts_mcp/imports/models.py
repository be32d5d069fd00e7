"""What the import tools return: the preview report and the import summary.

These are kept apart from the machinery that produces them: the server registers its
tools (and so builds their output schemas from these models) at startup, while the code
that reads, maps, journals and uploads CSV files is only imported when an import runs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from contacts_mcp.api.models import PropertyType

__all__ = [
    "MAX_NOTES",
    "ColumnProposal",
    "FileFormat",
    "ImportSummary",
    "IssueSummary",
    "PreviewOut",
    "PreviewReport",
    "RowIssue",
    "Strategy",
    "Value",
]

MAX_NOTES = 20
Strategy = Literal["api", "rows"]


class ColumnProposal(BaseModel):
    column: str = Field(description="The CSV header.")
    maps_to: str = Field(
        description="email, first_name, last_name, unsubscribed, skip, or a property key."
    )
    property_type: PropertyType | None = Field(default=None, description="For property targets.")
    new_property: bool = Field(default=False, description="The property would be created.")
    reason: str = Field(description="Why this mapping was proposed.")
    samples: list[str] = Field(description="Up to 3 non-empty example values.")


Value = str | int | float | bool | None


class FileFormat(BaseModel):
    encoding: str
    delimiter: str
    has_header: bool


class RowIssue(BaseModel):
    row: int = Field(description="Line where the row starts; the header is line 1.")
    column: str | None = None
    value: str = Field(description="The cell (or row) as found, cut to 80 characters.")
    problem: str


class IssueSummary(BaseModel):
    count: int = 0
    examples: list[RowIssue] = Field(default_factory=list, description="The first 10.")


class PreviewReport(BaseModel):
    format: FileFormat
    columns: list[ColumnProposal]
    rows: int = Field(description="Data rows in the file.")
    importable_rows: int = Field(
        description="Rows with a valid, first-seen email address and no other problem."
    )
    invalid_emails: IssueSummary = Field(description="Rows with a missing or invalid address.")
    duplicate_emails: IssueSummary = Field(
        description="Rows repeating the address of an earlier importable row (case-insensitive)."
    )
    type_problems: IssueSummary = Field(
        description="Cells that do not fit their column: not a number, not yes/no."
    )
    malformed_rows: IssueSummary = Field(description="Rows whose field count differs.")
    sample: list[dict[str, Value]] = Field(description="The first 5 importable rows as sent.")
    column_map: dict[str, str] = Field(description="The `columns` argument for the import.")
    new_properties: dict[str, PropertyType] = Field(
        description="Contact properties the import would create."
    )
    notes: list[str] = Field(default_factory=list, description="File-level remarks.")


class ImportSummary(BaseModel):
    """The outcome of an import run (or of a dry run)."""

    strategy: Strategy
    dry_run: bool
    rows: int = Field(description="Data rows in the file.")
    created: int = 0
    updated: int = 0
    skipped: int = Field(default=0, description="Existing contacts left as they were.")
    failed: int = Field(default=0, description="Rows not imported; see failures_file.")
    duplicates: int = Field(default=0, description="Rows repeating an earlier row's email.")
    resumed_rows: int = Field(default=0, description="Rows done by an earlier, interrupted run.")
    requests: int = Field(default=0, description="API requests this run made.")
    seconds: float = 0.0
    import_ids: list[str] = Field(default_factory=list, description="Contact Imports API jobs.")
    failures_file: str | None = None
    summary_file: str | None = None
    notes: list[str] = Field(default_factory=list)

    @field_validator("notes")
    @classmethod
    def _few_notes(cls, notes: list[str]) -> list[str]:
        # Thousands of failing rows must not become thousands of notes: the failure
        # report file holds every row.
        if len(notes) <= MAX_NOTES:
            return notes
        return [*notes[:MAX_NOTES], f"... and {len(notes) - MAX_NOTES} more."]


class PreviewOut(PreviewReport):
    """The preview, plus where it came from and the arguments to import it as proposed."""

    file: str = Field(description="The file name (or inline.csv).")
    size_bytes: int
    import_arguments: dict[str, Any] = Field(
        description="Arguments for import_contacts that import the file as previewed."
    )
