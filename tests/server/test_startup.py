"""What starting the server loads: what `initialize` and `tools/list` need, nothing more.

Hosts spawn the server often. The CSV machinery, the import engine and the emulator are
loaded when an import runs or the first request reaches the local backend, never at
startup. Each check runs in a fresh interpreter, so nothing another test imported counts.
"""

import json
import subprocess
import sys

from tests.server.test_surface import SNAPSHOT

# Modules whose import would mean startup loads the import machinery or the emulator.
NOT_AT_STARTUP = (
    "contacts_mcp.emulator",
    "contacts_mcp.imports.csvio",
    "contacts_mcp.imports.mapping",
    "contacts_mcp.imports.preview",
    "contacts_mcp.imports.plan",
    "contacts_mcp.imports.journal",
    "contacts_mcp.imports.service",
    "contacts_mcp.imports.strategy_api",
    "contacts_mcp.imports.strategy_rows",
    "email_validator",
)

SCRIPT = """
import json, sys

import anyio
from mcp import Client

import contacts_mcp.server

after_import = sorted(sys.modules)

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig


async def list_tools() -> int:
    config = BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:")
    async with Client(contacts_mcp.server.build_server(config), mode="legacy") as client:
        return len((await client.list_tools()).tools)


tools = anyio.run(list_tools)
print(json.dumps({"after_import": after_import, "after_listing": sorted(sys.modules),
                  "tools": tools}))
"""


def loaded(modules: list[str]) -> list[str]:
    return [
        name
        for name in modules
        if any(name == heavy or name.startswith(heavy + ".") for heavy in NOT_AT_STARTUP)
    ]


def test_importing_and_listing_tools_loads_neither_the_emulator_nor_the_csv_machinery() -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert "contacts_mcp.server.app" in seen["after_import"]
    assert loaded(seen["after_import"]) == []
    # Building the server registers every tool, and listing them loads nothing more.
    assert seen["tools"] == len(json.loads(SNAPSHOT.read_text(encoding="utf-8")))
    assert loaded(seen["after_listing"]) == []


def test_the_check_would_see_the_machinery_once_an_import_module_is_loaded() -> None:
    # Guards the guard: the names above are the modules that really exist.
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, contacts_mcp.imports.service, contacts_mcp.emulator; "
            "print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert set(loaded(json.loads(run.stdout))) >= set(NOT_AT_STARTUP) - {"email_validator"}
