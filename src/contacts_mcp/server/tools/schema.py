"""Tools for the account's contact schema: contact properties, segments and topics."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from contacts_mcp.api.base import UNSET
from contacts_mcp.api.models import ContactProperty, Topic
from contacts_mcp.server.render import bullet_list
from contacts_mcp.server.toolkit import (
    PropertyValue,
    State,
    ToolContext,
    hints,
    result,
    run,
    services,
)
from contacts_mcp.services.schema import (
    DeletedItem,
    PropertyList,
    SegmentList,
    SegmentOut,
    TopicList,
)
from contacts_mcp.text.sanitize import label, quoted
from contacts_mcp.text.words import counted

__all__ = ["UNCHANGEABLE", "register_schema_tools"]

# Arguments a model may try that Resend does not allow changing, with what to do instead.
UNCHANGEABLE = {
    ("update_topic", "default_subscription"): (
        "A topic's default_subscription is fixed when it is created; create a new topic "
        "to use a different default."
    ),
    ("update_contact_property", "key"): (
        "A property's key cannot change; create a new property and delete the old one."
    ),
    ("update_contact_property", "type"): (
        "A property's type cannot change; create a new property and delete the old one."
    ),
}

PropertyArg = Annotated[str, Field(description="Property key or id.", min_length=1, max_length=60)]
SegmentArg = Annotated[str, Field(description="Segment id or name.", min_length=1, max_length=100)]
TopicArg = Annotated[str, Field(description="Topic id or name.", min_length=1, max_length=60)]


def _property_line(prop: ContactProperty) -> str:
    fallback = "" if prop.fallback_value is None else f", fallback {quoted(prop.fallback_value)}"
    return f"{label(prop.key, 50)} ({label(prop.type, 20)}{fallback}) | id {label(prop.id, 40)}"


def _segment_line(segment: SegmentOut) -> str:
    count = (
        "" if segment.contact_count is None else f" | {counted(segment.contact_count, 'contact')}"
    )
    return f"{label(segment.name, 100)}{count} | id {label(segment.id, 40)}"


def _topic_line(topic: Topic) -> str:
    about = f" | {quoted(topic.description, 80)}" if topic.description else ""
    return (
        f"{label(topic.name, 60)} (default {topic.default_subscription}, {topic.visibility})"
        f"{about} | id {label(topic.id, 40)}"
    )


def _listing(singular: str, plural: str, lines: list[str], next_after: str | None) -> str:
    if not lines:
        return f"No {plural} yet."
    text = f"{len(lines)} {singular if len(lines) == 1 else plural}:\n" + bullet_list(lines)
    if next_after is not None:
        text += f"\nMore {plural} follow: call again with after={label(next_after, 40)}."
    return text


AfterArg = Annotated[
    str | SkipJsonSchema[None],
    Field(description="next_after of the previous page.", max_length=40),
]


def register_schema_tools(server: MCPServer[State]) -> None:
    # -- contact properties -----------------------------------------------------------

    @server.tool(annotations=hints("List contact properties", "read"))
    async def list_contact_properties(
        ctx: ToolContext, after: AfterArg = None
    ) -> Annotated[CallToolResult, PropertyList]:
        """List the custom contact properties: keys, types and fallback values."""
        listed = await run(services(ctx).schema.list_properties(after=after))
        lines = [_property_line(p) for p in listed.properties]
        text = _listing("contact property", "contact properties", lines, listed.next_after)
        return result(text, listed)

    @server.tool(annotations=hints("Create contact property", "create"))
    async def create_contact_property(
        ctx: ToolContext,
        key: Annotated[str, Field(description="Letters, digits, _; max 50.", max_length=50)],
        type: Annotated[Literal["string", "number"], Field(description="Fixed once created.")],
        fallback_value: Annotated[
            PropertyValue | SkipJsonSchema[None],
            Field(description="Used where a contact has none."),
        ] = None,
    ) -> Annotated[CallToolResult, ContactProperty]:
        """Define a custom contact property."""
        prop = await run(services(ctx).schema.create_property(key, type, fallback_value))
        return result(f"Created contact property {_property_line(prop)}.", prop)

    @server.tool(annotations=hints("Update contact property", "update"))
    async def update_contact_property(
        ctx: ToolContext,
        property: PropertyArg,
        fallback_value: Annotated[
            PropertyValue | None, Field(description="New fallback; null clears.")
        ],
    ) -> Annotated[CallToolResult, ContactProperty]:
        """Change a property's fallback value (its key and type are fixed)."""
        prop = await run(services(ctx).schema.update_property(property, fallback_value))
        return result(f"Updated contact property {_property_line(prop)}.", prop)

    @server.tool(annotations=hints("Delete contact property", "delete"))
    async def delete_contact_property(
        ctx: ToolContext, property: PropertyArg
    ) -> Annotated[CallToolResult, DeletedItem]:
        """Delete a property and erase its value from every contact. Confirm first."""
        deleted = await run(services(ctx).schema.delete_property(property))
        return result(
            f"Deleted contact property {label(deleted.name)} from every contact.", deleted
        )

    # -- segments ---------------------------------------------------------------------

    @server.tool(annotations=hints("List segments", "read"))
    async def list_segments(
        ctx: ToolContext,
        with_counts: Annotated[bool, Field(description="Count members (slower).")] = False,
        after: AfterArg = None,
    ) -> Annotated[CallToolResult, SegmentList]:
        """List segments; a segment's contacts: list_contacts with `segment`."""
        listed = await run(services(ctx).schema.list_segments(with_counts=with_counts, after=after))
        lines = [_segment_line(s) for s in listed.segments]
        return result(_listing("segment", "segments", lines, listed.next_after), listed)

    @server.tool(annotations=hints("Create segment", "create"))
    async def create_segment(
        ctx: ToolContext,
        name: Annotated[str, Field(description="Segment name.", min_length=1, max_length=100)],
    ) -> Annotated[CallToolResult, SegmentOut]:
        """Create an empty segment; add contacts with update_contact."""
        segment = await run(services(ctx).schema.create_segment(name))
        return result(f"Created segment {_segment_line(segment)}.", segment)

    @server.tool(annotations=hints("Rename segment", "update"))
    async def update_segment(
        ctx: ToolContext,
        segment: SegmentArg,
        name: Annotated[str, Field(description="New name.", min_length=1, max_length=100)],
    ) -> Annotated[CallToolResult, SegmentOut]:
        """Rename a segment."""
        renamed = await run(services(ctx).schema.rename_segment(segment, name))
        return result(f"Renamed segment to {_segment_line(renamed)}.", renamed)

    @server.tool(annotations=hints("Delete segment", "delete"))
    async def delete_segment(
        ctx: ToolContext, segment: SegmentArg
    ) -> Annotated[CallToolResult, DeletedItem]:
        """Delete a segment; its contacts are kept. Confirm first."""
        deleted = await run(services(ctx).schema.delete_segment(segment))
        return result(f"Deleted segment {label(deleted.name)}; its contacts were kept.", deleted)

    # -- topics -----------------------------------------------------------------------

    @server.tool(annotations=hints("List topics", "read"))
    async def list_topics(
        ctx: ToolContext, after: AfterArg = None
    ) -> Annotated[CallToolResult, TopicList]:
        """List subscription topics with their default subscription and visibility."""
        listed = await run(services(ctx).schema.list_topics(after=after))
        lines = [_topic_line(t) for t in listed.topics]
        return result(_listing("topic", "topics", lines, listed.next_after), listed)

    @server.tool(annotations=hints("Create topic", "create"))
    async def create_topic(
        ctx: ToolContext,
        name: Annotated[str, Field(description="Topic name.", min_length=1, max_length=50)],
        default_subscription: Annotated[
            Literal["opt_in", "opt_out"], Field(description="Fixed once created.")
        ],
        description: Annotated[
            str | SkipJsonSchema[None], Field(description="Shown to contacts.", max_length=200)
        ] = None,
        visibility: Annotated[
            Literal["public", "private"],
            Field(description="public: on everyone's preference page."),
        ] = "private",
    ) -> Annotated[CallToolResult, Topic]:
        """Create a subscription topic."""
        topic = await run(
            services(ctx).schema.create_topic(
                name, default_subscription, description=description, visibility=visibility
            )
        )
        return result(f"Created topic {_topic_line(topic)}.", topic)

    @server.tool(annotations=hints("Update topic", "update"))
    async def update_topic(
        ctx: ToolContext,
        topic: TopicArg,
        name: Annotated[
            str | SkipJsonSchema[None], Field(description="New name.", max_length=50)
        ] = None,
        description: Annotated[
            str | SkipJsonSchema[None], Field(description="New description.", max_length=200)
        ] = None,
        visibility: Annotated[
            Literal["public", "private"] | SkipJsonSchema[None], Field(description="New value.")
        ] = None,
    ) -> Annotated[CallToolResult, Topic]:
        """Rename a topic or change its description or visibility."""
        updated = await run(
            services(ctx).schema.update_topic(
                topic,
                name=name,
                description=UNSET if description is None else description,
                visibility=visibility,
            )
        )
        return result(f"Updated topic {_topic_line(updated)}.", updated)

    @server.tool(annotations=hints("Delete topic", "delete"))
    async def delete_topic(
        ctx: ToolContext, topic: TopicArg
    ) -> Annotated[CallToolResult, DeletedItem]:
        """Delete a topic and every contact's preference for it. Confirm first."""
        deleted = await run(services(ctx).schema.delete_topic(topic))
        return result(f"Deleted topic {label(deleted.name)}.", deleted)
