"""A person's requests about their own data: everything held about one email address.

The answer covers Resend (the contact, its properties, segments and topics) and every
local copy that holds the address (`services.personal`). The request is in the audit log
under a keyed hash of the address, never the address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from contacts_mcp.api.errors import NotFoundError
from contacts_mcp.server.surface import Surface
from contacts_mcp.server.toolkit import State, ToolContext, hints, result, run, services
from contacts_mcp.services.contacts import ContactOut
from contacts_mcp.services.explain import NothingFoundError
from contacts_mcp.services.personal import Place, find_held
from contacts_mcp.text.sanitize import clean
from contacts_mcp.text.words import counted

__all__ = ["register_privacy_tools"]

NOT_COVERED = (
    "Copies made outside this server's folders (files someone saved elsewhere, mail "
    "sent, other systems) are not covered: whoever made them answers for them."
)


class AccessAnswer(BaseModel):
    email: str
    taken_at: str = Field(description="When this was read (UTC).")
    resend: ContactOut | None = Field(description="The contact at Resend; null if none.")
    places: list[Place] = Field(description="Each local copy that holds the address.")
    not_covered: str


def _access_text(answer: AccessAnswer) -> str:
    email = clean(answer.email, 320)
    if answer.resend is None and not answer.places:
        return f"Nothing is held about {email}: no contact at Resend, no local copy."
    lines = [f"Held about {email} (as of {answer.taken_at}):"]
    if answer.resend is not None:
        contact = answer.resend
        lines.append(
            f"- Resend: contact {contact.id}, with {counted(len(contact.properties), 'property')}, "
            f"{counted(len(contact.segments), 'segment')}, "
            f"{counted(len(contact.topics), 'topic choice')}."
        )
    else:
        lines.append("- Resend: no contact.")
    for place in answer.places:
        account = f" (account {place.account})" if place.account else ""
        lines.append(f"- {place.kind}{account}: {counted(place.count, 'record')} in {place.where}")
    lines.append(NOT_COVERED)
    return "\n".join(lines)


def register_privacy_tools(server: MCPServer[State]) -> None:
    @server.tool(annotations=hints("Personal data held about an email", "read"))
    async def personal_data(
        ctx: ToolContext,
        email: Annotated[str, Field(description="The person's email address.", max_length=320)],
    ) -> Annotated[CallToolResult, AccessAnswer]:
        """Everything held about one email: its Resend contact and every local copy
        (mirror, snapshots, exports, failure reports, journals, jobs, audit lines). For a
        person's access request."""
        state = services(ctx)
        address = email.strip()
        if "@" not in address or any(c.isspace() for c in address):
            raise ToolError(f"{clean(address, 80)!r} is not an email address: give one.")

        async def at_resend() -> ContactOut | None:
            try:
                return await state.contacts.get(address)
            except (NothingFoundError, NotFoundError):
                return None

        contact = await run(at_resend())
        # The ContactsServer's surface (a bare MCPServer has none: nothing is audited).
        surface: Surface = getattr(server, "surface", None) or Surface()
        audit = surface.audit
        # A remote caller sees their own of what is per caller (jobs, uploads, exports,
        # approvals, audit lines); the operator on this machine ("local") sees all.
        caller = state.caller()
        places = await anyio.to_thread.run_sync(
            lambda: find_held(
                address,
                state.state_dir,
                audit_log=audit.path if audit is not None else None,
                caller=None if caller == "local" else caller,
            )
        )
        # The request is accounted for, under a keyed hash: never the address.
        surface.record_request(
            caller, "personal_data", state.confirmations.person_digest(address), "ok (access)"
        )
        answer = AccessAnswer(
            email=address,
            taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
            resend=contact,
            places=places,
            not_covered=NOT_COVERED,
        )
        return result(_access_text(answer), answer)
