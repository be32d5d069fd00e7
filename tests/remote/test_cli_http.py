"""`contacts-mcp --transport http` as a real process: it refuses to serve beyond loopback
without access control, serves with a token, and stops cleanly on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from contacts_mcp.remote.access import hash_token
from tests.remote.conftest import mcp_client

pytestmark = pytest.mark.anyio

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("RESEND_", "CONTACTS_MCP_"))}
TOKEN = "ci-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contacts_mcp", *args],
        capture_output=True,
        text=True,
        env={**CLEAN_ENV, **(env or {})},
        timeout=60,
        check=False,
    )


def test_beyond_loopback_without_access_control_it_refuses_to_start() -> None:
    result = cli("--local", "--db", ":memory:", "--transport", "http", "--host", "0.0.0.0")  # noqa: S104
    assert result.returncode == 2
    assert "Refusing to serve on 0.0.0.0 with no access control" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_new_token_comes_with_its_token_file_line() -> None:
    result = cli("token", "ci-agent")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    token = lines[0].rsplit(" ", 1)[1]
    assert lines[2] == f"ci-agent:{hash_token(token)}"
    assert cli("token", "bad:name").returncode == 2


async def test_it_serves_with_a_token_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    audit = tmp_path / "audit.jsonl"
    process = subprocess.Popen(  # noqa: ASYNC220 - a server started once, then left to run
        [sys.executable, "-m", "contacts_mcp", "--local", "--db", str(tmp_path / "db.sqlite"),
         "--transport", "http", "--port", str(port), "--audit-log", str(audit)],
        env={**CLEAN_ENV, "CONTACTS_MCP_TOKENS": f"ci={TOKEN}", "XDG_DATA_HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(300):  # up to 30 s on a busy machine
                try:
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await anyio.sleep(0.1)
            assert (await http.post(f"{url}/mcp", json={})).status_code == 401
        async with mcp_client(url, token=TOKEN) as client:
            made = await client.call_tool("create_contact", {"email": "ops@example.com"})
            assert not made.is_error
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stdout == ""  # nothing on stdout: it belongs to stdio's protocol elsewhere
    assert TOKEN not in stderr
    assert "stopped on SIGTERM: open requests were finished" in stderr
    assert '"caller": "ci"' in audit.read_text(encoding="utf-8")
