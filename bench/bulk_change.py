"""A bulk add-to-segment of 5,000 contacts, through update_contacts, against the emulator
limited to 5 requests/s (a Resend team's default; `--limit` changes it); then the same
contacts added to a second segment by one Contact Imports API upsert, for comparison.

    python -m bench.bulk_change [--contacts 5000] [--already 500] [--limit 5]

The import path is measured, not used: no Resend source says that an upsert import
leaves unmapped fields alone or adds existing contacts to its segments (README, "Bulk
changes as imports"), so update_contacts stays paced. Against the emulator, which
implements that reading, the bench shows what it would cost if Resend confirmed it.

The account holds `contacts` at acme.com, `already` of them in the segment, and a few
others. The bench searches them (which fills the mirror), previews the change, then runs
it and waits on the job as a host would. Printed, for the run: the achieved rate
against the limit (goal ≥ 90 %), the share of 429 answers (goal ≤ 1 %), requests per
contact that needed the change (goal ≤ 1.05), the requests spent on contacts already
in the segment (goal 0), and the members the segment ends with.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import anyio
import httpx
from mcp import Client

from bench.common import add_limit_flag, direct_emulator, run_confirmed
from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, BackendConfig, LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts answers by status, and the membership writes, on the way to the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.statuses: Counter[int] = Counter()
        self.joined: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses[response.status_code] += 1
        parts = request.url.path.strip("/").split("/")
        if request.method == "POST" and len(parts) == 4 and parts[2] == "segments":
            self.joined[parts[1]] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def seed(db: Path, contacts: int, already: int) -> tuple[str, set[str]]:
    """The account; returns the segment's id and the ids already in it."""
    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        segment = (await http.post("/segments", json={"name": "VIP"})).json()["id"]
        members: set[str] = set()
        for i in range(contacts):
            created = await http.post("/contacts", json={"email": f"u{i}@acme.com"})
            created.raise_for_status()
            if i % (contacts // max(already, 1)) == 0 and len(members) < already:
                contact_id = created.json()["id"]
                joined = await http.post(f"/contacts/{contact_id}/segments/{segment}")
                joined.raise_for_status()
                members.add(contact_id)
        for i in range(20):
            (
                await http.post("/contacts", json={"email": f"keep{i}@example.org"})
            ).raise_for_status()
    return segment, members


async def main(contacts: int, already: int, limit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "account.db"
        segment, members = await seed(db, contacts, already)
        counting = CountingTransport(
            LocalTransport(EmulatorOptions(db_path=str(db), rate_limit=limit))
        )
        config = BackendConfig(api_key=LOCAL_API_KEY, base_url=LOCAL_BASE_URL, transport=counting)
        settings = ImportSettings(files=FilePolicy(), state_dir=folder / "state")
        where = [{"field": "domain", "op": "eq", "value": "acme.com"}]
        change = {"add_segments": ["VIP"]}
        async with Client(build_server(config, settings), read_timeout_seconds=60) as client:
            found = await client.call_tool("search_contacts", {"where": where, "count_only": True})
            assert found.structured_content is not None, found.content
            search = found.structured_content["selection"]
            answer = await client.call_tool("update_contacts", {"search": search, **change})
            assert answer.structured_content is not None, answer.content
            preview = answer.structured_content["preview"]
            counting.statuses.clear()
            counting.joined.clear()
            outcome, calls, elapsed = await run_confirmed(
                client,
                "update_contacts",
                {"search": search, **change, "confirm": preview["confirm"]},
            )
        async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
            count, after = 0, ""
            while True:
                page = (await http.get(f"/segments/{segment}/contacts?limit=100{after}")).json()
                count += len(page["data"])
                if not page["has_more"]:
                    break
                after = f"&after={page['data'][-1]['id']}"
        imported = await import_path(db, contacts, limit)
    requests = sum(counting.statuses.values())
    answered = requests - counting.statuses[429]
    wasted = sum(counting.joined[contact_id] for contact_id in members)
    print(
        f"bulk add-to-segment of {contacts:,} contacts ({already} already members), "
        f"emulator limited to {limit} req/s:"
    )
    print(
        f"  preview    : {preview['to_change']:,} to change, {preview['already']} already, "
        f"{preview['requests']:,} requests, estimated {preview['estimated_seconds']} s"
    )
    print(
        f"  outcome    : {outcome['done']:,} added, {outcome['unchanged']} already members, "
        f"{outcome['failed']} failed; the segment now has {count:,} members"
    )
    print(
        f"  time       : {elapsed:.1f} s over {calls} calls; achieved {answered / elapsed:.2f} "
        f"req/s = {answered / elapsed / limit:.1%} of the limit (goal ≥ 90%)"
    )
    print(
        f"  429 share  : {counting.statuses[429]} of {requests:,} = "
        f"{counting.statuses[429] / requests:.2%} (goal ≤ 1%)"
    )
    per = requests / max(outcome["done"], 1)
    print(f"  requests   : {requests:,} = {per:.3f} per contact changed (goal ≤ 1.05)")
    print(f"  on members : {wasted} requests for the {already} already in the segment (goal 0)")
    seconds, sent, import_members, untouched = imported
    print("import path (measured, not used: see the README), one upsert to a second segment:")
    print(
        f"  time       : {seconds:.1f} s, {sent} requests (upload and polls); the segment "
        f"has {import_members:,} members; every other field as it was: {untouched}"
    )
    print(
        f"  ratio      : paced {elapsed:.0f} s / import {seconds:.1f} s = {elapsed / seconds:.0f}x"
    )


async def import_path(db: Path, contacts: int, limit: int) -> tuple[float, int, int, bool]:
    """One Contact Imports API upsert of the acme.com addresses (email only) into a new
    segment, at the same limit: seconds, requests, members, and whether the contacts'
    other fields are as they were (in the emulator)."""
    import io
    import time

    from contacts_mcp.backends import open_client

    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        segment = (await http.post("/segments", json={"name": "VIP 2"})).json()["id"]
        before = (await http.get("/contacts/u1@acme.com")).json()
    emails = "".join(f"u{i}@acme.com\n" for i in range(contacts))
    counting = CountingTransport(LocalTransport(EmulatorOptions(db_path=str(db), rate_limit=limit)))
    config = BackendConfig(api_key=LOCAL_API_KEY, base_url=LOCAL_BASE_URL, transport=counting)
    started = time.monotonic()
    async with open_client(config) as client:
        created = await client.create_contact_import(
            io.BytesIO(f"email\n{emails}".encode()),
            filename="segment.csv",
            columns={"email": "email"},
            property_types={},
            on_conflict="upsert",
            segments=[segment],
        )
        for _ in range(3600):  # polled each second, as the import strategy does
            if (await client.get_contact_import(created.id)).status in ("completed", "failed"):
                break
            await anyio.sleep(1.0)
    seconds = time.monotonic() - started
    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        members, after = 0, ""
        while True:
            page = (await http.get(f"/segments/{segment}/contacts?limit=100{after}")).json()
            members += len(page["data"])
            if not page["has_more"]:
                break
            after = f"&after={page['data'][-1]['id']}"
        now = (await http.get("/contacts/u1@acme.com")).json()
    return seconds, sum(counting.statuses.values()), members, now == before


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--already", type=int, default=500)
    add_limit_flag(parser)
    args = parser.parse_args()
    anyio.run(main, args.contacts, args.already, args.limit)
