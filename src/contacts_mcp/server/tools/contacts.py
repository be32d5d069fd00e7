"""The contact tools: create, get, update, delete and list contacts."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from contacts_mcp.server.render import LIST_COLUMNS, contact_row, contact_view
from contacts_mcp.server.toolkit import (
    PropertyValues,
    SegmentRefs,
    State,
    ToolContext,
    TopicChoices,
    hints,
    result,
    run,
    services,
)
from contacts_mcp.services.contacts import (
    ClearableField,
    ContactList,
    ContactOut,
    CreatedContact,
    DeletedContactOut,
)
from contacts_mcp.text.sanitize import label
from contacts_mcp.text.words import counted

__all__ = ["register_contact_tools"]

ContactArg = Annotated[
    str, Field(description="Contact id (UUID) or email address.", min_length=1, max_length=320)
]
NameArg = Annotated[
    str | SkipJsonSchema[None], Field(description="New value; omit to keep.", max_length=256)
]


def register_contact_tools(server: MCPServer[State]) -> None:
    @server.tool(annotations=hints("Create contact", "create"))
    async def create_contact(
        ctx: ToolContext,
        email: Annotated[str, Field(description="Email address.", min_length=3, max_length=320)],
        first_name: Annotated[
            str | SkipJsonSchema[None], Field(description="First name.", max_length=256)
        ] = None,
        last_name: Annotated[
            str | SkipJsonSchema[None], Field(description="Last name.", max_length=256)
        ] = None,
        unsubscribed: Annotated[bool, Field(description="Opted out of all broadcasts.")] = False,
        properties: PropertyValues | SkipJsonSchema[None] = None,
        segments: SegmentRefs | SkipJsonSchema[None] = None,
        topics: TopicChoices | SkipJsonSchema[None] = None,
    ) -> Annotated[CallToolResult, CreatedContact]:
        """Add a contact. An existing email is returned unchanged (created: false)."""
        contact = await run(
            services(ctx).contacts.create(
                email,
                first_name=first_name,
                last_name=last_name,
                unsubscribed=unsubscribed or None,
                properties=properties,
                segments=segments or (),
                topics=topics,
            )
        )
        heading = "Created contact:" if contact.created else "Contact already exists (unchanged):"
        return result(contact_view(contact, heading=heading), contact)

    @server.tool(annotations=hints("Get contact", "read"))
    async def get_contact(
        ctx: ToolContext, contact: ContactArg
    ) -> Annotated[CallToolResult, ContactOut]:
        """Fetch a contact with its properties, segments and topic subscriptions."""
        found = await run(services(ctx).contacts.get(contact))
        return result(contact_view(found), found)

    @server.tool(annotations=hints("Update contact", "update"))
    async def update_contact(
        ctx: ToolContext,
        contact: ContactArg,
        first_name: NameArg = None,
        last_name: NameArg = None,
        unsubscribed: Annotated[
            bool | SkipJsonSchema[None],
            Field(description="true opts out of all broadcasts."),
        ] = None,
        properties: PropertyValues | SkipJsonSchema[None] = None,
        clear_fields: Annotated[
            list[ClearableField] | SkipJsonSchema[None], Field(description="Names to erase.")
        ] = None,
        add_segments: SegmentRefs | SkipJsonSchema[None] = None,
        remove_segments: SegmentRefs | SkipJsonSchema[None] = None,
        topics: TopicChoices | SkipJsonSchema[None] = None,
        resubscribe: Annotated[
            bool,
            Field(description="Only when the person asked to opt back in to what they left."),
        ] = False,
    ) -> Annotated[CallToolResult, ContactOut]:
        """Change a contact's fields, segments or topics; omitted fields are kept."""
        updated = await run(
            services(ctx).contacts.update(
                contact,
                first_name=first_name,
                last_name=last_name,
                unsubscribed=unsubscribed,
                properties=properties,
                clear_fields=clear_fields or (),
                add_segments=add_segments or (),
                remove_segments=remove_segments or (),
                topics=topics,
                resubscribe=resubscribe,
            )
        )
        return result(contact_view(updated, heading="Updated contact:"), updated)

    @server.tool(annotations=hints("Delete contact", "delete"))
    async def delete_contact(
        ctx: ToolContext, contact: ContactArg
    ) -> Annotated[CallToolResult, DeletedContactOut]:
        """Permanently delete a contact. Confirm with the user first."""
        deleted = await run(services(ctx).contacts.delete(contact))
        if deleted.already_gone:
            text = (
                f"No contact {label(contact, 80)} exists, so nothing was deleted: it is already "
                "gone (deleted earlier), or the id or address is mistyped."
            )
        else:
            text = f"Deleted contact {label(deleted.email)} (id {label(deleted.id, 40)})."
        return result(text, deleted)

    @server.tool(annotations=hints("List contacts", "read"))
    async def list_contacts(
        ctx: ToolContext,
        limit: Annotated[int, Field(description="Page size.", ge=1, le=100)] = 20,
        after: Annotated[
            str | SkipJsonSchema[None],
            Field(description="next_after of the previous page.", max_length=40),
        ] = None,
        before: Annotated[
            str | SkipJsonSchema[None],
            Field(description="next_before of the previous page.", max_length=40),
        ] = None,
        segment: Annotated[
            str | SkipJsonSchema[None],
            Field(description="Only this segment (id or name).", max_length=100),
        ] = None,
    ) -> Annotated[CallToolResult, ContactList]:
        """List contacts, newest first, one page at a time. To find or count: search_contacts."""
        page = await run(
            services(ctx).contacts.list_page(
                limit=limit, after=after, before=before, segment=segment
            )
        )
        return result(_render_list(page), page)


def _render_list(page: ContactList) -> str:
    if not page.contacts:
        return "No contacts."
    # A table with its header once: a 100-contact page is read on every turn after it.
    lines = [f"{counted(len(page.contacts), 'contact')}, newest first ({LIST_COLUMNS}):"]
    lines.extend(contact_row(c) for c in page.contacts)
    if page.next_after:
        lines.append(f"More: after={page.next_after}")
    if page.next_before:
        lines.append(f"Newer: before={page.next_before}")
    return "\n".join(lines)
