"""JSON resources for the account's schema, and argument completion for their templates.

    resend://contact-properties              every custom property
    resend://contact-properties/{property}   one property, by key or id
    resend://segments                        every segment
    resend://segments/{segment}              one segment (id or name), its member count
                                             and its first page of members
    resend://topics                          every topic
    contacts-mcp://data/status               what the server keeps on this machine

Many hosts never show resources to the model, so every read here is also a tool. Files
the server wrote for a caller are resources too (`server.file_resources`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)
from pydantic import BaseModel

from contacts_mcp.server.file_resources import register_file_resources
from contacts_mcp.server.toolkit import State
from contacts_mcp.services.explain import NothingFoundError, UserFacingError
from contacts_mcp.text.sanitize import clean, reveal_hidden

__all__ = ["FIRST_PAGE", "LOCAL_DATA", "register_resources"]

FIRST_PAGE = 20
LOCAL_DATA = "contacts-mcp://data/status"
JSON = "application/json"

T = TypeVar("T")
MAX_COMPLETIONS = 100


class _SegmentDetail(BaseModel):
    id: str
    name: str
    created_at: str
    contact_count: int
    contacts: list[dict[str, object]]
    has_more: bool


def _dump(data: object) -> str:
    # Hosts may hand resources to the model as they are: hidden characters are marked.
    visible, _ = reveal_hidden(data)
    return json.dumps(visible, indent=2, ensure_ascii=False)


def register_resources(server: MCPServer[State], live: Callable[[], State]) -> None:
    """Register the resources; `live()` returns the running server's state.

    Static resources get no request context in the SDK, so they reach the services
    through `live` rather than through `ctx`.
    """

    @server.resource(
        "resend://contact-properties",
        name="contact-properties",
        title="Contact properties",
        description="Every custom contact property: key, type (string|number), fallback value.",
        mime_type=JSON,
    )
    async def contact_properties() -> str:
        props = await _read(live().schema.properties(fresh=True))
        return _dump([p.model_dump(mode="json") for p in props])

    @server.resource(
        "resend://contact-properties/{property}",
        name="contact-property",
        title="Contact property",
        description="One custom contact property, by key or id.",
        mime_type=JSON,
    )
    async def contact_property(property: str) -> str:
        prop = await _read(live().schema.resolve_property(property))
        return _dump(prop.model_dump(mode="json"))

    @server.resource(
        "resend://segments",
        name="segments",
        title="Segments",
        description="Every segment: id, name, creation time.",
        mime_type=JSON,
    )
    async def segments() -> str:
        listed = await _read(live().schema.segments(fresh=True))
        return _dump([s.model_dump(mode="json") for s in listed])

    @server.resource(
        LOCAL_DATA,
        name="local-data",
        title="What this server keeps",
        description=(
            "Every kind of personal data kept on this machine (mirror, snapshots, failure "
            "reports, journals, jobs, exports, uploads, audit log): where, how much, how old."
        ),
        mime_type=JSON,
    )
    async def local_data() -> str:
        from contacts_mcp.services.inventory import take_inventory

        state = live()
        audit = getattr(getattr(server, "surface", None), "audit", None)
        found = await anyio.to_thread.run_sync(
            lambda: take_inventory(state.state_dir, audit_log=getattr(audit, "path", None))
        )
        return _dump(found.model_dump(mode="json"))

    @server.resource(
        "resend://segments/{segment}",
        name="segment",
        title="Segment",
        description="One segment (id or name) with its member count and newest members.",
        mime_type=JSON,
    )
    async def segment(segment: str) -> str:
        state = live()
        found = await _read(state.schema.resolve_segment(segment))
        count = await _read(state.schema.count_members(found.id))
        page = await _read(state.contacts.list_page(limit=FIRST_PAGE, segment=found.id))
        detail = _SegmentDetail(
            id=found.id,
            name=found.name,
            created_at=found.created_at,
            contact_count=count,
            contacts=[c.model_dump(mode="json") for c in page.contacts],
            has_more=page.has_more,
        )
        return _dump(detail.model_dump(mode="json"))

    @server.resource(
        "resend://topics",
        name="topics",
        title="Topics",
        description="Every subscription topic with its default subscription and visibility.",
        mime_type=JSON,
    )
    async def topics() -> str:
        listed = await _read(live().schema.topics(fresh=True))
        return _dump([t.model_dump(mode="json") for t in listed])

    register_file_resources(server, live)

    # The SDK leaves `completion()` untyped; the handler below is fully typed.
    @server.completion()  # type: ignore[no-untyped-call, untyped-decorator]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        schema = live().schema
        try:
            if argument.name == "segment":
                names = [s.name for s in await schema.segments()]
            elif argument.name == "property":
                names = [p.key for p in await schema.properties()]
            elif argument.name == "topic":
                names = [t.name for t in await schema.topics()]
            else:
                return None
        except UserFacingError:
            return None  # completion is a convenience; an API hiccup offers nothing
        typed = argument.value.casefold()
        # Offered as cleaned text: a completion carries no hidden characters, and the
        # cleaned name still resolves (names match ignoring hidden characters).
        matches = sorted(
            {clean(n, 100) for n in names if clean(n, 100).casefold().startswith(typed)}
        )
        return Completion(
            values=matches[:MAX_COMPLETIONS],
            total=len(matches),
            has_more=len(matches) > MAX_COMPLETIONS,
        )


async def _read(job: Awaitable[T], *, missing: bool = False) -> T:
    """Await a service call; its errors become resource errors with the same text."""
    try:
        return await job
    except NothingFoundError as exc:
        raise ResourceNotFoundError(str(exc)) from None
    except UserFacingError as exc:
        raise ResourceError(str(exc)) from None
