"""What everyday asks cost through the MCP tools, at a Resend team's 5 requests/s.

    python -m bench.taskcost [--contacts 2000] [--rows 500] [--limit 5] [--detail]

The emulator enforces `--limit` requests/s (default 5, a Resend team's default). An
account of `contacts` contacts (five domains, three segments, two properties) is seeded
through a second, unlimited emulator on the same database, so seeding is not counted.
Then ten asks run in order, through one in-memory MCP session as a host would drive it:
the calls a model makes for the ask; a job handle followed with get_job as its text says;
a tool error that names a job (the mirror being filled first) waited on, then the call
made again. Printed per ask: the tool calls; the bytes of text the model reads (the text
content of every result, errors and get_job included); the Resend requests seen at the
transport (429 answers among them, and polls of the Contact Imports API); the wall time;
and the fewest requests the plain Resend API needs for the same ask, worked out from the
account as it is just before the ask (the legend under the table gives each formula).
`--detail` also prints each ask's requests by endpoint.

Figures are measured, never asserted: they move as the mirror and the bulk tools change.
The first ask pays for filling the mirror and the later ones read it, while each
plain-API figure counts its ask alone (finding the contacts included).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.types import CallToolResult

from bench.common import add_limit_flag, direct_emulator
from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, BackendConfig, LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server

PAGE = 100  # the most a Resend list page holds
DOMAINS = {"gmail.com": 40, "outlook.com": 25, "acme.com": 15, "globex.com": 10, "initech.com": 10}
SEGMENTS = {"Newsletter": 0.6, "Customers": 0.25, "Beta": 0.05}
PLANS = ["free", "pro", "team"]
PASTED = 20
# A tool's text points at a job this way ("call get_job {"job_id": "…"} to wait for it").
JOB_HINT = re.compile(r'get_job \{"job_id": "([^"]+)"\}')
RETRIES_AFTER_A_JOB = 3
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts the requests the server sends to the emulator (by endpoint), its 429s and its
    import polls."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0
        self.limited = 0
        self.polls = 0
        self.endpoints: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = "/".join(
            "{id}" if ID.fullmatch(part) or "@" in part else part
            for part in request.url.path.split("/")
        )
        self.endpoints[f"{request.method} {path}"] += 1
        if request.method == "GET" and request.url.path.startswith("/contacts/imports/"):
            self.polls += 1
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            self.limited += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def text_of(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if c.type == "text")


class Host:
    """Makes tool calls as a host does for a model, and tallies what the model reads."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.calls = 0
        self.text_bytes = 0

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        result = await self._call(tool, arguments)
        for _ in range(RETRIES_AFTER_A_JOB):
            hint = JOB_HINT.search(text_of(result)) if result.is_error else None
            if hint is None:
                break
            await self.follow(hint.group(1))
            result = await self._call(tool, arguments)
        return result

    async def follow(self, job_id: str) -> CallToolResult:
        """get_job until the job is no longer working (each call waits up to its default)."""
        while True:
            result = await self._call("get_job", {"job_id": job_id})
            job = (result.structured_content or {}).get("job")
            if result.is_error or job is None or job.get("status") != "working":
                return result

    async def settle(self, handle: dict[str, Any]) -> dict[str, Any]:
        """The final state of a job a tool answered with (its result, or its handle)."""
        if handle.get("status") == "working":
            handle = need(await self.follow(handle["job_id"]))["job"]
        if handle.get("status") != "completed":
            raise AskFailedError(f"job {handle.get('job_id')} ended {handle.get('status')}")
        return handle

    async def _call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        result = await self.client.call_tool(tool, arguments)
        self.calls += 1
        self.text_bytes += len(text_of(result).encode("utf-8"))
        return result


class AskFailedError(Exception):
    """An ask did not end as planned; the bench reports it and goes on."""


def need(result: CallToolResult) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        raise AskFailedError(text_of(result)[:160].replace("\n", " "))
    answer: dict[str, Any] = result.structured_content
    return answer


@dataclass
class Account:
    """The account as the plain API would see it, read (uncounted) just before an ask."""

    contacts: list[dict[str, Any]]
    members: dict[str, set[str]]  # segment name → contact ids

    def pages(self, n: int) -> int:
        return max(1, math.ceil(n / PAGE))

    def all_pages(self) -> int:
        return self.pages(len(self.contacts))

    def at(self, domain: str) -> list[str]:
        return [c["id"] for c in self.contacts if c["email"].endswith("@" + domain)]


async def read_account(db: Path) -> Account:
    async def every(http: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = ""
        while True:
            page = (await http.get(f"{path}?limit={PAGE}{after}")).json()
            found.extend(page["data"])
            if not page["has_more"]:
                return found
            after = f"&after={page['data'][-1]['id']}"

    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        contacts = await every(http, "/contacts")
        members = {
            s["name"]: {c["id"] for c in await every(http, f"/segments/{s['id']}/contacts")}
            for s in await every(http, "/segments")
        }
    return Account(contacts, members)


async def seed(db: Path, contacts: int) -> list[str]:
    """The account; returns every email, oldest first."""
    rng = random.Random(16)
    emails: list[str] = []
    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        for key, type_ in (("plan", "string"), ("seats", "number")):
            defined = {"key": key, "type": type_}
            (await http.post("/contact-properties", json=defined)).raise_for_status()
        ids = {
            name: (await http.post("/segments", json={"name": name})).json()["id"]
            for name in SEGMENTS
        }
        domains, weights = list(DOMAINS), list(DOMAINS.values())
        for i in range(contacts):
            email = f"person{i}@{rng.choices(domains, weights)[0]}"
            body: dict[str, Any] = {
                "email": email,
                "first_name": "Person",
                "last_name": f"Number {i}",
                "unsubscribed": rng.random() < 0.03,
                "properties": {"plan": rng.choice(PLANS), "seats": rng.randint(1, 50)},
                "segments": [
                    {"id": ids[n]} for n, share in SEGMENTS.items() if rng.random() < share
                ],
            }
            (await http.post("/contacts", json=body)).raise_for_status()
            emails.append(email)
    return emails


def write_csv(path: Path, first: int, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name,last_name,plan\n")
        out.writelines(
            f"new{i}@example.net,New,Person {i},{PLANS[i % 3]}\n"
            for i in range(first, first + rows)
        )


@dataclass
class Ask:
    label: str
    run: Callable[[Host], Awaitable[None]]
    plain: Callable[[Account], int]
    formula: str
    # Where the tools give more than the bare ask (a restorable delete, say): what the
    # plain API needs for that same result, and what the more is. None: the bare figure.
    same: Callable[[Account], int] | None = None
    same_formula: str = ""


@dataclass
class Row:
    label: str
    calls: int = 0
    text_bytes: int = 0
    requests: int = 0
    limited: int = 0
    polls: int = 0
    seconds: float = 0.0
    plain: int = 0
    formula: str = ""
    same: int = 0
    same_formula: str = ""
    note: str = ""
    endpoints: Counter[str] = field(default_factory=Counter)


@dataclass
class Plan:
    """The asks, with what they need from the account and the files."""

    emails: list[str]
    rows: int

    async def search(self, host: Host, where: list[dict[str, Any]]) -> str:
        found = need(await host.call("search_contacts", {"where": where, "count_only": True}))
        selection: str = found["selection"]
        return selection

    async def count_all(self, host: Host) -> None:
        need(await host.call("search_contacts", {"where": [], "count_only": True}))

    async def find_domain(self, host: Host) -> None:
        where = [{"field": "domain", "op": "eq", "value": "globex.com"}]
        need(await host.call("search_contacts", {"where": where}))

    async def count_segments(self, host: Host) -> None:
        need(await host.call("list_segments", {"with_counts": True}))

    async def one_contact(self, host: Host) -> None:
        need(await host.call("get_contact", {"contact": self.emails[len(self.emails) // 2]}))

    async def add_to_segment(self, host: Host) -> None:
        where = [{"field": "domain", "op": "eq", "value": "acme.com"}]
        search = await self.search(host, where)
        await self.confirmed(host, "update_contacts", {"search": search, "add_segments": ["Beta"]})

    async def unsubscribe_pasted(self, host: Host) -> None:
        pasted = self.emails[:: max(1, len(self.emails) // PASTED)][:PASTED]
        await self.confirmed(host, "update_contacts", {"contacts": pasted, "unsubscribed": True})

    async def delete_domain(self, host: Host) -> None:
        where = [{"field": "domain", "op": "eq", "value": "initech.com"}]
        search = await self.search(host, where)
        await self.confirmed(host, "delete_contacts", {"search": search})

    async def export_segment(self, host: Host) -> None:
        where = [{"field": "segment", "op": "in", "value": "Customers"}]
        search = await self.search(host, where)
        arguments = {"search": search, "path": "customers.csv"}
        await host.settle(need(await host.call("export_contacts", arguments)))

    async def import_api(self, host: Host) -> None:
        await self.import_file(host, "import-api.csv", "api")

    async def import_rows(self, host: Host) -> None:
        await self.import_file(host, "import-rows.csv", "rows")

    async def import_file(self, host: Host, name: str, strategy: str) -> None:
        need(await host.call("preview_import", {"path": name}))
        arguments = {
            "path": name,
            "columns": {c: c for c in ("email", "first_name", "last_name", "plan")},
            "on_conflict": "upsert",
            "strategy": strategy,
        }
        summary = (await host.settle(need(await host.call("import_contacts", arguments))))["result"]
        if summary.get("failed"):
            raise AskFailedError(f"{summary['failed']} rows failed")

    async def confirmed(self, host: Host, tool: str, arguments: dict[str, Any]) -> None:
        """Preview, then the confirmed run, waited for."""
        answer = need(await host.call(tool, arguments))
        if answer.get("preview") is not None:  # a few contacts are changed without one
            confirm = answer["preview"]["confirm"]
            answer = need(await host.call(tool, {**arguments, "confirm": confirm}))
        outcome = (await host.settle(answer["run"]))["result"]
        if outcome.get("failed"):
            raise AskFailedError(f"{outcome['failed']} contacts failed")


def asks(plan: Plan) -> list[Ask]:
    rows = plan.rows
    return [
        Ask("count all contacts", plan.count_all, Account.all_pages, "P(all)"),
        Ask(
            "find contacts at a domain (count + 50)",
            plan.find_domain,
            Account.all_pages,
            "P(all): no search endpoint, every page is read",
        ),
        Ask(
            "count each segment",
            plan.count_segments,
            lambda a: 1 + sum(a.pages(len(m)) for m in a.members.values()),
            "1 + Σ P(segment)",
        ),
        Ask(
            "look up one contact",
            plan.one_contact,
            lambda a: 1,
            "1 GET",
            lambda a: 3,
            "with its segments and topics, as get_contact shows them: 3 GETs",
        ),
        Ask(
            "add acme.com to a segment",
            plan.add_to_segment,
            lambda a: (
                a.all_pages()
                + 1
                + min(
                    len(a.at("acme.com")),
                    a.pages(len(a.members["Beta"]))
                    + len(set(a.at("acme.com")) - a.members["Beta"]),
                )
            ),
            "P(all) + 1 (segment id) + min(matches, P(segment) + matches not in it)",
        ),
        Ask(
            f"unsubscribe {PASTED} pasted emails",
            plan.unsubscribe_pasted,
            lambda a: PASTED,
            "1 PATCH each",
        ),
        Ask(
            "delete initech.com",
            plan.delete_domain,
            lambda a: a.all_pages() + len(a.at("initech.com")),
            "P(all) + 1 DELETE each",
            lambda a: (
                a.all_pages()
                + min(
                    1 + sum(a.pages(len(m)) for m in a.members.values()), len(a.at("initech.com"))
                )
                + 2 * len(a.at("initech.com"))
            ),
            "restorable, each one's values and segments kept first (the snapshot): P(all) + "
            "min(1 + Σ P(segment), matches) + 1 GET and 1 DELETE each",
        ),
        Ask(
            "export a segment (with properties)",
            plan.export_segment,
            lambda a: (
                1 + sum(a.pages(len(m)) for m in a.members.values()) + len(a.members["Customers"])
            ),
            "1 + Σ P(segment) (members and their segments) + 1 GET each (properties)",
        ),
        Ask(
            f"import {rows} rows, strategy api",
            plan.import_api,
            lambda a: 2,
            "1 upload + ≥ 1 poll (goal: ≤ 5 + polls)",
            lambda a: 5,
            "the goal set for this path: at most 5 requests besides polls (the property "
            "types, recent imports checked to resume one, the upload)",
        ),
        Ask(
            f"import {rows} rows, strategy rows",
            plan.import_rows,
            lambda a: rows,
            "1 POST each",
            lambda a: 1 + a.all_pages() + rows,
            "an upsert that tells created from updated: Resend answers a create of an existing "
            "address with its id, and may leave it unchanged, so which exist is learnt first: "
            "1 (property types) + P(all) + 1 POST each",
        ),
    ]


async def run_asks(db: Path, folder: Path, limit: int, emails: list[str], rows: int) -> list[Row]:
    counting = CountingTransport(LocalTransport(EmulatorOptions(db_path=str(db), rate_limit=limit)))
    config = BackendConfig(api_key=LOCAL_API_KEY, base_url=LOCAL_BASE_URL, transport=counting)
    settings = ImportSettings(files=FilePolicy(allowed_dirs=(folder,)), state_dir=folder / "state")
    plan = Plan(emails, rows)
    table: list[Row] = []
    async with Client(build_server(config, settings), read_timeout_seconds=120) as client:
        host = Host(client)
        for ask in asks(plan):
            account = await read_account(db)
            row = Row(ask.label, plain=ask.plain(account), formula=ask.formula)
            row.same = (ask.same or ask.plain)(account)
            row.same_formula = ask.same_formula
            calls, text_bytes = host.calls, host.text_bytes
            requests, limited, polls = counting.requests, counting.limited, counting.polls
            endpoints = counting.endpoints.copy()
            started = time.perf_counter()
            try:
                await ask.run(host)
            except AskFailedError as exc:
                row.note = str(exc)
            row.seconds = time.perf_counter() - started
            row.calls, row.text_bytes = host.calls - calls, host.text_bytes - text_bytes
            row.requests, row.limited = counting.requests - requests, counting.limited - limited
            row.polls = counting.polls - polls
            row.endpoints = counting.endpoints - endpoints
            table.append(row)
            print(f"  … {row.label}: {row.seconds:.1f} s", flush=True)
    return table


def report(table: list[Row], contacts: int, limit: int, detail: bool) -> None:
    print()
    print(f"task cost, {contacts:,} contacts, emulator enforcing {limit} req/s:")
    header = (
        f"{'ask':<40} {'calls':>5} {'text B':>7} {'requests':>8} {'429s':>4} "
        f"{'polls':>5} {'seconds':>7} {'plain API':>9} {'same result':>11}"
    )
    print(header)
    print("-" * len(header))
    total = Row("total")
    for row in [*table, total]:
        if row is total:
            print("-" * len(header))
        print(
            f"{row.label:<40} {row.calls:>5} {row.text_bytes:>7,} {row.requests:>8,} "
            f"{row.limited:>4} {row.polls:>5} {row.seconds:>7.1f} {row.plain:>9,} "
            f"{row.same:>11,}"
        )
        if row is not total:
            total.calls += row.calls
            total.text_bytes += row.text_bytes
            total.requests += row.requests
            total.limited += row.limited
            total.polls += row.polls
            total.seconds += row.seconds
            total.plain += row.plain
            total.same += row.same
    print()
    print(f"plain API: the fewest requests for the ask, P(n) = max(1, ceil(n/{PAGE})) list pages:")
    for row in table:
        print(f"  {row.label:<40} {row.formula}")
    print("same result: what the plain API needs for what the tools give, where that is more:")
    for row in table:
        if row.same_formula:
            print(f"  {row.label:<40} {row.same_formula}")
    over = [row for row in table if row.requests - row.polls > row.same]
    print(
        "goal, requests (polls aside) at most the same-result figure: "
        + ("met by every ask" if not over else "missed by " + ", ".join(r.label for r in over))
    )
    if detail:
        print("requests by endpoint:")
        for row in table:
            shown = ", ".join(f"{n} {endpoint}" for endpoint, n in row.endpoints.most_common())
            print(f"  {row.label:<40} {shown or '-'}")
    failed = [row for row in table if row.note]
    if failed:
        print("asks that did not end as planned:")
        for row in failed:
            print(f"  {row.label}: {row.note}")


async def main(contacts: int, rows: int, limit: int, detail: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "account.db"
        started = time.perf_counter()
        emails = await seed(db, contacts)
        write_csv(folder / "import-api.csv", 0, rows)
        write_csv(folder / "import-rows.csv", rows, rows)
        print(
            f"seeded {contacts:,} contacts in {time.perf_counter() - started:.1f} s (not counted)"
        )
        table = await run_asks(db, folder, limit, emails, rows)
    report(table, contacts, limit, detail)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=500, help="rows in each import")
    add_limit_flag(parser)
    parser.add_argument("--detail", action="store_true", help="requests by endpoint, per ask")
    args = parser.parse_args()
    anyio.run(main, args.contacts, args.rows, args.limit, args.detail)
