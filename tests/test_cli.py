"""The command line: backend selection, `call`, and the real stdio server in a subprocess."""

import argparse
import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters

from contacts_mcp import cli
from contacts_mcp.cli import main
from contacts_mcp.emulator.options import RESEND_DEFAULT_RATE_LIMIT
from contacts_mcp.remote.webhooks import SECRET_ENV

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("RESEND_")}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contacts_mcp", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else CLEAN_ENV,
        timeout=60,
        check=False,
    )


def test_without_a_backend_it_exits_naming_both_options() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert "RESEND_API_KEY" in result.stderr
    assert "--local" in result.stderr
    assert result.stdout == ""


def test_a_malformed_api_key_is_refused_without_echoing_it() -> None:
    result = run_cli(env={**CLEAN_ENV, "RESEND_API_KEY": "sk_live_secret_value"})
    assert result.returncode == 2
    assert "does not look like a Resend API key" in result.stderr
    assert "sk_live_secret_value" not in result.stderr


def test_call_prints_the_structured_result_as_json(tmp_path: Path) -> None:
    db = str(tmp_path / "contacts.db")
    created = run_cli(
        "call", "--local", "--db", db, "create_contact", '{"email": "ada@example.com"}'
    )
    assert created.returncode == 0, created.stderr
    contact = json.loads(created.stdout)
    assert contact["email"] == "ada@example.com"
    # The data survives in the SQLite file between invocations.
    listed = run_cli("--local", "--db", db, "call", "list_contacts", "{}")
    assert listed.returncode == 0, listed.stderr
    assert [c["id"] for c in json.loads(listed.stdout)["contacts"]] == [contact["id"]]


def test_call_reports_a_tool_error_on_stderr_with_exit_status_1(tmp_path: Path) -> None:
    result = run_cli(
        "call", "--db", str(tmp_path / "c.db"), "get_contact", '{"contact": "ghost@example.com"}'
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "No contact 'ghost@example.com'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["call", "--local", "--db", ":memory:", "list_contacts", "{oops"],
            "must be a JSON object",
        ),
        (["call", "--local", "--db", ":memory:", "list_contacts", "[1]"], "must be a JSON object"),
        (["call", "--local", "--db", ":memory:", "no_such_tool"], "Unknown tool 'no_such_tool'"),
        (["call", "--local", "--db", ":memory:"], "Name a tool"),
        (["call", "--describe"], "Name the tool to describe"),
        (["emulator", "--rate-limit", "-1"], "or 0 to enforce none"),
    ],
)
def test_call_usage_errors_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_call_list_shows_every_tool(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "--local", "--db", ":memory:", "--list"]) == 0
    names = [tool["name"] for tool in json.loads(capsys.readouterr().out)]
    assert names[:5] == [
        "create_contact",
        "get_contact",
        "update_contact",
        "delete_contact",
        "list_contacts",
    ]
    assert {"list_segments", "create_topic", "delete_contact_property"} <= set(names)


@pytest.fixture
def no_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Resend key and an empty per-user data folder, which is returned."""
    monkeypatch.delenv("RESEND_API_KEY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def test_call_list_needs_no_backend_and_leaves_the_data_folder_alone(
    no_backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "--list"]) == 0
    names = {tool["name"] for tool in json.loads(capsys.readouterr().out)}
    assert {"create_contact", "search_contacts", "get_job"} <= names
    assert not no_backend.exists()


def test_call_describe_prints_the_tool_and_each_argument_from_its_schema(
    no_backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "--describe", "search_contacts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "search_contacts"
    assert lines[1].startswith("  Find or count contacts across the whole account")
    assert "  where (required): list of {field, op, value}, at most 20" in lines
    assert "  limit (optional, default 50): integer 1..100" in lines
    assert lines[lines.index("  limit (optional, default 50): integer 1..100") + 1] == (
        "      Page size."
    )
    assert '  refresh (optional): one of "new", "full"' in lines
    assert "  count_only (optional): boolean" in lines
    assert not no_backend.exists()


@pytest.mark.parametrize(
    ("tool", "line"),
    [
        ("create_contact", "  email (required): string"),
        (
            "create_contact",
            "  properties (optional): {key: string, number or null}, at most 100 keys",
        ),
        (
            "create_contact",
            '  topics (optional): {key: one of "opt_in", "opt_out"}, at most 50 keys',
        ),
        ("create_contact", "  segments (optional): list of string, at most 50"),
        ("import_contacts", '  strategy (optional, default "auto"): one of "auto", "api", "rows"'),
        ("import_contacts", '  delimiter (optional): one of ",", ";", "\\t", "|"'),
        ("get_job", "  wait_seconds (optional, default 20): number 0..50"),
        ("update_contact_property", "  fallback_value (required): string, number or null"),
    ],
)
def test_call_describe_writes_each_schema_type_readably(
    tool: str, line: str, no_backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "--describe", tool]) == 0
    assert line in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(
    ("args", "guess"),
    [
        (["call", "--local", "--db", ":memory:", "list_contact", "{}"], "list_contacts"),
        (["call", "--describe", "serch_contacts"], "search_contacts"),
    ],
)
def test_a_mistyped_tool_name_gets_a_did_you_mean(
    args: list[str], guess: str, no_backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert f"Did you mean {guess}? `contacts-mcp call --list` lists them all." in captured.err
    assert captured.err.startswith("contacts-mcp: Unknown tool '")
    assert captured.out == ""


def test_a_tool_name_like_no_other_points_to_the_list(
    no_backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "--describe", "frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "Unknown tool 'frobnicate'." in err
    assert "Did you mean" not in err
    assert "`contacts-mcp call --list` lists them all" in err


def test_describing_a_tool_the_server_leaves_out_says_why(
    no_backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "--read-only", "--describe", "create_contact"]) == 2
    assert "create_contact is left out of this server" in capsys.readouterr().err


def test_a_stray_argument_to_call_shows_the_call_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["call", "--local", "--db", ":memory:", "list_contacts", "{}", "extra"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: contacts-mcp call ")
    assert "contacts-mcp call: error: unrecognized arguments: extra" in err
    assert "{call,emulator,token}" not in err


def squashed(text: str) -> str:
    """`text` without whitespace, so argparse's line wrapping (at spaces or hyphens,
    depending on the terminal's width) does not matter."""
    return "".join(text.split())


def help_text(*args: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What `contacts-mcp ARGS --help` prints, squashed."""
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    return squashed(capsys.readouterr().out)


def test_help_names_every_environment_variable_the_cli_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = Path(cli.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'"((?:RESEND|CONTACTS_MCP)_[A-Z_]+)"', source)) | {SECRET_ENV}
    assert {"CONTACTS_MCP_STATELESS", "CONTACTS_MCP_ALLOWED_ORIGINS"} <= read
    shown = help_text(capsys=capsys)
    assert sorted(name for name in read if f"${name}" not in shown) == []
    assert squashed("--oauth-issuer URL the authorization server that issues the") in shown


def test_every_flag_and_subcommand_has_help_text() -> None:
    parser = cli._build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    parsers = {"contacts-mcp": parser, **commands.choices}
    silent = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, each in parsers.items()
        for action in each._actions
        if not action.help and action is not commands
    ]
    assert silent == []
    assert [name for name, each in commands.choices.items() if not each.description] == []


@pytest.mark.parametrize(
    ("command", "description"),
    [
        ("call", "Run one tool in-process and print its structured result as JSON"),
        ("call", "--list and --describe need no backend"),
        ("emulator", "Serve a Resend-compatible contacts API over HTTP"),
        ("token", "Make a new bearer token for the HTTP transport"),
    ],
)
def test_each_subcommand_help_describes_it(
    command: str, description: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert squashed(description) in help_text(command, capsys=capsys)


@pytest.mark.anyio
@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_stdio_server_serves_tools_over_a_real_subprocess(era: str, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "contacts_mcp", "--local", "--db", str(tmp_path / "stdio.db")],
        env=CLEAN_ENV,
    )
    with anyio.fail_after(60):
        async with Client(params, mode=era) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "create_contact" in tools
            created = await client.call_tool("create_contact", {"email": "stdio@example.com"})
            assert not created.is_error
            listed = await client.call_tool("list_contacts", {})
    assert listed.structured_content is not None
    assert [c["email"] for c in listed.structured_content["contacts"]] == ["stdio@example.com"]


def test_mcp_json_example_starts_both_backends(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "mcp.json.example"
    servers = json.loads(example.read_text(encoding="utf-8"))["mcpServers"]
    resend, local = servers["resend-contacts"], servers["resend-contacts-local"]
    assert resend["command"] == local["command"] == "contacts-mcp"
    assert resend["env"]["RESEND_API_KEY"].startswith("re_")
    # The local entry's arguments work, and keep their data in the per-user data folder.
    data_home = {**CLEAN_ENV, "XDG_DATA_HOME": str(tmp_path)}
    listed = run_cli(*local["args"], "call", "list_contacts", env=data_home)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["contacts"] == []
    assert (tmp_path / "contacts-mcp" / "contacts.db").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"the emulator did not listen on port {port} within {timeout}s")


def test_standalone_emulator_serves_the_resend_backend(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "contacts_mcp",
        "emulator",
        "--port",
        str(port),
        "--db",
        str(tmp_path / "standalone.db"),
        "--api-key",
        "re_standalone_key",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CLEAN_ENV
    ) as emulator:
        try:
            wait_for_port(port, emulator)
            stated = httpx.get(
                f"http://127.0.0.1:{port}/contacts",
                headers={"Authorization": "Bearer re_standalone_key"},
            )
            assert stated.headers["ratelimit-limit"] == str(RESEND_DEFAULT_RATE_LIMIT)
            env = {
                **CLEAN_ENV,
                "RESEND_API_KEY": "re_standalone_key",
                "RESEND_BASE_URL": f"http://127.0.0.1:{port}",
            }
            created = run_cli("call", "create_contact", '{"email": "net@example.com"}', env=env)
            assert created.returncode == 0, created.stderr
            fetched = run_cli("call", "get_contact", '{"contact": "net@example.com"}', env=env)
            assert json.loads(fetched.stdout)["id"] == json.loads(created.stdout)["id"]
            wrong_key = {**env, "RESEND_API_KEY": "re_some_other_key"}
            rejected = run_cli("call", "list_contacts", env=wrong_key)
            assert rejected.returncode == 1
            assert "rejected the API key" in rejected.stderr
            assert "re_some_other_key" not in rejected.stderr
        finally:
            emulator.terminate()
            stdout, stderr = emulator.communicate(timeout=30)
    assert stdout == ""
    assert f"http://127.0.0.1:{port}" in stderr
    assert f"{RESEND_DEFAULT_RATE_LIMIT} requests/s enforced" in stderr


def test_standalone_emulator_with_rate_limit_0_enforces_none(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "contacts_mcp", "emulator", "--port", str(port),
        "--db", str(tmp_path / "unlimited.db"), "--rate-limit", "0",
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CLEAN_ENV
    ) as emulator:
        try:
            wait_for_port(port, emulator)
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer re_any"}
            ) as http:
                answers = [http.get("/contacts") for _ in range(3 * RESEND_DEFAULT_RATE_LIMIT)]
        finally:
            emulator.terminate()
            _, stderr = emulator.communicate(timeout=30)
    assert {answer.status_code for answer in answers} == {200}
    # Still stated, as Resend states it, so clients that pace by the headers still do.
    assert answers[0].headers["ratelimit-limit"] == str(RESEND_DEFAULT_RATE_LIMIT)
    assert "no rate limit enforced" in stderr


def journaled_rows(data_home: Path) -> int:
    """Rows an import's journal has committed as done (0 before it has a journal)."""
    for journal in data_home.glob("contacts-mcp/imports/*/journal.sqlite"):
        try:
            with contextlib.closing(sqlite3.connect(journal, timeout=5)) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM done").fetchone()[0])
        except sqlite3.OperationalError:  # created, but its tables are not there yet
            return 0
    return 0


def test_an_import_killed_midway_finishes_exactly_when_run_again(tmp_path: Path) -> None:
    rows = 3000
    (tmp_path / "big.csv").write_text(
        "email,first_name\n" + "".join(f"user{i}@example.com,User {i}\n" for i in range(rows))
    )
    arguments = json.dumps(
        {
            "path": "big.csv",
            "columns": {"email": "email", "first_name": "first_name"},
            "on_conflict": "upsert",
            "strategy": "rows",
        }
    )
    db = tmp_path / "contacts.db"
    command = [
        sys.executable, "-m", "contacts_mcp", "call", "--db", str(db),
        "--import-dir", str(tmp_path), "import_contacts", arguments,
    ]  # fmt: skip
    data = tmp_path / "data"
    env = {**CLEAN_ENV, "XDG_DATA_HOME": str(data)}
    with (
        (tmp_path / "victim.log").open("w") as log,
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env) as victim,
    ):
        # Kill once the journal holds finished rows, however slow the machine: a kill
        # before that would leave nothing to resume, and prove nothing.
        deadline = time.monotonic() + 120
        while journaled_rows(data) == 0:
            if victim.poll() is not None:
                log.flush()
                raise AssertionError(
                    f"the import ended first: {(tmp_path / 'victim.log').read_text()}"
                )
            assert time.monotonic() < deadline, "no row was journaled within 120 s"
            time.sleep(0.02)
        victim.kill()  # SIGKILL: no cleanup, no flush
        victim.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        partial = conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]
    assert 0 < partial < rows

    finished = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert finished.returncode == 0, finished.stderr
    answer = json.loads(finished.stdout)
    summary = answer["result"]
    assert summary["resumed_rows"] > 0
    assert summary["failed"] == 0
    with sqlite3.connect(db) as conn:
        emails = [email for (email,) in conn.execute("SELECT email FROM contacts")]
    assert sorted(emails) == sorted(f"user{i}@example.com" for i in range(rows))
    # The second run resumed the killed run's job, under its id.
    [journal] = data.glob("*/jobs.sqlite")
    with sqlite3.connect(journal) as conn:
        jobs = conn.execute("SELECT id, status FROM jobs").fetchall()
    assert jobs == [(answer["job_id"], "completed")]


def test_call_import_contacts_reports_progress_on_stderr(tmp_path: Path) -> None:
    # Enough rows that the import is still running when the call first looks at it.
    (tmp_path / "few.csv").write_text(
        "email\n" + "".join(f"user{i}@example.com\n" for i in range(300))
    )
    result = run_cli(
        "call", "--db", str(tmp_path / "c.db"), "--import-dir", str(tmp_path),
        "import_contacts",
        '{"path": "few.csv", "columns": {"email": "email"}, "on_conflict": "skip"}',
        env={**CLEAN_ENV, "XDG_DATA_HOME": str(tmp_path / "data")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["status"], answer["result"]["created"]) == ("completed", 300)
    assert "progress 0: reading the file" in result.stderr


@pytest.mark.parametrize(
    "base_url",
    [
        "re_live_1234567890abcdef",  # the key pasted into the wrong variable
        "https://user:re_live_1234567890abcdef@api.resend.com",
        "https://re_live_1234567890abcdef@api.resend.com",
    ],
)
def test_a_key_in_the_base_url_is_refused_without_showing_it(base_url: str) -> None:
    env = {**CLEAN_ENV, "RESEND_API_KEY": "re_real_key_abcdef123", "RESEND_BASE_URL": base_url}
    result = run_cli("call", "list_contacts", env=env)
    assert result.returncode == 2
    assert "base URL" in result.stderr
    assert "1234567890abcdef" not in result.stderr
    assert "re_real_key_abcdef123" not in result.stderr


def test_every_log_line_is_redacted() -> None:
    script = (
        "import logging; from contacts_mcp.cli import main; "
        "main(['call', '--local', '--db', ':memory:', '--list']); "
        "logging.getLogger('contacts_mcp.tests').warning("
        "'key %s in https://bob:hunter2@api.example.com', 're_live_1234567890abcdef')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "key re_[redacted] in https://[redacted]@api.example.com" in result.stderr
    assert "1234567890abcdef" not in result.stderr
    assert "hunter2" not in result.stderr


def test_call_on_a_read_only_server_says_why_a_write_tool_is_missing() -> None:
    result = run_cli(
        "--local", "--db", ":memory:", "call", "--read-only", "create_contact",
        '{"email": "ada@example.com"}',
    )  # fmt: skip
    assert result.returncode == 1
    assert "create_contact is not available: this server is read-only" in result.stderr
    listed = run_cli("--local", "--db", ":memory:", "--read-only", "call", "--list")
    names = {tool["name"] for tool in json.loads(listed.stdout)}
    assert "create_contact" not in names
    assert "search_contacts" in names


@pytest.mark.anyio
async def test_the_local_backend_keeps_to_the_rate_limit_given(tmp_path: Path) -> None:
    from contacts_mcp.backends import open_client
    from contacts_mcp.cli import _backend_config, _build_parser

    args = _build_parser().parse_args(["--local", "--rate-limit", "2"])
    args.db = str(tmp_path / "paced.db")
    async with open_client(_backend_config(args)) as client:
        await client.list_contacts(limit=1)
        # The embedded emulator states the rate asked for, and the client keeps to it.
        assert client.pacer.rate_limit == 2


@pytest.mark.anyio
async def test_the_contact_bound_comes_from_the_flag_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contacts_mcp.backends import open_client
    from contacts_mcp.cli import UsageError, _backend_config, _build_parser

    parser = _build_parser()
    monkeypatch.setenv("CONTACTS_MCP_MAX_CONTACTS", "2_000_000")
    for argv, bound in ((["--local"], 2_000_000), (["--local", "--max-contacts", "50"], 50)):
        args = parser.parse_args(argv)
        args.db = str(tmp_path / "bound.db")
        async with open_client(_backend_config(args)) as client:
            assert client.max_contacts == bound
    monkeypatch.setenv("CONTACTS_MCP_MAX_CONTACTS", "lots")
    with pytest.raises(UsageError, match="whole number of contacts"):
        _backend_config(parser.parse_args(["--local"]))
    monkeypatch.delenv("CONTACTS_MCP_MAX_CONTACTS")
    with pytest.raises(UsageError, match="at least 1"):
        _backend_config(parser.parse_args(["--local", "--max-contacts", "0"]))


def test_the_approval_policy_comes_from_the_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from contacts_mcp.cli import UsageError, _build_parser, _surface

    parser = _build_parser()
    assert _surface(parser.parse_args(["--local"])).approval == "auto"
    assert _surface(parser.parse_args(["--local", "--approval", "required"])).approval == (
        "required"
    )
    monkeypatch.setenv("CONTACTS_MCP_APPROVAL", "required")
    assert _surface(parser.parse_args(["--local"])).approval == "required"
    monkeypatch.setenv("CONTACTS_MCP_APPROVAL", "sometimes")
    with pytest.raises(UsageError, match="auto or required"):
        _surface(parser.parse_args(["--local"]))
