"""Suppressions endpoints (Resend private beta): addresses the team will not send to."""

from __future__ import annotations

from contacts_mcp.api.base import APIBase
from contacts_mcp.api.models import CreatedObject

__all__ = ["SuppressionsAPI"]


class SuppressionsAPI(APIBase):
    """`/suppressions` endpoints. A team without the beta gets a `NotFoundError`."""

    async def add_suppression(self, email: str) -> CreatedObject:
        """`POST /suppressions`. An address already suppressed answers its suppression,
        so a retried add does no harm."""
        return await self._call(CreatedObject, "POST", "/suppressions", json={"email": email})
