"""Contact Imports endpoints (Resend beta): upload a CSV, then poll the import's status."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import BinaryIO, Literal

from pydantic import BaseModel, ConfigDict

from contacts_mcp.api.base import APIBase, segment
from contacts_mcp.api.errors import APIError
from contacts_mcp.api.models import CreatedObject, Page, PropertyType, Subscription

__all__ = ["ContactImport", "ImportCounts", "ImportStatus", "ImportsAPI", "OnConflict"]

ImportStatus = Literal["queued", "in_progress", "completed", "failed"]
OnConflict = Literal["upsert", "skip"]


class ImportCounts(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    total: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0


class ContactImport(BaseModel):
    """One import job as `GET /contacts/imports/{id}` describes it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    status: ImportStatus
    created_at: str
    completed_at: str | None = None
    counts: ImportCounts = ImportCounts()


class ImportsAPI(APIBase):
    """`/contacts/imports` endpoints."""

    async def create_contact_import(
        self,
        file: BinaryIO,
        *,
        filename: str,
        columns: Mapping[str, str],
        property_types: Mapping[str, PropertyType],
        on_conflict: OnConflict,
        segments: Sequence[str] = (),
        topics: Mapping[str, Subscription] | None = None,
    ) -> CreatedObject:
        """`POST /contacts/imports` (multipart). Not retried once it may have been received.

        `columns` maps the CSV's built-in columns (email, first_name, last_name,
        unsubscribed) to header names; `property_types` maps property keys, which are
        also their header names, to types. `on_conflict` is always sent: Resend's own
        sources disagree on its default.
        """
        column_map: dict[str, object] = dict(columns)
        if property_types:
            column_map["properties"] = {
                key: {"column": key, "type": type_} for key, type_ in property_types.items()
            }
        form = {"column_map": json.dumps(column_map), "on_conflict": on_conflict}
        if segments:
            form["segments"] = json.dumps([{"id": segment_id} for segment_id in segments])
        if topics:
            form["topics"] = json.dumps(
                [{"id": topic_id, "subscription": sub} for topic_id, sub in topics.items()]
            )
        return await self._call(
            CreatedObject,
            "POST",
            "/contacts/imports",
            files={"file": (filename, file, "text/csv")},
            data=form,
            idempotent=False,
        )

    async def get_contact_import(self, import_id: str) -> ContactImport:
        """`GET /contacts/imports/{id}`."""
        return await self._call(ContactImport, "GET", f"/contacts/imports/{segment(import_id)}")

    async def list_contact_imports(
        self, *, limit: int = 10, status: ImportStatus | None = None
    ) -> list[ContactImport]:
        """The most recent imports, newest first."""
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = status
        return (
            await self._call(Page[ContactImport], "GET", "/contacts/imports", params=params)
        ).data

    async def recent_contact_imports(self, limit: int = 20) -> list[ContactImport] | None:
        """The most recent imports, newest first; None when this account does not have
        the Contact Imports API (a beta not every team has)."""
        try:
            return await self.list_contact_imports(limit=limit)
        except APIError as exc:
            if exc.status_code in (403, 404, 405):
                return None
            raise
