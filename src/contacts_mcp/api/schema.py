"""Endpoints for the account's contact schema: contact properties, segments and topics."""

from __future__ import annotations

from typing import Any

from contacts_mcp.api.base import UNSET, APIBase, PropertyInput, Unset, segment
from contacts_mcp.api.models import (
    ContactProperty,
    CreatedObject,
    DeletedObject,
    PropertyType,
    Segment,
    Subscription,
    Topic,
    Visibility,
)

__all__ = ["SchemaAPI"]


class SchemaAPI(APIBase):
    """`/contact-properties`, `/segments` and `/topics` endpoints."""

    # -- contact properties -----------------------------------------------------------

    async def create_contact_property(
        self, key: str, type: PropertyType, *, fallback_value: PropertyInput = None
    ) -> CreatedObject:
        """`POST /contact-properties`."""
        body: dict[str, Any] = {"key": key, "type": type}
        if fallback_value is not None:
            body["fallback_value"] = fallback_value
        # Not idempotent (a repeat is refused as a duplicate key): no blind retries.
        return await self._call(
            CreatedObject, "POST", "/contact-properties", json=body, idempotent=False
        )

    async def get_contact_property(self, property_id: str) -> ContactProperty:
        """`GET /contact-properties/{id}`."""
        return await self._call(
            ContactProperty, "GET", f"/contact-properties/{segment(property_id)}"
        )

    async def list_contact_properties(self) -> list[ContactProperty]:
        """Every contact property (Resend pages this list; all pages are fetched)."""
        return await self._list_all("/contact-properties", ContactProperty)

    async def update_contact_property(
        self, property_id: str, *, fallback_value: PropertyInput
    ) -> CreatedObject:
        """`PATCH /contact-properties/{id}`: only the fallback can change; None clears it."""
        return await self._call(
            CreatedObject,
            "PATCH",
            f"/contact-properties/{segment(property_id)}",
            json={"fallback_value": fallback_value},
        )

    async def delete_contact_property(self, property_id: str) -> DeletedObject:
        """`DELETE /contact-properties/{id}`; Resend removes its value from every contact."""
        return await self._call(
            DeletedObject, "DELETE", f"/contact-properties/{segment(property_id)}"
        )

    # -- segments ---------------------------------------------------------------------

    async def create_segment(self, name: str) -> CreatedObject:
        """`POST /segments`."""
        # Not idempotent (a repeat makes a second segment of that name): no blind retries.
        return await self._call(
            CreatedObject, "POST", "/segments", json={"name": name}, idempotent=False
        )

    async def get_segment(self, segment_id: str) -> Segment:
        """`GET /segments/{id}`."""
        return await self._call(Segment, "GET", f"/segments/{segment(segment_id)}")

    async def list_segments(self) -> list[Segment]:
        """Every segment, all pages fetched."""
        return await self._list_all("/segments", Segment)

    async def update_segment(self, segment_id: str, *, name: str) -> CreatedObject:
        """`PATCH /segments/{id}` (rename; in Resend's newest docs only)."""
        return await self._call(
            CreatedObject, "PATCH", f"/segments/{segment(segment_id)}", json={"name": name}
        )

    async def delete_segment(self, segment_id: str) -> DeletedObject:
        """`DELETE /segments/{id}`; the segment's contacts are kept."""
        return await self._call(DeletedObject, "DELETE", f"/segments/{segment(segment_id)}")

    # -- topics -----------------------------------------------------------------------

    async def create_topic(
        self,
        name: str,
        default_subscription: Subscription,
        *,
        description: str | None = None,
        visibility: Visibility | None = None,
    ) -> CreatedObject:
        """`POST /topics`; `default_subscription` cannot be changed afterwards."""
        body: dict[str, Any] = {"name": name, "default_subscription": default_subscription}
        if description is not None:
            body["description"] = description
        if visibility is not None:
            body["visibility"] = visibility
        return await self._call(CreatedObject, "POST", "/topics", json=body, idempotent=False)

    async def get_topic(self, topic_id: str) -> Topic:
        """`GET /topics/{id}`."""
        return await self._call(Topic, "GET", f"/topics/{segment(topic_id)}")

    async def list_topics(self) -> list[Topic]:
        """Every topic (Resend pages this list; all pages are fetched)."""
        return await self._list_all("/topics", Topic)

    async def update_topic(
        self,
        topic_id: str,
        *,
        name: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
        visibility: Visibility | Unset = UNSET,
    ) -> CreatedObject:
        """`PATCH /topics/{id}`: name, description (None clears it) and visibility."""
        body: dict[str, Any] = {}
        if not isinstance(name, Unset):
            body["name"] = name
        if not isinstance(description, Unset):
            body["description"] = description
        if not isinstance(visibility, Unset):
            body["visibility"] = visibility
        return await self._call(CreatedObject, "PATCH", f"/topics/{segment(topic_id)}", json=body)

    async def delete_topic(self, topic_id: str) -> DeletedObject:
        """`DELETE /topics/{id}`."""
        return await self._call(DeletedObject, "DELETE", f"/topics/{segment(topic_id)}")
