"""The import tools' settings and results, kept apart from the import machinery.

Tool registration needs these models (for output schemas) when the server starts; the
machinery that reads, journals and uploads files is only imported when an import runs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from contacts_mcp._api_imports import ContactImport
from contacts_mcp._import_settings import ImportSettings
from contacts_mcp._preview import PreviewReport

__all__ = ["MAX_NOTES", "ImportList", "ImportSettings", "ImportSummary", "PreviewOut", "Strategy"]

MAX_NOTES = 20
Strategy = Literal["api", "rows"]


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


class ImportList(BaseModel):
    imports: list[ContactImport]
