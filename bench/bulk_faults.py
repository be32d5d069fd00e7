"""A bulk delete (or change) of 1,000 contacts under 20 % injected faults, through the
MCP tools.

    python -m bench.bulk_faults [--contacts 1000] [--action delete|update]

Faults: 5 % each of 429, 500, 503, and writes applied whose answer is lost. Printed: the
outcome (done, already so, failed: goal 0), contacts left in the wrong state (goal 0):
still there after a delete, or not unsubscribed, in the segment and holding the property
value after an update; requests per contact, and the time the job took. No rate limit,
deliberately (the in-process emulator states 10,000 requests/s): this bench counts what
faults do to the outcome, not pacing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import anyio
from mcp import Client

from bench.common import direct_emulator, run_confirmed
from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, BackendConfig, LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server

UPDATE = {"unsubscribed": True, "add_segments": ["VIP"], "properties": {"plan": "pro"}}


async def seed(db: Path, count: int) -> None:
    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        (await http.post("/segments", json={"name": "VIP"})).raise_for_status()
        property_ = {"key": "plan", "type": "string"}
        (await http.post("/contact-properties", json=property_)).raise_for_status()
        for i in range(count):
            (await http.post("/contacts", json={"email": f"u{i}@acme.com"})).raise_for_status()
        for i in range(10):
            (
                await http.post("/contacts", json={"email": f"keep{i}@example.org"})
            ).raise_for_status()


async def wrong_after_update(db: Path) -> int:
    """acme.com contacts not unsubscribed, not in VIP, or without plan = pro."""
    wrong = 0
    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        after = ""
        while True:
            page = (await http.get(f"/contacts?limit=100{after}")).json()
            for item in page["data"]:
                if not item["email"].endswith("@acme.com"):
                    continue
                contact = (await http.get(f"/contacts/{item['id']}")).json()
                segments = (await http.get(f"/contacts/{item['id']}/segments")).json()["data"]
                plan = contact["properties"].get("plan", {}).get("value")
                names = [s["name"] for s in segments]
                wrong += (contact["unsubscribed"], names, plan) != (True, ["VIP"], "pro")
            if not page["has_more"]:
                return wrong
            after = f"&after={page['data'][-1]['id']}"


async def main(count: int, action: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "account.db"
        await seed(db, count)
        faults = EmulatorOptions(
            db_path=str(db), fault_429=0.05, fault_500=0.05, fault_503=0.05,
            drop_after_write=0.05, seed=7,
        )  # fmt: skip
        config = BackendConfig(
            api_key=LOCAL_API_KEY, base_url=LOCAL_BASE_URL, transport=LocalTransport(faults)
        )
        settings = ImportSettings(files=FilePolicy(), state_dir=folder / "state")
        where = [{"field": "domain", "op": "eq", "value": "acme.com"}]
        async with Client(build_server(config, settings), read_timeout_seconds=60) as client:
            found = await client.call_tool("search_contacts", {"where": where, "count_only": True})
            assert found.structured_content is not None, found.content
            search = found.structured_content["selection"]
            tool = f"{action}_contacts"
            change = UPDATE if action == "update" else {}
            preview = await client.call_tool(tool, {"search": search, **change})
            assert preview.structured_content is not None, preview.content
            token = preview.structured_content["preview"]["confirm"]
            outcome, calls, elapsed = await run_confirmed(
                client, tool, {"search": search, **change, "confirm": token}
            )
            left = await client.call_tool(
                "search_contacts", {"where": where, "count_only": True, "refresh": "full"}
            )
            assert left.structured_content is not None
        wrong = (
            left.structured_content["count"] if action == "delete" else await wrong_after_update(db)
        )
    print(f"bulk {action} of {count:,} contacts under 20 % injected faults (no rate limit):")
    done, already = ("deleted", "already gone") if action == "delete" else ("changed", "already so")
    print(
        f"  outcome        : {outcome['done']} {done}, {outcome['unchanged']} {already}, "
        f"{outcome['failed']} failed  (goal 0 failed)"
    )
    print(f"  wrong state    : {wrong}  (goal 0)")
    per = outcome["requests"] / count
    print(f"  requests       : {outcome['requests']:,} = {per:.2f} per contact (with retries)")
    print(f"  time           : {elapsed:.1f} s over {calls} calls")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--action", choices=["delete", "update"], default="delete")
    args = parser.parse_args()
    anyio.run(main, args.contacts, args.action)
