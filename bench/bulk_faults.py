"""A bulk delete of 1,000 contacts under 20 % injected faults, through the MCP tools.

    python -m bench.bulk_faults [--contacts 1000]

Faults: 5 % each of 429, 500, 503, and deletes applied whose answer is lost. Printed:
the outcome (deleted, already gone, failed: goal 0), contacts left that should be gone
(goal 0), requests per contact, and the time the job took.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from bench.common import direct_emulator, finish_job
from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, BackendConfig, LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server


async def seed(db: Path, count: int) -> None:
    async with direct_emulator(EmulatorOptions(db_path=str(db))) as http:
        for i in range(count):
            (await http.post("/contacts", json={"email": f"u{i}@acme.com"})).raise_for_status()
        for i in range(10):
            (
                await http.post("/contacts", json={"email": f"keep{i}@example.org"})
            ).raise_for_status()


async def main(count: int) -> None:
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
            preview = await client.call_tool("delete_contacts", {"search": search})
            assert preview.structured_content is not None, preview.content
            token = preview.structured_content["preview"]["confirm"]
            started = time.perf_counter()
            answer = await client.call_tool("delete_contacts", {"search": search, "confirm": token})
            assert answer.structured_content is not None, answer.content
            result, calls = await finish_job(
                client,
                answer.model_copy(update={"structured_content": answer.structured_content["run"]}),
            )
            elapsed = time.perf_counter() - started
            assert result.structured_content is not None, result.content
            outcome = result.structured_content["result"]
            left = await client.call_tool(
                "search_contacts", {"where": where, "count_only": True, "refresh": "full"}
            )
            assert left.structured_content is not None
    print(f"bulk delete of {count:,} contacts under 20 % injected faults:")
    print(
        f"  outcome        : {outcome['done']} deleted, {outcome['unchanged']} already gone "
        f"(answers lost), {outcome['failed']} failed  (goal 0 failed)"
    )
    print(f"  still there    : {left.structured_content['count']}  (goal 0)")
    per = outcome["requests"] / count
    print(
        f"  requests       : {outcome['requests']:,} = {per:.2f} per contact"
        " (reads, deletes, retries)"
    )
    print(f"  time           : {elapsed:.1f} s over {calls} calls")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1000)
    args = parser.parse_args()
    anyio.run(main, args.contacts)
