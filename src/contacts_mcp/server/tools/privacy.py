"""A person's requests about their own data: everything held about one email address.

The answer covers Resend (the contact, its properties, segments and topics) and every
local copy that holds the address (`services.personal`). The request is in the audit log
under a keyed hash of the address, never the address.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from contacts_mcp.api.errors import NotFoundError
from contacts_mcp.server.screens import BULK_REVIEW, screen
from contacts_mcp.server.surface import Surface
from contacts_mcp.server.toolkit import (
    State,
    ToolContext,
    hints,
    result,
    run,
    services,
    text_of,
)
from contacts_mcp.server.tools.bulk import (
    Approval,
    ConfirmArg,
    NotAsked,
    approval_question,
    ask_person,
    declined,
    estimate,
    for_review,
    require_person,
    select_named,
)
from contacts_mcp.server.tools.jobs import JobKind, JobOut, start_and_wait
from contacts_mcp.services.bulk import CONFIRM_SECONDS, People
from contacts_mcp.services.contacts import ContactOut
from contacts_mcp.services.erasure import (
    NOT_COVERED,
    SUPPRESSION_NOTE,
    ForgetOutcome,
    Places,
    normalized,
)
from contacts_mcp.services.explain import NothingFoundError, UserFacingError
from contacts_mcp.services.jobs import utc_iso
from contacts_mcp.services.personal import Place, find_held
from contacts_mcp.services.sets import FoundContact
from contacts_mcp.text.sanitize import clean, label
from contacts_mcp.text.words import counted

if TYPE_CHECKING:
    from contacts_mcp.services.jobs import Progress, Work

__all__ = ["PRIVACY_JOBS", "register_privacy_tools"]


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
        reference = state.confirmations.person_digest(address)
        places = await anyio.to_thread.run_sync(
            lambda: find_held(
                address,
                state.state_dir,
                audit_log=audit.path if audit is not None else None,
                caller=None if caller == "local" else caller,
                reference=reference,
            )
        )
        # The request is accounted for, under a keyed hash: never the address.
        surface.record_request(caller, "personal_data", reference, "ok (access)")
        answer = AccessAnswer(
            email=address,
            taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
            resend=contact,
            places=places,
            not_covered=NOT_COVERED,
        )
        return result(_access_text(answer), answer)

    @server.tool(annotations=hints("Forget people (erasure)", "delete"), meta=screen(BULK_REVIEW))
    async def forget_contacts(
        ctx: ToolContext,
        person: ForgetApproval,
        emails: EmailsArg,
        suppress: Annotated[
            bool, Field(description="Also suppress the addresses at Resend (kept there).")
        ] = False,
        confirm: ConfirmArg = None,
    ) -> Annotated[CallToolResult, ForgetAnswer]:
        """A person's erasure request: delete their contact at Resend and remove them from
        every local copy (mirror, snapshots, exports, reports, journals, jobs; audit lines
        keep a keyed hash). First call without `confirm`: a preview; show it, then call
        again with its `confirm`."""
        return await forget_people(ctx, person, emails, suppress, confirm)


async def forget_people(
    ctx: ToolContext,
    person: ElicitationResult[Any],
    emails: list[str],
    suppress: bool = False,
    confirm: str | None = None,
) -> CallToolResult:
    """`forget_contacts`, also run by the review screen's Approve (`approve_run`)."""

    state = services(ctx)
    addresses = _addresses(emails)
    people = People(tuple(addresses))
    change = {"suppress": suppress}
    if confirm is None:
        preview = await _forget_preview(ctx, state, addresses, suppress)
        if not suppress and not any(_holds(person) for person in preview.people):
            # Nothing to do, and nothing is done: no confirmation to pass on.
            named = ", ".join(label(p.email) for p in preview.people[:SAMPLE])
            more = f" and {preview.count - SAMPLE} more" if preview.count > SAMPLE else ""
            return result(
                f"Nothing is held about {named}{more}: no contact at Resend, no local copy. "
                "Nothing to forget.",
                ForgetAnswer(),
            )
        preview.confirm = state.confirmations.issue(
            "forget", people, change, _forget_summary(len(addresses), suppress)
        )
        answer = result(_forget_preview_text(preview), ForgetAnswer(preview=preview))
        review = {"emails": addresses, "suppress": suppress, "confirm": preview.confirm}
        return for_review(ctx, answer, "forget_contacts", review)
    try:
        nonce = state.confirmations.check(confirm, "forget", people, change).nonce
    except UserFacingError as exc:  # refused: nothing is written
        raise ToolError(str(exc)) from None
    arguments = {"people": addresses, "suppress": suppress, "nonce": nonce}
    _refuse_forget_reuse(state, arguments)
    if declined(person):
        raise ToolError("The person did not approve: nothing was deleted or removed.")
    require_person(ctx, state, person, "deleted or removed")
    answer = await start_and_wait(ctx, FORGET_JOB, arguments)
    structured = answer.structured_content or {}
    ran = JobOut[ForgetOutcome].model_validate(structured)
    if ran.result is not None:
        # The addresses, for the one who asked, in this answer only (never kept).
        for address, receipt in zip(addresses, ran.result.people, strict=False):
            receipt.email = address
        return result(_forget_text(ran.result), ForgetAnswer(run=ran))
    return result(text_of(answer), ForgetAnswer(run=ran))


# -- erasure ----------------------------------------------------------------------------

# People one call may forget (a person's request names one; a list of requests, more).
MAX_PEOPLE = 1000
SAMPLE = 10
# People a preview lists one by one (past it, their counts alone).
MAX_SHOWN = 100

EmailsArg = Annotated[
    list[Annotated[str, Field(max_length=320)]],
    Field(description="The people's email addresses.", min_length=1, max_length=MAX_PEOPLE),
]


class PersonPreview(BaseModel):
    email: str
    at_resend: bool = Field(description="Whether this account has a contact for it.")
    local: dict[str, int] = Field(description="Local copies holding it: kind → records.")
    blocked: str | None = Field(default=None, description="Work running now that holds it.")
    other_accounts: list[str] = Field(
        description="Other accounts whose mirror holds it: forget it on those too."
    )


class ForgetPreview(BaseModel):
    action: Literal["forget"] = "forget"
    count: int = Field(description="People named.")
    at_resend: int = Field(description="Of them, with a contact at Resend (this account).")
    missing: list[str] = Field(description="Named people with no contact at Resend.")
    sample: list[FoundContact] = Field(description=f"Up to {SAMPLE} of their contacts.")
    people: list[PersonPreview] = Field(description=f"The first {MAX_SHOWN} people.")
    local_records: int = Field(description="Local records to remove, all people together.")
    suppress: bool
    requests: int = Field(description="API requests the run needs.")
    estimated_seconds: int
    notes: list[str]
    confirm: str = Field(description="Pass as `confirm` to run exactly this.")
    expires_at: str


class ForgetAnswer(BaseModel):
    preview: ForgetPreview | None = None
    run: JobOut[ForgetOutcome] | None = None


def _addresses(emails: list[str]) -> list[str]:
    """The named addresses, normalized and each once; refused if one is not an address."""
    found: list[str] = []
    for email in emails:
        address = normalized(email)
        if "@" not in address or any(c.isspace() for c in address):
            raise ToolError(f"{clean(email, 80)!r} is not an email address: give addresses only.")
        found.append(address)
    return list(dict.fromkeys(found))


def _forget_summary(count: int, suppress: bool) -> str:
    also = ", suppress their addresses at Resend" if suppress else ""
    return (
        f"Forget {counted(count, 'person')}: delete their contacts at Resend{also}, "
        "and remove them from every local copy"
    )


def _forget_work(state: State, arguments: Mapping[str, Any]) -> Work:
    async def work(progress: Progress) -> ForgetOutcome:
        from contacts_mcp.services.erasure import forget

        addresses = [str(a) for a in arguments["people"]]
        surface = state.surface
        audit = surface.audit.path if surface is not None and surface.audit is not None else None
        caller = state.caller()

        def audited(ref: str, outcome: str) -> None:
            if surface is not None:
                surface.record_request(caller, "forget_contacts", ref, outcome)

        return await forget(
            state.client,
            addresses,
            {a: state.confirmations.person_digest(a) for a in addresses},
            suppress=bool(arguments["suppress"]),
            folder=state.state_dir,
            account=state.backend_id,
            mirror=state.mirror,
            audit_log=audit,
            own_nonce=str(arguments["nonce"]),
            progress=progress,
            audit=audited,
            local_account=state.local_account,
        )

    return work


def _forget_ended(state: State, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A forget job's arguments once it ended: the people by reference, never by address."""
    people = [state.confirmations.person_digest(str(a)) for a in arguments.get("people", ())]
    return {**arguments, "people": people}


def _forget_text(outcome: ForgetOutcome) -> str:
    lines = [
        f"Forgot {outcome.done} of {counted(outcome.selected, 'person')} "
        f"({outcome.failed} not completely); {counted(outcome.requests, 'request')} in "
        f"{outcome.seconds:.1f} s. Receipt, {outcome.finished_at}:"
    ]
    for receipt in outcome.people[:MAX_SHOWN]:
        who = clean(receipt.email, 320) if receipt.email else receipt.person
        resend = receipt.resend + (f" ({receipt.resend_detail})" if receipt.resend_detail else "")
        local = ", ".join(f"{e.kind} {counted(e.records, 'record')}" for e in receipt.local)
        line = f"- {who}: Resend {resend}; removed here: {local or 'nothing held'}"
        if receipt.suppressed is not None:
            line += (
                "; suppressed"
                if receipt.suppressed
                else f"; NOT suppressed ({receipt.suppression_detail})"
            )
        if receipt.kept:
            line += "; left (in use): " + "; ".join(receipt.kept)
        if receipt.other_accounts:
            line += (
                "; still held by account(s) "
                + ", ".join(receipt.other_accounts)
                + " (forget them there too)"
            )
        lines.append(line + ".")
    if outcome.failed:
        lines.append(
            "Not forgotten completely: see each line. Run forget_contacts again for them "
            "once what held them is free; what was removed stays removed."
        )
    lines.extend(f"- {note}" for note in outcome.notes)
    lines.append(outcome.not_covered)
    return "\n".join(lines)


FORGET_JOB = JobKind(
    "forget", ForgetOutcome, _forget_work, _forget_text, ended_arguments=_forget_ended
)
PRIVACY_JOBS: tuple[JobKind[Any], ...] = (FORGET_JOB,)


async def ask_to_forget(
    ctx: ToolContext,
    emails: list[str] | None = None,
    suppress: bool = False,
    confirm: str | None = None,
) -> Elicit[Approval] | Approval | NotAsked:
    """Ask the person to approve a confirmed erasure, where the client can ask them (and
    only about one the tool would run: its confirmation checked, and not used before)."""
    question = approval_question(ctx, confirm)
    if question is None or confirm is None or not emails:
        return NotAsked()
    state = services(ctx)
    try:
        addresses = _addresses(emails)
        change = {"suppress": suppress}
        nonce = state.confirmations.check(confirm, "forget", People(tuple(addresses)), change).nonce
        _refuse_forget_reuse(state, {"people": addresses, "suppress": suppress, "nonce": nonce})
    except (ToolError, UserFacingError):
        return NotAsked()  # the tool refuses it, and says why
    return await ask_person(ctx, confirm, question)


ForgetApproval = Annotated[ElicitationResult[Any], Resolve(ask_to_forget)]


def _refuse_forget_reuse(state: State, arguments: Mapping[str, Any]) -> None:
    """Refuse a confirmation whose erasure already ended (one still working is joined)."""
    ended = _forget_ended(state, arguments)
    for key in (arguments, ended):
        earlier = state.jobs.previous("forget", key, state.caller())
        if earlier is not None and earlier.status != "working":
            raise ToolError(
                f"That confirmation was already used (job {earlier.id}, {earlier.status}). "
                "Call again without `confirm` for a new preview."
            )


async def _forget_preview(
    ctx: ToolContext, state: State, addresses: list[str], suppress: bool
) -> ForgetPreview:
    """What forgetting these people would do: their contacts at Resend (read now, or from
    a mirror synced in the last 15 minutes), each local copy, and what holds them."""
    from contacts_mcp.services.erasure import Matcher, blockers, erase_local

    selected = await select_named(ctx, state, list(addresses), None, fresh=True)
    found = {contact.email.lower(): contact for contact, _ in selected.contacts}
    refs = {a: state.confirmations.person_digest(a) for a in addresses}
    matcher = Matcher(refs)
    surface = state.surface
    audit = surface.audit.path if surface is not None and surface.audit is not None else None

    def scan() -> tuple[Places, dict[str, str]]:
        places = erase_local(
            state.state_dir,
            matcher,
            apply=False,
            account=state.backend_id,
            mirror=state.mirror,
            audit_log=audit,
        )
        return places, blockers(state.state_dir, matcher)

    places, blocked = await anyio.to_thread.run_sync(scan)
    people: list[PersonPreview] = []
    local_records = 0
    for address in addresses:
        local: dict[str, int] = {}
        for place in places.found.get(address, []):
            local[place.kind] = local.get(place.kind, 0) + place.records
        local_records += sum(local.values())
        people.append(
            PersonPreview(
                email=address,
                at_resend=address in found,
                local=local,
                blocked=blocked.get(address),
                other_accounts=places.other_accounts.get(address, []),
            )
        )
    # Each person read, then deleted (and suppressed), at Resend.
    requests = len(addresses) + len(found) + (len(addresses) if suppress else 0)
    notes = [
        "This cannot be undone: no snapshot is kept (that would be a copy of them).",
        "Audit lines about them stay, with a keyed hash of the address in its place.",
    ]
    if suppress:
        notes.append(SUPPRESSION_NOTE)
    if blocked:
        notes.append(
            f"{counted(len(blocked), 'person')} held by work running now (see `blocked`): "
            "they are left alone by the run. Cancel that work or let it end first."
        )
    elsewhere = sorted({a for p in people for a in p.other_accounts})
    if elsewhere:
        notes.append(
            "Other accounts' mirrors hold some of them (their contact is still at Resend "
            f"there): {', '.join(elsewhere)}. Forget them on a server for each of those too."
        )
    notes.append(NOT_COVERED)
    return ForgetPreview(
        count=len(addresses),
        at_resend=len(found),
        missing=[a for a in addresses if a not in found],
        sample=[FoundContact.of(contact) for contact, _ in selected.contacts[:SAMPLE]],
        people=people[:MAX_SHOWN],
        local_records=local_records,
        suppress=suppress,
        requests=requests,
        estimated_seconds=estimate(state, requests),
        notes=notes,
        confirm="",
        expires_at=utc_iso(time.time() + CONFIRM_SECONDS),
    )


def _holds(person: PersonPreview) -> bool:
    """Whether anything is held about this person, here or at Resend."""
    return bool(person.at_resend or person.local or person.blocked or person.other_accounts)


def _forget_preview_text(preview: ForgetPreview) -> str:
    lines = [
        f"Preview, nothing written: forget {counted(preview.count, 'person')} "
        f"({preview.at_resend} with a contact at Resend; "
        f"{counted(preview.local_records, 'local record')} to remove); "
        f"{counted(preview.requests, 'request')}, about {preview.estimated_seconds} s.",
    ]
    for person in preview.people[:SAMPLE]:
        held = ", ".join(f"{kind} {n}" for kind, n in person.local.items()) or "no local copy"
        resend = "a contact at Resend" if person.at_resend else "no contact at Resend"
        line = f"- {label(person.email)}: {resend}; {held}"
        if person.blocked:
            line += f"; BLOCKED: {person.blocked}"
        lines.append(line + ".")
    if preview.count > SAMPLE:
        lines.append(f"… and {preview.count - SAMPLE} more (structured content).")
    lines.extend(f"- {note}" for note in preview.notes)
    lines.append(
        "Show this to the user. To run exactly this, call again with the same emails, "
        f"suppress and confirm={preview.confirm} (valid 10 minutes)."
    )
    return "\n".join(lines)
