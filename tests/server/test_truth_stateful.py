"""The mirror's truth, under random sequences of tool calls and changes made elsewhere
(issue 16, "Shown by"): a Hypothesis state machine, in both protocol eras.

A small account (16 addresses at 2 domains, 12 of them seeded; segments A and B; one
string property `plan`) is changed at random by the server's tools (contacts one at a
time, imports on both strategies, bulk updates and deletes of searches, exports,
searches with and without a refresh) and behind the server's back, straight on the
emulator. The truth is the emulator itself, read after every step. What must hold:

1. An answer equals a brute-force filter over the truth for the facts it vouches for:
   exactly, right after a full refresh with properties; otherwise for every fact nothing
   changed elsewhere since it was last observed (the server's own writes show at once),
   the mirror's note saying what it is as of.
2. A bulk run writes to (or deletes) only contacts it previewed that match its search at
   run time; the others are left untouched and counted as no longer matching.
3. "Nothing to change" and "already as asked" are said only when Resend agrees.
4. An export holds Resend's values, or says per column that they are as of earlier.

Changes made elsewhere may reach the server as Resend's webhooks do in HTTP mode: a rule
delivers the signed contact events for an address to the server's own webhook route.

Which facts each answer must get right ("clean" facts) is tracked fact by fact: a change
made elsewhere makes a fact dirty; the server's own write of it, or a full refresh that
re-observes it, makes it clean again.

Each era runs 10 sequences of up to 25 steps (about 10 s). With CI set, the sequences
are the same every run, nothing is kept in `.hypothesis/`, and a failure is reported as
found, unshrunk; elsewhere a failure is shrunk (which may take minutes) and replayed first
on the next run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import hypothesis
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from contacts_mcp.emulator.webhooks import signature_headers
from contacts_mcp.remote.http import HttpSettings, build_http_app
from contacts_mcp.remote.webhooks import WEBHOOK_PATH
from tests.server.conftest import ERAS, Harness, open_harness
from tests.server.test_bulk import settings as import_settings

T = TypeVar("T")

SEGMENTS = ("A", "B")
DOMAINS = ("acme.com", "beta.org")
POOL = [f"{prefix}{i}@{domain}" for prefix, domain in zip("ab", DOMAINS, strict=True)
        for i in range(8)]  # fmt: skip
SEEDED = [email for email in POOL if int(email[1]) < 6]  # 12 contacts at the start
PLANS = ("free", "pro", "")  # "" is no value
FACTS = ("exists", "plan", "unsubscribed", *SEGMENTS)
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# Every wait on the server or the emulator ends within this (a step takes ~0.1 s).
STEP_SECONDS = 60

IN_CI = bool(os.environ.get("CI"))
RUN_SETTINGS = hypothesis.settings(
    # More to hunt for bugs: TRUTH_EXAMPLES=200 python -m pytest tests/server/test_truth_stateful.py
    max_examples=int(os.environ.get("TRUTH_EXAMPLES", "10")),
    stateful_step_count=25,
    deadline=None,
    derandomize=IN_CI,
    suppress_health_check=[HealthCheck.too_slow],
)
if IN_CI:  # the same sequences every time, no example database, and no minutes of shrinking
    RUN_SETTINGS = hypothesis.settings(
        RUN_SETTINGS, database=None, phases=[Phase.explicit, Phase.generate]
    )


# -- the truth ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """One contact as Resend holds it (or as the mirror shows it)."""

    email: str  # lower-cased
    plan: str | None  # "" for no value; None (mirror only): not known
    unsubscribed: bool
    segments: frozenset[str]  # names

    def fact(self, name: str) -> object:
        if name == "plan":
            return self.plan
        if name == "unsubscribed":
            return self.unsubscribed
        if name in SEGMENTS:
            return name in self.segments
        return True  # exists


Truth = dict[str, Held]  # by id


@dataclass(frozen=True)
class Cond:
    """One search condition, and the same condition as a brute-force filter."""

    field: str
    op: str
    value: str | bool | None = None

    def arguments(self) -> dict[str, Any]:
        found: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.value is not None:
            found["value"] = self.value
        return found

    def matches(self, contact: Held) -> bool:
        if self.field == "domain":
            return contact.email.endswith(f"@{self.value}")
        if self.field == "email":
            return str(self.value) in contact.email
        if self.field == "segment":
            return (self.value in contact.segments) == (self.op == "in")
        if self.field == "unsubscribed":
            return contact.unsubscribed is self.value
        if self.op == "empty":
            return contact.plan == ""
        return contact.plan == self.value

    @property
    def facts(self) -> set[str]:
        return {
            "domain": {"exists"},
            "email": {"exists"},
            "segment": {str(self.value)},
            "unsubscribed": {"unsubscribed"},
            "plan": {"plan"},
        }[self.field] | {"exists"}


def matches_all(where: Iterable[Cond], contact: Held) -> bool:
    return all(cond.matches(contact) for cond in where)


@dataclass(frozen=True)
class Ask:
    """A change asked of update_contacts (None / empty: not asked)."""

    plan: str | None = None
    unsubscribed: bool | None = None
    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    resubscribe: bool = False

    def arguments(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.plan is not None:
            found["properties"] = {"plan": self.plan or None}
        if self.unsubscribed is not None:
            found["unsubscribed"] = self.unsubscribed
            if self.unsubscribed is False:
                found["resubscribe"] = self.resubscribe
        if self.add:
            found["add_segments"] = sorted(self.add)
        if self.remove:
            found["remove_segments"] = sorted(self.remove)
        return found

    def refuses(self, contact: Held) -> bool:
        """Held back by the consent guard."""
        return self.unsubscribed is False and not self.resubscribe and contact.unsubscribed

    def applied(self, contact: Held) -> Held:
        return replace(
            contact,
            plan=contact.plan if self.plan is None else self.plan,
            unsubscribed=(contact.unsubscribed if self.unsubscribed is None else self.unsubscribed),
            segments=(contact.segments | self.add) - self.remove,
        )

    def already(self, contact: Held) -> bool:
        return self.applied(contact) == contact


@dataclass(frozen=True)
class Elsewhere:
    """A change made on the emulator behind the server's back."""

    kind: str  # plan, unsubscribed, segment (toggled), create, delete, recreate
    email: str
    value: str | bool | None = None


# -- strategies -----------------------------------------------------------------------------

emails = st.sampled_from(POOL)
plans = st.sampled_from(PLANS)
segment_sets = st.frozensets(st.sampled_from(SEGMENTS))
conditions = st.one_of(
    st.builds(Cond, st.just("email"), st.just("contains"), st.just("@")),  # everyone
    st.builds(Cond, st.just("domain"), st.just("eq"), st.sampled_from(DOMAINS)),
    st.builds(Cond, st.just("segment"), st.sampled_from(["in", "not_in"]),
              st.sampled_from(SEGMENTS)),
    st.builds(Cond, st.just("plan"), st.just("eq"), st.sampled_from(["free", "pro"])),
    st.builds(Cond, st.just("plan"), st.just("empty")),
    st.builds(Cond, st.just("unsubscribed"), st.just("eq"), st.booleans()),
)  # fmt: skip
wheres = st.lists(conditions, min_size=1, max_size=2)
elsewhere = st.one_of(
    st.builds(Elsewhere, st.just("plan"), emails, plans),
    st.builds(Elsewhere, st.just("unsubscribed"), emails, st.booleans()),
    st.builds(Elsewhere, st.just("segment"), emails, st.sampled_from(SEGMENTS)),
    st.builds(Elsewhere, st.just("create"), emails, plans),
    st.builds(Elsewhere, st.just("delete"), emails),
    st.builds(Elsewhere, st.just("recreate"), emails, plans),  # deleted, then added again
)


@st.composite
def asks(draw: st.DrawFn) -> Ask:
    add = draw(segment_sets)
    ask = Ask(
        plan=draw(st.none() | plans),
        unsubscribed=draw(st.none() | st.booleans()),
        add=add,
        remove=draw(segment_sets) - add,
        resubscribe=draw(st.booleans()),
    )
    if ask.plan is None and ask.unsubscribed is None and not ask.add and not ask.remove:
        return replace(ask, plan="pro")
    return ask


# -- the machine ----------------------------------------------------------------------------


def _entered(manager: AbstractContextManager[T], stack: list[AbstractContextManager[Any]]) -> T:
    value = manager.__enter__()
    stack.append(manager)
    return value


class TruthMachine(RuleBasedStateMachine):
    era = "auto"

    def __init__(self) -> None:
        super().__init__()
        self._open: list[AbstractContextManager[Any]] = []
        self._folder = Path(tempfile.mkdtemp(prefix="truth-"))
        try:
            self.portal: BlockingPortal = _entered(start_blocking_portal(), self._open)
            imports = replace(import_settings(self._folder), api_poll_interval=0.02)
            harness = asynccontextmanager(open_harness)(self.era, None, imports)
            self.h: Harness = _entered(self.portal.wrap_async_context_manager(harness), self._open)
            # The server's HTTP app, for its webhook route (`webhook_arrives`).
            app = build_http_app(self.h.server, HttpSettings(webhook_secret=WEBHOOK_SECRET))
            hooks = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
            )
            self.hooks = _entered(self.portal.wrap_async_context_manager(hooks), self._open)
        except BaseException:
            self.teardown()
            raise
        self.segment_ids: dict[str, str] = {}
        self.truth: Truth = {}
        # Facts changed elsewhere since last observed, by contact id (see the module doc).
        self.dirty: dict[str, set[str]] = {}
        # Contacts deleted elsewhere: the mirror may still hold them (id → email).
        self.ghosts: dict[str, str] = {}
        # Whether some contact's property values may be unknown to the mirror, so that a
        # search on `plan` may be refused ("read with properties=true first").
        self.values_unknown = False
        self.deliveries = 0  # webhook messages sent, for their ids

    def teardown(self) -> None:
        errors: list[BaseException] = []
        while self._open:  # the server, then the portal's thread, whatever happens
            try:
                self._open.pop().__exit__(None, None, None)
            except BaseException as exc:
                errors.append(exc)
        shutil.rmtree(self._folder, ignore_errors=True)
        if errors:
            raise errors[0]

    # -- plumbing ---------------------------------------------------------------------------

    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        async def bounded() -> T:
            with anyio.fail_after(STEP_SECONDS):
                return await work()

        return self.portal.call(bounded)

    async def attempt(self, tool: str, arguments: Mapping[str, Any]) -> tuple[Any, str | None]:
        """A tool's structured answer, or its error text."""
        result = await self.h.client.call_tool(tool, dict(arguments))
        if result.is_error:
            text = result.content[0]
            assert text.type == "text", result.content
            return None, text.text
        assert result.structured_content is not None, result.content
        return result.structured_content, None

    async def finished(self, job: Any) -> Any:
        """A job (as a tool returned it) once it ended, completed."""
        while job["status"] == "working":
            job = (await self.h.call("get_job", {"job_id": job["job_id"]}))["job"]
        assert job["status"] == "completed", job
        return job["result"]

    async def read_truth(self) -> Truth:
        names = {segment_id: name for name, segment_id in self.segment_ids.items()}
        truth: Truth = {}
        for listed in await self.h.all_contacts():
            contact = await self.h.seed("GET", f"/contacts/{listed['id']}")
            member = await self.h.seed("GET", f"/contacts/{listed['id']}/segments?limit=100")
            assert not member["has_more"]
            plan = (contact["properties"].get("plan") or {}).get("value")
            truth[contact["id"]] = Held(
                email=contact["email"].lower(),
                plan="" if plan is None else str(plan),
                unsubscribed=bool(contact["unsubscribed"]),
                segments=frozenset(names[segment["id"]] for segment in member["data"]),
            )
        return truth

    def id_of(self, email: str, truth: Truth | None = None) -> str | None:
        found = [i for i, c in (self.truth if truth is None else truth).items() if c.email == email]
        assert len(found) <= 1, found
        return found[0] if found else None

    def clean(self, contact_id: str, facts: Iterable[str]) -> bool:
        return not (self.dirty.get(contact_id, set()) & set(facts))

    def wrote(self, before: Truth, after: Truth) -> None:
        """The server wrote `after` over `before`: the facts it changed are clean now (the
        mirror must show them), and contacts it deleted are gone from the mirror."""
        for contact_id, was in before.items():
            now = after.get(contact_id)
            if now is None:
                self.dirty.pop(contact_id, None)
                continue
            changed = {name for name in FACTS if was.fact(name) != now.fact(name)}
            self.dirty.get(contact_id, set()).difference_update(changed)
        for contact_id in after.keys() - before.keys():
            self.dirty.pop(contact_id, None)  # created here: the mirror holds what it wrote

    # -- changes made elsewhere -------------------------------------------------------------

    async def change_elsewhere(self, change: Elsewhere) -> None:
        h, contact_id = self.h, self.id_of(change.email)
        plan = change.value if change.kind in ("plan", "create", "recreate") else None
        if contact_id is None:  # anything but a delete creates it
            if change.kind != "delete":
                await self.create_elsewhere(change.email, plan)
        elif change.kind == "plan":
            values = {"plan": change.value or None}
            await h.seed("PATCH", f"/contacts/{contact_id}", {"properties": values})
            self.dirty.setdefault(contact_id, set()).add("plan")
        elif change.kind == "unsubscribed":
            await h.seed("PATCH", f"/contacts/{contact_id}", {"unsubscribed": change.value})
            self.dirty.setdefault(contact_id, set()).add("unsubscribed")
        elif change.kind == "segment":
            name = str(change.value)
            method = "DELETE" if name in self.truth[contact_id].segments else "POST"
            await h.seed(method, f"/contacts/{contact_id}/segments/{self.segment_ids[name]}")
            self.dirty.setdefault(contact_id, set()).add(name)
        elif change.kind in ("delete", "recreate"):
            await h.seed("DELETE", f"/contacts/{contact_id}")
            self.dirty[contact_id] = set(FACTS)
            self.ghosts[contact_id] = change.email
            if change.kind == "recreate":  # the same address, a new contact
                await self.create_elsewhere(change.email, plan)
        self.truth = await self.read_truth()

    async def create_elsewhere(self, email: str, plan: object) -> None:
        body: dict[str, Any] = {"email": email}
        if isinstance(plan, str) and plan:
            body["properties"] = {"plan": plan}
        created = await self.h.seed("POST", "/contacts", body)
        self.dirty[created["id"]] = set(FACTS)
        self.values_unknown = True

    # -- what the mirror shows ----------------------------------------------------------------

    async def search(self, where: Iterable[Cond]) -> tuple[Any, str | None]:
        return await self.attempt(
            "search_contacts", {"where": [c.arguments() for c in where], "limit": 100}
        )

    async def mirror(self) -> tuple[dict[str, Held], Any]:
        """The whole mirror, as searches show it (plan None where not searchable)."""
        everyone, error = await self.search([])
        assert error is None, error
        assert everyone["count"] == len(everyone["contacts"])
        members: dict[str, set[str]] = {}
        for name in SEGMENTS:
            found, error = await self.search([Cond("segment", "in", name)])
            assert error is None, error
            for contact in found["contacts"]:
                members.setdefault(contact["id"], set()).add(name)
        plan_of: dict[str, str] | None = {}
        for plan in ("free", "pro"):
            found, error = await self.search([Cond("plan", "eq", plan)])
            if error is not None:
                assert "Property values are mirrored for" in error, error
                assert self.values_unknown, (
                    f"A search on plan was refused, yet every value was read or written "
                    f"here: {error}"
                )
                plan_of = None
                break
            assert plan_of is not None
            plan_of.update({contact["id"]: plan for contact in found["contacts"]})
        shown = {
            contact["id"]: Held(
                email=contact["email"].lower(),
                plan=None if plan_of is None else plan_of.get(contact["id"], ""),
                unsubscribed=contact["unsubscribed"],
                segments=frozenset(members.get(contact["id"], ())),
            )
            for contact in everyone["contacts"]
        }
        return shown, everyone["mirror"]

    def check_shown(self, shown: Mapping[str, Held], what: str) -> None:
        """Invariant 1 for answers without a refresh: every clean fact as Resend has it."""
        for contact_id, held in shown.items():
            if contact_id not in self.truth:
                assert contact_id in self.ghosts, (
                    f"{what} shows {held.email} ({contact_id}), which Resend does not have and "
                    "nobody deleted elsewhere"
                )
        for contact_id, true in self.truth.items():
            if not self.clean(contact_id, ["exists"]):
                continue
            assert contact_id in shown, f"{what} misses {true.email} ({contact_id})"
            held = shown[contact_id]
            assert held.email == true.email
            for name in FACTS[1:]:
                if name == "plan" and held.plan is None:
                    continue
                if self.clean(contact_id, [name]):
                    assert held.fact(name) == true.fact(name), (
                        f"{what}: {true.email} {name} is {held.fact(name)!r}, Resend has "
                        f"{true.fact(name)!r}, and it was not changed elsewhere since it was "
                        f"last observed. Truth: {true}; shown: {held}"
                    )

    @invariant()
    def the_mirror_shows_what_it_vouches_for(self) -> None:
        if not self.segment_ids:
            return  # before the account is set up
        shown, info = self.run(self.mirror)
        # A first fill by a plain search lists the contacts alone: reading the whole
        # mirror (its first search names no segment) finds memberships still to read.
        assert "as of the full sync" in info["note"] or (
            "Segment memberships not read yet" in info["note"]
        ), info["note"]
        assert "Property values" in info["note"], info["note"]
        self.check_shown(shown, "The mirror")

    # -- rules --------------------------------------------------------------------------------

    @initialize(
        account=st.lists(
            st.tuples(plans, st.booleans(), segment_sets), min_size=len(SEEDED),
            max_size=len(SEEDED)),
        where=wheres,
        first=st.sampled_from(["refresh", "search"]),
    )  # fmt: skip
    def seed_account(
        self, account: list[tuple[str, bool, frozenset[str]]], where: list[Cond], first: str
    ) -> None:
        async def work() -> None:
            h = self.h
            for name in SEGMENTS:
                self.segment_ids[name] = (await h.seed("POST", "/segments", {"name": name}))["id"]
            await h.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
            for email, (plan, unsubscribed, segments) in zip(SEEDED, account, strict=True):
                body: dict[str, Any] = {
                    "email": email,
                    "unsubscribed": unsubscribed,
                    "segments": [{"id": self.segment_ids[s]} for s in sorted(segments)],
                }
                if plan:
                    body["properties"] = {"plan": plan}
                await h.seed("POST", "/contacts", body)
            self.truth = await self.read_truth()
            if first == "refresh":
                await self.refreshed_search(where, "full", properties=True)
                return
            # Filled by a first plain search: the contacts listed (memberships when a
            # condition names a segment), no property value read.
            self.values_unknown = True
            names_segment = any(c.field == "segment" for c in where)
            found, error = await self.search([c for c in where if c.field != "plan"])
            assert error is None, error
            pending = "Segment memberships not read yet" in found["mirror"]["note"]
            assert pending != names_segment, found["mirror"]["note"]

        self.run(work)

    async def refreshed_search(self, where: list[Cond], refresh: str, *, properties: bool) -> None:
        arguments = {
            "where": [c.arguments() for c in where],
            "limit": 100,
            "refresh": refresh,
            "properties": properties,
        }
        found, error = await self.attempt("search_contacts", arguments)
        if error is not None:
            # A plan condition over values a refresh without properties left unknown.
            assert not properties, error
            assert self.values_unknown, error
            assert "Property values are mirrored for" in error, error
            assert any(c.field == "plan" for c in where), error
        elif found["refresh_job"] is not None:  # outlasted the wait: follow it, then ask
            await self.finished(found["refresh_job"])
            found, error = await self.search(where)
            assert error is None, error
        if refresh == "full":
            self.ghosts.clear()
            for contact_id in self.dirty:
                self.dirty[contact_id] &= {"plan"}
            if properties:
                self.dirty.clear()
        if refresh == "full" and properties:
            self.values_unknown = False
            # Invariant 1, exactly: everything was observed just now.
            expected = {i for i, c in self.truth.items() if matches_all(where, c)}
            assert {c["id"] for c in found["contacts"]} == expected, (where, self.truth)
            assert found["count"] == len(expected)
            assert found["mirror"]["in_doubt"] == 0, found["mirror"]

    @rule(
        where=wheres,
        refresh=st.sampled_from([None, "new", "full"]),
        properties=st.booleans(),
    )
    def search_contacts(self, where: list[Cond], refresh: str | None, properties: bool) -> None:
        async def work() -> None:
            if refresh is None and not properties:
                found, error = await self.search(where)
                if error is not None:
                    assert "Property values are mirrored for" in error, error
                    assert self.values_unknown, error
                    return
                note = found["mirror"]["note"]
                assert "as of the full sync" in note, note
                assert "Property values" in note, note
                expected = {i for i, c in self.truth.items() if matches_all(where, c)}
                listed = {c["id"] for c in found["contacts"]}
                for contact_id in expected ^ listed:
                    facts = set().union(*(c.facts for c in where))
                    assert contact_id in self.ghosts or not self.clean(contact_id, facts), (
                        f"{self.truth.get(contact_id)} ({contact_id}) "
                        f"{'is' if contact_id in listed else 'is not'} found by {where}; "
                        "nothing changed it elsewhere since it was observed"
                    )
            else:
                await self.refreshed_search(where, refresh or "new", properties=properties)

        self.run(work)

    @rule(change=elsewhere)
    def change_behind_the_servers_back(self, change: Elsewhere) -> None:
        self.run(lambda: self.change_elsewhere(change))

    @rule(email=emails)
    def webhook_arrives(self, email: str) -> None:
        """Resend's contact event for the address, as the server takes it in HTTP mode:
        the deletion of each contact deleted elsewhere that had it, then the contact that
        has it now, as it is. What the events carry is clean afterwards; property values
        are not in them."""

        async def work() -> None:
            for ghost_id in [i for i, ghost in self.ghosts.items() if ghost == email]:
                await self.deliver("contact.deleted", ghost_id, email, None)
                del self.ghosts[ghost_id]
                self.dirty.pop(ghost_id, None)
            holder = self.id_of(email)
            if holder is not None:
                await self.deliver("contact.updated", holder, email, self.truth[holder])
                self.dirty.get(holder, set()).difference_update(
                    {"exists", "unsubscribed", *SEGMENTS}
                )

        self.run(work)

    async def deliver(self, kind: str, contact_id: str, email: str, held: Held | None) -> None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        data: dict[str, Any] = {
            "id": contact_id, "email": email, "first_name": "", "last_name": "",
            "created_at": "2026-01-01T00:00:00.000Z", "updated_at": now,
            "unsubscribed": False, "segment_ids": [],
        }  # fmt: skip
        if held is not None:
            data["unsubscribed"] = held.unsubscribed
            data["segment_ids"] = [self.segment_ids[name] for name in sorted(held.segments)]
        body = json.dumps({"type": kind, "created_at": now, "data": data})
        self.deliveries += 1
        headers = signature_headers(WEBHOOK_SECRET, f"msg_{self.deliveries}", body)
        answer = await self.hooks.post(WEBHOOK_PATH, content=body, headers=headers)
        assert answer.status_code == 200, answer.text

    @rule(email=emails, plan=plans, unsubscribed=st.booleans(), segments=segment_sets)
    def create_contact(
        self, email: str, plan: str, unsubscribed: bool, segments: frozenset[str]
    ) -> None:
        async def work() -> None:
            before = self.truth
            arguments: dict[str, Any] = {"email": email, "unsubscribed": unsubscribed}
            if plan:
                arguments["properties"] = {"plan": plan}
            if segments:
                arguments["segments"] = sorted(segments)
            created = await self.h.call("create_contact", arguments)
            self.truth = await self.read_truth()
            assert created["created"] == (self.id_of(email, before) is None), created
            self.wrote(before, self.truth)

        self.run(work)

    @rule(email=emails, ask=asks())
    def update_contact(self, email: str, ask: Ask) -> None:
        async def work() -> None:
            before = self.truth
            contact_id = self.id_of(email)
            arguments = {"contact": email, **ask.arguments()}
            _, error = await self.attempt("update_contact", arguments)
            self.truth = await self.read_truth()
            if contact_id is None:
                assert error is not None
                assert "No contact" in error, error
            elif ask.refuses(before[contact_id]):
                assert error is not None, "the consent guard let a re-subscribe through"
                assert self.truth == before
            else:
                assert error is None, error
                assert self.truth[contact_id] == ask.applied(before[contact_id])
            self.wrote(before, self.truth)

        self.run(work)

    @rule(email=emails)
    def delete_contact(self, email: str) -> None:
        async def work() -> None:
            before = self.truth
            deleted = await self.h.call("delete_contact", {"contact": email})
            self.truth = await self.read_truth()
            assert deleted["already_gone"] == (self.id_of(email, before) is None), deleted
            assert self.id_of(email) is None
            self.wrote(before, self.truth)

        self.run(work)

    @rule(
        rows=st.lists(st.tuples(emails, plans), min_size=1, max_size=3, unique_by=lambda r: r[0]),
        strategy=st.sampled_from(["rows", "api"]),
        segments=segment_sets,
    )
    def import_contacts(
        self, rows: list[tuple[str, str]], strategy: str, segments: frozenset[str]
    ) -> None:
        async def work() -> None:
            before = self.truth
            arguments: dict[str, Any] = {
                "csv_text": "email,plan\n" + "".join(f"{e},{p}\n" for e, p in rows),
                "columns": {"email": "email", "plan": "plan"},
                "on_conflict": "upsert",
                "strategy": strategy,
            }
            if segments:
                arguments["segments"] = sorted(segments)
            summary = await self.h.job("import_contacts", arguments)
            self.truth = await self.read_truth()
            # The same file again is the same job: its rows are done (and it says so).
            for email, plan in rows if not summary["resumed_rows"] else ():
                contact_id = self.id_of(email)
                assert contact_id is not None, email
                now = self.truth[contact_id]
                assert segments <= now.segments, (email, now)
                if plan:
                    assert now.plan == plan, (email, now)
            self.wrote(before, self.truth)
            if strategy == "api":
                # Upserts through Resend's import API: Resend does not say what changed, so
                # the mirror no longer vouches for those contacts' fields and values.
                existing = [i for e, _ in rows if (i := self.id_of(e, before)) is not None]
                for contact_id in existing:
                    self.dirty.setdefault(contact_id, set()).update({"plan", "unsubscribed"})
                self.values_unknown |= bool(existing)
                held = [i for i in existing if self.clean(i, ["exists"])]
                if held:
                    found, error = await self.search([])
                    assert error is None, error
                    assert found["mirror"]["in_doubt"] >= len(held), found["mirror"]
                    assert "not vouched for" in found["mirror"]["note"], found["mirror"]

        self.run(work)

    @rule(emails=st.lists(emails, min_size=1, max_size=4, unique=True), fresh=st.booleans())
    def export_contacts(self, emails: list[str], fresh: bool) -> None:
        async def work() -> None:
            before = self.truth
            exported, error = await self.attempt(
                "export_contacts", {"contacts": emails, "fresh": fresh}
            )
            if error is None:
                exported = await self.finished(exported)
            self.truth = await self.read_truth()
            assert self.truth == before, "an export changed Resend"
            existing = [e for e in emails if self.id_of(e) is not None]
            if error is not None:
                assert not existing, error
                return
            freshness: dict[str, str] = exported["freshness"]
            now = "read from Resend during this export"
            read_now = {
                column: any(column in key.split(", ") and when == now
                            for key, when in freshness.items())
                for column in ("plan", "unsubscribed", "segments")
            }  # fmt: skip
            ghosted = set(self.ghosts.values())
            rows = {row["email"].lower(): row for row in exported["contacts"]}
            assert set(existing) <= set(rows), (
                f"the export left out {set(existing) - set(rows)}, which Resend has"
            )
            for email, row in rows.items():
                contact_id = self.id_of(email)
                if contact_id is None:
                    assert not fresh, f"a fresh export has {email}, which Resend does not"
                    assert email in ghosted, f"the export has {email}, deleted here"
                    continue
                true = self.truth[contact_id]
                values = {
                    "plan": (row["plan"], true.plan),
                    "unsubscribed": (row["unsubscribed"], str(true.unsubscribed).lower()),
                    "segments": (row["segments"], "; ".join(sorted(true.segments))),
                }
                for column, (shown, expected) in values.items():
                    facts = list(SEGMENTS) if column == "segments" else [column]
                    vouched = email not in ghosted and self.clean(contact_id, ["exists", *facts])
                    if fresh or read_now[column] or vouched:
                        assert shown == expected, (
                            f"export of {email}: {column} {shown!r}, Resend has {expected!r} "
                            f"(freshness: {freshness})"
                        )

        self.run(work)

    @rule(where=wheres, ask=asks(), first=st.none() | elsewhere, then=st.none() | elsewhere)
    def update_contacts(
        self, where: list[Cond], ask: Ask, first: Elsewhere | None, then: Elsewhere | None
    ) -> None:
        async def work() -> None:
            chosen = await self.selection_after(first, where)
            if chosen is None:
                return
            selection, shown = chosen
            arguments = {"search": selection, **ask.arguments()}
            before = self.truth
            answer, error = await self.attempt("update_contacts", arguments)
            if error is not None:
                self.nothing_to_change(error, shown, ask)
                return
            previewed = None
            if answer["preview"] is not None:
                previewed = await self.previewed(where, answer["preview"])
                if then is not None:
                    await self.change_elsewhere(then)
                before = self.truth
                arguments["confirm"] = answer["preview"]["confirm"]
                answer, error = await self.attempt("update_contacts", arguments)
                if error is not None:  # the run re-checks before it starts
                    if not self.selection_changed(error, then):
                        self.nothing_to_change(error, previewed or shown, ask)
                    return
            await self.ran(answer["run"], where, previewed, shown, before, ask)

        self.run(work)

    @rule(where=wheres, first=st.none() | elsewhere, then=st.none() | elsewhere)
    def delete_contacts(
        self, where: list[Cond], first: Elsewhere | None, then: Elsewhere | None
    ) -> None:
        async def work() -> None:
            chosen = await self.selection_after(first, where)
            if chosen is None:
                return
            selection, shown = chosen
            answer, error = await self.attempt("delete_contacts", {"search": selection})
            if not shown:
                assert error is not None, answer
                assert "No contacts to delete" in error, error
                return
            assert error is None, error
            previewed = await self.previewed(where, answer["preview"])
            if then is not None:
                await self.change_elsewhere(then)
            before = self.truth
            answer, error = await self.attempt(
                "delete_contacts", {"search": selection, "confirm": answer["preview"]["confirm"]}
            )
            if error is not None:
                assert self.selection_changed(error, then), error
                return
            await self.ran(answer["run"], where, previewed, shown, before, None)

        self.run(work)

    # -- bulk runs --------------------------------------------------------------------------

    async def selection_after(
        self, first: Elsewhere | None, where: list[Cond]
    ) -> tuple[str, list[str]] | None:
        """`selection(where)` after `first`, a change made elsewhere, unseen by the mirror."""
        if first is not None:
            await self.change_elsewhere(first)
        return await self.selection(where)

    async def selection(self, where: list[Cond]) -> tuple[str, list[str]] | None:
        """A search's selection and the ids it selects now, as the bulk tool called next
        will (a search may first list contacts an import created, and with them any
        created elsewhere since: the mirror is read as the tool will read it)."""
        found, error = await self.search(where)
        if error is not None:
            assert "Property values are mirrored for" in error, error
            assert self.values_unknown, error
            return None
        assert found["count"] == len(found["contacts"])
        return found["selection"], [c["id"] for c in found["contacts"]]

    async def previewed(self, where: list[Cond], preview: Any) -> list[str] | None:
        """The ids a preview's confirmation stands for: the search as the mirror holds it
        now (a preview may have re-checked, and learned, before answering); None when a
        search on values the mirror does not hold all of cannot say."""
        chosen = await self.selection(where)
        if chosen is None:
            return None
        _, ids = chosen
        assert preview["count"] == len(ids), (
            f"the preview counts {preview['count']} contacts, the search finds {len(ids)}: "
            "a confirmed run would not run what was previewed"
        )
        return ids

    def selection_changed(self, error: str, then: Elsewhere | None) -> bool:
        """Whether a confirmation was refused as the selection changed since its preview:
        right only if something changed since, here an edit elsewhere that the search
        then saw (a search lists the contacts an import created, and any newer ones)."""
        if "selection changed since the preview" not in error:
            return False
        assert then is not None, (
            f"a confirmation was refused though nothing changed since its preview but what "
            f"the preview itself observed: {error}"
        )
        return True

    def nothing_to_change(self, error: str, selected: list[str], ask: Ask) -> None:
        """Invariant 3: "nothing to change" only when Resend agrees, at the call, for
        every contact it counts (those deleted from Resend are no longer counted)."""
        existing = [self.truth[i] for i in selected if i in self.truth]
        if not existing:
            assert "No contacts to update" in error, error
            return
        counted = re.search(r"Nothing to change: (?:all|the|\d+ of the) (\d+) contacts?", error)
        assert counted is not None, error
        assert int(counted[1]) <= len(existing), (
            f"'Nothing to change' counts {counted[1]} contacts, {len(selected) - len(existing)}"
            f" of the {len(selected)} selected were deleted from Resend: {error}"
        )
        for true in existing:
            assert ask.already(true) or ask.refuses(true), (
                f"'Nothing to change' for {ask}, but Resend has {true}: {error}"
            )

    async def ran(
        self,
        run: Any,
        where: list[Cond],
        previewed: list[str] | None,
        shown: list[str],
        before: Truth,
        ask: Ask | None,
    ) -> None:
        """Follow a bulk run to its end, then check it against Resend (`check_run`) and
        count what it wrote as clean."""
        outcome = await self.finished(run)
        self.truth = await self.read_truth()
        self.check_run(where, previewed, shown, before, outcome, ask)
        self.wrote(before, self.truth)

    def check_run(
        self,
        where: list[Cond],
        previewed: list[str] | None,
        shown: list[str],
        before: Truth,
        outcome: Any,
        ask: Ask | None,
    ) -> None:
        """Invariants 2 and 3 for a run, given Resend as it was when the run began
        (`before`) and after it. A confirmed run acts on exactly the contacts `previewed`;
        one that ran at once (a few contacts) on the search as it found it then, which
        holds at least those it `shown` that still match."""
        after = self.truth
        context = f"run {outcome} of {ask or 'delete'} on {where}, previewed {previewed}"
        # Invariant 2: only contacts that match at run time are written (or deleted), and
        # of a confirmed run, only those previewed.
        matching = {i for i, c in before.items() if matches_all(where, c)}
        assert after.keys() <= before.keys(), f"a run created contacts: {context}"
        changed = {i for i in before if before[i] != after.get(i)}
        assert changed <= matching, (
            f"changed {changed - matching}, which did not match at run time: {context}"
        )
        if previewed is not None:
            assert changed <= set(previewed), (
                f"changed {changed - set(previewed)}, which were not previewed: {context}"
            )
        # Nothing silently dropped: each contact selected and matching is done.
        acted = matching & set(shown if previewed is None else previewed)
        if ask is None:
            assert acted == {i for i in before if i not in after}, context
        else:
            for contact_id in acted:
                true = before[contact_id]
                expected = true if ask.refuses(true) else ask.applied(true)
                assert after[contact_id] == expected, (contact_id, context)
        if previewed is None:  # which contacts the run selected is not known exactly
            assert outcome["done"] >= len(changed), context
            if ask is not None:
                refusing = {i for i in matching if ask.refuses(before[i])}
                already = {i for i in matching - refusing if ask.already(before[i])}
                assert outcome["refused"] <= len(refusing), context
                assert outcome["unchanged"] <= len(already), context
            return
        # Left alone, and said so; one deleted elsewhere matches nothing either.
        gone = [i for i in previewed if i not in before]
        left = [i for i in previewed if i in before and i not in matching]
        assert len(left) <= outcome["no_longer_matching"] <= len(left) + len(gone), context
        assert len(previewed) - len(gone) <= outcome["selected"] <= len(previewed), context
        if ask is None:  # a delete
            assert outcome["done"] == len(acted), context
            assert outcome["unchanged"] <= len(gone), context  # already gone
            return
        # Invariant 3: what the run says of each contact is what Resend had.
        refused = {i for i in acted if ask.refuses(before[i])}
        already = {i for i in acted - refused if ask.already(before[i])}
        deleted = f" (and {len(gone)} previewed were deleted from Resend)" if gone else ""
        assert outcome["refused"] == len(refused), (
            f"{outcome['refused']} said held back by the consent guard, Resend had "
            f"{len(refused)} unsubscribed{deleted}: {context}"
        )
        assert outcome["unchanged"] <= len(already), (
            f"{outcome['unchanged']} said already as asked, Resend agreed on "
            f"{len(already)}{deleted}: {context}"
        )
        assert outcome["done"] + outcome["unchanged"] == len(acted) - len(refused), context
        assert outcome["failed"] <= len(gone), context  # "the contact no longer exists"


class LegacyEra(TruthMachine):
    era = "legacy"


MACHINES: dict[str, type[TruthMachine]] = {"auto": TruthMachine, "legacy": LegacyEra}


@pytest.mark.parametrize("era", ERAS)
def test_the_mirror_tells_the_truth(era: str) -> None:
    run_state_machine_as_test(MACHINES[era], settings=RUN_SETTINGS)
