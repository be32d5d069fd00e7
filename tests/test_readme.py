"""The README works as written: its commands run, its configurations start this CLI, its
limits are the code's, and its links land.

Every command line in the README's ```bash blocks is either run here, in order, in a
fresh home folder, or matches a rule in `SKIPPED` that says why not. A line that is
neither fails `test_every_command_line_is_run_or_skipped_for_a_stated_reason`, so a new
command cannot slip in unchecked.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from contacts_mcp import cli
from contacts_mcp.api.base import MAX_CONTACTS, MAX_PAGES
from contacts_mcp.api.client import (
    DEFAULT_API_DEADLINE,
    MAX_CONCURRENCY,
    MAX_RETRIES,
    MAX_RETRY_AFTER,
)
from contacts_mcp.api.pacing import PACING_SAFETY
from contacts_mcp.backends import default_db_path
from contacts_mcp.imports.files import DEFAULT_MAX_IMPORT_BYTES
from contacts_mcp.imports.mapping import MAX_KEY_CHARS, MAX_NEW_PROPERTIES
from contacts_mcp.imports.plan import MAX_INLINE_BYTES
from contacts_mcp.imports.preview import MAX_LISTED_COLUMNS
from contacts_mcp.server.tools.bulk import SKIP_CONFIRM_UP_TO
from contacts_mcp.server.tools.imports import MAX_COLUMNS
from contacts_mcp.services.bulk import CONFIRM_SECONDS, FRESH_SECONDS, INLINE_ROWS, MAX_SELECTION
from contacts_mcp.services.contacts import MAX_NAME_CHARS
from contacts_mcp.services.jobs import DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS
from contacts_mcp.services.schema import (
    LIST_PAGE,
    MAX_PROPERTY_VALUE_CHARS,
    MAX_SEGMENT_NAME,
    MAX_TOPIC_DESCRIPTION,
    MAX_TOPIC_NAME,
    SCHEMA_TTL,
)
from contacts_mcp.services.sets import MAX_CONDITIONS, MAX_NEW_BEFORE_FULL
from contacts_mcp.services.sharing import BUSY_TIMEOUT_SECONDS
from contacts_mcp.text.caps import (
    MAX_SHOWN_FIELD_CHARS,
    MAX_SHOWN_ITEMS,
    MAX_SHOWN_PROPERTIES,
    MAX_SHOWN_VALUE_CHARS,
)

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Commands the README shows but this test does not run, by how the command starts (after
# any VAR=value prefix), each with the reason.
SKIPPED = {
    "git clone ": "needs GitHub; the test runs in a clone already",
    "cd ": "moves into the clone, where the test runs",
    "python3 -m venv ": "CI runs the tests in a fresh virtual environment of its own (.ci/run)",
    ". .venv/bin/activate": "CI runs the tests in a fresh virtual environment of its own",
    "pip install ": "CI installs the project the same way before the tests (.ci/run)",
    "pipx install ": "installs into the user's ~/.local/bin, from a path the reader fills in",
    "uvx ": "needs uv, and a path the reader fills in",
    "python -m pip wheel ": "writes into the clone's dist/; tests/test_mcpb.py runs uvx on a "
    "wheel built the same way",
    "bash bundle/build.sh": "installs Node and the packer from the npm registry; "
    "tests/test_mcpb.py builds the bundle and runs it",
    "claude mcp add ": "needs Claude Code; test_claude_code_snippets_* check the names and "
    "the server command",
    "docker ": "needs a Docker daemon",
    "python -m pytest": "the test suite itself",
    "python -m bench.": "benchmarks take minutes",
    "bash bench/conformance.sh": "downloads Node from the npm registry",
    "bash .ci/run": "CI itself",
    "ruff ": "CI runs it before the tests",
    "mypy": "CI runs it before the tests",
    "lint-imports": "CI runs it before the tests",
    "python my_script_using_resend_python.py": "stands for the reader's own script",
}
# `contacts-mcp` without a subcommand serves MCP, and `contacts-mcp emulator` the
# emulator, until stopped: tests/test_cli.py and tests/remote/ start both for real.
SERVES = "serves until stopped (tests/test_cli.py and tests/remote/ run the servers)"


def fenced(language: str) -> list[str]:
    """The bodies of the README's code blocks in `language`, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


def command_lines() -> list[str]:
    """Every shell line of the README's bash blocks, continuations joined, comment lines left
    out."""
    lines = []
    for block in fenced("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def commands(line: str) -> Iterator[list[str]]:
    """The commands of one line (split at `&&`), without comments or VAR=value prefixes."""
    command: list[str] = []
    for token in [*shlex.split(line, comments=True), "&&"]:
        if token != "&&":
            command.append(token)
            continue
        while command and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", command[0]):
            command.pop(0)
        yield command
        command = []


def parsed(argv: list[str]) -> tuple[Any, list[str]]:
    """`contacts-mcp ARGV` as the real CLI parses it: its namespace and what it did not know."""
    return cli._build_parser().parse_known_args(argv)


def why_skipped(command: list[str]) -> str | None:
    """The reason a command is not run, or None when the test runs it."""
    text = shlex.join(command)
    if command[0] == "contacts-mcp":
        args, _ = parsed(command[1:])
        return SERVES if args.command in (None, "emulator") else None
    return next((why for start, why in SKIPPED.items() if text.startswith(start)), None)


def all_commands() -> list[list[str]]:
    return [command for line in command_lines() for command in commands(line)]


def leaves_the_data_alone(command: list[str]) -> bool:
    """True for commands that need no backend: they may run beside the others."""
    args, _ = parsed(command[1:])
    if args.command == "token":
        return True
    # The backend flags are absent unless given (argparse.SUPPRESS).
    chose_a_backend = "local" in args or "db" in args
    return args.command == "call" and (args.list or args.describe) and not chose_a_backend


@dataclass
class Ran:
    home: Path
    data: Path  # the per-user data folder, where `--local` keeps contacts.db
    env: dict[str, str]
    results: dict[str, subprocess.CompletedProcess[str]]  # by command, as shlex.join gives it

    def output(self, tool: str) -> Any:
        [result] = [r for text, r in self.results.items() if f" call --local {tool} " in text]
        return json.loads(result.stdout)


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contacts_mcp", *command[1:]],
        cwd=ROOT,  # as the README says: from the clone, where examples/ is
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """Every README command the test runs, run once in a fresh home folder.

    Commands that touch the data run one after the other in README order, as a reader
    would type them; the ones that need no backend run beside them.
    """
    home = tmp_path_factory.mktemp("home")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RESEND_", "CONTACTS_MCP_"))
        and name not in ("XDG_DATA_HOME", "LOCALAPPDATA")
    }
    env |= {"HOME": str(home), "USERPROFILE": str(home)}
    with pytest.MonkeyPatch.context() as patch:
        for name in ("XDG_DATA_HOME", "LOCALAPPDATA"):
            patch.delenv(name, raising=False)
        patch.setenv("HOME", str(home))
        patch.setenv("USERPROFILE", str(home))
        data = default_db_path().parent
    runnable = [c for c in all_commands() if why_skipped(c) is None]
    # One beside the main thread: CI has two cores.
    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = {
            shlex.join(c): pool.submit(run, c, env) for c in runnable if leaves_the_data_alone(c)
        }
        results = {shlex.join(c): run(c, env) for c in runnable if not leaves_the_data_alone(c)}
        results |= {text: future.result() for text, future in beside.items()}
    return Ran(home=home, data=data, env=env, results=results)


def test_every_command_line_is_run_or_skipped_for_a_stated_reason() -> None:
    unaccounted = [
        shlex.join(command)
        for command in all_commands()
        if command[0] != "contacts-mcp" and why_skipped(command) is None
    ]
    assert unaccounted == [], "run these in the test, or add a rule to SKIPPED saying why not"


def test_every_skip_rule_still_matches_a_readme_command() -> None:
    shown = [shlex.join(command) for command in all_commands()]
    assert [start for start in SKIPPED if not any(s.startswith(start) for s in shown)] == []


def test_every_readme_command_the_test_runs_exits_0(ran: Ran) -> None:
    assert len(ran.results) >= 5
    failed = {text: r.stderr for text, r in ran.results.items() if r.returncode != 0}
    assert failed == {}


def test_the_quick_start_imports_and_lists_what_the_readme_says(ran: Ran) -> None:
    said = re.search(r"(\d+) created, (\d+) failed, (\d+) duplicate", README)
    rows = re.search(r"`examples/contacts\.csv`: (\d+) rows", README)
    assert said is not None
    assert rows is not None
    created, failed, duplicates = map(int, said.groups())
    summary = ran.output("import_contacts")["result"]
    assert (summary["rows"], summary["created"]) == (int(rows.group(1)), created)
    assert (summary["failed"], summary["duplicates"]) == (failed, duplicates)
    # "the path of a CSV listing each rejected row and why", in the per-user data folder
    # that every `--local` host opens: one database story.
    failures = Path(summary["failures_file"])
    assert failures.is_relative_to(ran.data)
    with failures.open(encoding="utf-8", newline="") as file:
        assert len(list(csv.DictReader(file))) == failed + duplicates
    assert (ran.data / "contacts.db").is_file()
    [listing] = [text for text in ran.results if " list_contacts " in text]
    limit = json.loads(shlex.split(listing)[-1])["limit"]
    assert len(ran.output("list_contacts")["contacts"]) == limit


def test_the_readme_names_the_data_folder_the_code_uses(ran: Ran) -> None:
    shown = f"`~/{ran.data.relative_to(ran.home).as_posix()}/`"
    assert shown in README


@pytest.mark.anyio
async def test_the_local_host_entry_sees_the_quick_start_contacts(ran: Ran) -> None:
    said = re.search(r"(\d+) created", README)
    assert said is not None
    entry = host_entries()["README mcpServers resend-contacts-local"]
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "contacts_mcp", *entry.get("args", [])],
        env=ran.env,
        cwd=ran.home,  # hosts start servers anywhere but in the clone
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            listed = await client.call_tool("list_contacts", {"limit": 100})
    assert not listed.is_error, listed.content
    assert listed.structured_content is not None
    assert len(listed.structured_content["contacts"]) == int(said.group(1))


def test_every_json_block_parses() -> None:
    blocks = fenced("json")
    assert len(blocks) >= 3
    for block in blocks:
        json.loads(block)


def host_entries() -> dict[str, dict[str, Any]]:
    """Every server entry of the README's JSON blocks and of mcp.json.example, by where."""
    found: dict[str, dict[str, Any]] = {}
    sources = [("README", json.loads(block)) for block in fenced("json")]
    sources.append(("mcp.json.example", json.loads((ROOT / "mcp.json.example").read_text())))
    for source, config in sources:
        for key in ("mcpServers", "servers"):
            for name, entry in config.get(key, {}).items():
                where = f"{source} {key} {name}"
                assert where not in found, f"two {key} entries named {name!r} in the {source}"
                found[where] = entry
    return found


def claude_code_snippets() -> list[tuple[str, list[str], list[str]]]:
    """Each `claude mcp add` line: the server's name, its command (after `--`, if any),
    and the names of the variables it sets with --env."""
    takes_value = {"--transport", "-t", "--env", "-e", "--header", "-H", "--scope", "-s"}
    snippets = []
    for command in all_commands():
        if command[:3] != ["claude", "mcp", "add"]:
            continue
        rest = command[3:]
        split = rest.index("--") if "--" in rest else len(rest)
        options, server = rest[:split], rest[split + 1 :]
        positional: list[str] = []
        env: list[str] = []
        tokens = iter(options)
        for token in tokens:
            if token in takes_value:
                value = next(tokens)
                if token in ("--env", "-e"):
                    env.append(value.split("=", 1)[0])
            else:
                positional.append(token)
        snippets.append((positional[0], server, env))
    return snippets


def assert_starts_the_stdio_server(argv: list[str], env: list[str]) -> None:
    """`argv` starts this CLI's stdio server with flags it knows, and sets only variables
    it reads."""
    assert Path(argv[0]).name == "contacts-mcp", argv
    args, unknown = parsed(argv[1:])
    assert unknown == [], argv
    assert (args.command, args.transport) == (None, "stdio"), argv
    help_text = cli._build_parser().format_help()
    assert [name for name in env if f"${name}" not in help_text] == []


def test_each_host_entry_starts_this_cli_with_arguments_it_accepts() -> None:
    entries = host_entries()
    stdio = {where: e for where, e in entries.items() if "command" in e}
    assert len(stdio) >= 5
    for entry in stdio.values():
        assert entry.get("type", "stdio") == "stdio"
        assert_starts_the_stdio_server(
            [entry["command"], *entry.get("args", [])], [*entry.get("env", {})]
        )
    remote = [e for e in entries.values() if "command" not in e]
    assert remote
    assert all(entry["url"].endswith("/mcp") for entry in remote)


def test_claude_code_snippets_start_this_cli_with_arguments_it_accepts() -> None:
    snippets = claude_code_snippets()
    assert len(snippets) >= 3
    for _, server, env in snippets:
        if server:
            assert_starts_the_stdio_server(server, env)


def test_claude_code_snippets_use_different_server_names() -> None:
    names = [name for name, _, _ in claude_code_snippets()]
    assert len(names) == len(set(names)), names


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_to_a_readme_section_lands() -> None:
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", README, flags=re.MULTILINE)}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links
    assert sorted(links - anchors) == []


# Each row of the README's Limits table, and the code's values it must state.
LIMITS = {
    "Request rate": [f"{PACING_SAFETY * 100:g} %", f"at most {MAX_CONCURRENCY} in flight"],
    "Retries": [f"{MAX_RETRIES} ({MAX_RETRIES + 1} attempts)", f"over {MAX_RETRY_AFTER:g} s"],
    "API time per tool call": [f"{DEFAULT_API_DEADLINE:g} s"],
    "Waiting for a job": [f"up to {DEFAULT_WAIT_SECONDS:g} s", f"up to {MAX_WAIT_SECONDS:g} s"],
    "Lists": [f"{MAX_PAGES:,} pages", f"{MAX_CONTACTS:,} contacts"],
    "What the model is shown": [
        f"text fields up to {MAX_SHOWN_FIELD_CHARS:,} characters",
        f"property values up to {MAX_SHOWN_VALUE_CHARS:,}",
        f"up to {MAX_SHOWN_PROPERTIES} properties and segments"
        if MAX_SHOWN_PROPERTIES == MAX_SHOWN_ITEMS
        else "(the properties and segments shown differ: say each)",
    ],
    "Pages": [f"up to {MAX_CONDITIONS} conditions", f"{LIST_PAGE} per call"],
    "One contact": [f"Names {MAX_NAME_CHARS}", f"property values {MAX_PROPERTY_VALUE_CHARS:,}"],
    "Schema": [
        f"keys {MAX_KEY_CHARS}",
        f"fallback values {MAX_PROPERTY_VALUE_CHARS:,}",
        f"segment names {MAX_SEGMENT_NAME}",
        f"topic names {MAX_TOPIC_NAME}",
        f"descriptions {MAX_TOPIC_DESCRIPTION}",
    ],
    "Sets": [
        f"{MAX_SELECTION:,} contacts",
        f"past {SKIP_CONFIRM_UP_TO} contacts",
        f"{CONFIRM_SECONDS // 60} minutes",
    ],
    "Exports": [f"{INLINE_ROWS} rows"],
    "Imports": [
        f"{DEFAULT_MAX_IMPORT_BYTES // 2**20} MB",
        f"`csv_text` up to {MAX_INLINE_BYTES // 2**20} MB",
        f"{MAX_COLUMNS} columns",
        f"up to {MAX_LISTED_COLUMNS} columns",
        f"{MAX_NEW_PROPERTIES} new properties",
    ],
    "Freshness": [
        f"{FRESH_SECONDS // 60} minutes",
        f"{MAX_NEW_BEFORE_FULL} new contacts",
        f"{SCHEMA_TTL / 60:g} minute",
    ],
    "Shared data": [f"{BUSY_TIMEOUT_SECONDS:g} s"],
}


def test_the_limits_section_states_the_code_s_values() -> None:
    section = README.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| ([^|]+?) \| (.+) \|$", section, flags=re.MULTILINE))
    assert rows.pop("What") == "Limit"  # the header
    assert sorted(rows) == sorted(LIMITS)
    wrong = {
        what: [value for value in values if value not in rows[what]]
        for what, values in LIMITS.items()
    }
    assert {what: values for what, values in wrong.items() if values} == {}
