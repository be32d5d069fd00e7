"""The log never names a contact, at any level: no email address (as typed, in any case,
or URL-encoded in a request path), no name, no property value. The real command runs a
workflow at DEBUG, where the SDK, httpx and this server log the most."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contacts_mcp.text.sanitize import redact_emails

EMAIL = "Zelda.Quinn+vip@Example.com"
NAME = "Zelqu"
VALUE = "Bluewhistle"


def call(tmp_path: Path, tool: str, arguments: dict[str, object]) -> tuple[str, str]:
    """One `contacts-mcp call` at DEBUG on a local account in `tmp_path`: (stdout, log)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESEND_", "CONTACTS_MCP"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    command = [sys.executable, "-m", "contacts_mcp", "--log-level", "DEBUG", "call", "--local"]
    done = subprocess.run(
        [*command, "--import-dir", str(tmp_path), tool, json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return done.stdout, done.stderr


def test_a_debug_log_never_names_a_contact(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        f"email,first_name,colour\n{EMAIL},{NAME},{VALUE}\nnot-an-email,{NAME}x,{VALUE}\n"
    )
    log = ""
    steps: list[tuple[str, dict[str, object]]] = [
        (
            "import_contacts",
            {
                "path": str(tmp_path / "people.csv"),
                "columns": {"email": "email", "first_name": "first_name", "colour": "colour"},
                "new_properties": {"colour": "string"},
                "create_missing_properties": True,
                "on_conflict": "upsert",
            },
        ),
        ("get_contact", {"id": EMAIL.lower()}),
        ("get_contact", {"id": "nobody.here@example.com"}),  # an error, logged too
        ("search_contacts", {"where": [{"field": "first_name", "op": "eq", "value": NAME}]}),
        ("update_contact", {"id": EMAIL, "last_name": NAME, "properties": {"colour": VALUE}}),
        ("delete_contacts", {"contacts": [EMAIL]}),
    ]
    for tool, arguments in steps:
        out, err = call(tmp_path, tool, arguments)
        log += err
        if tool == "delete_contacts":
            confirm = json.loads(out)["preview"]["confirm"]
            _, err = call(tmp_path, tool, {**arguments, "confirm": confirm})
            log += err
    # The log was written, in detail.
    assert "DEBUG" in log
    assert "HTTP Request" in log
    lowered = log.lower()
    for secret in (EMAIL, "nobody.here@example.com", NAME, VALUE):
        assert secret.lower() not in lowered, secret
    assert "%40example.com" not in lowered
    assert "[email]" in log  # where a request's path named one


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /contacts/ada%40example.com 200", "GET /contacts/[email] 200"),
        ("to Ada.L+news@Mail.Example.org, done", "to [email], done"),
        ("no address here: ada@ and @example.com", "no address here: ada@ and @example.com"),
    ],
)
def test_email_addresses_are_taken_out_of_text(text: str, expected: str) -> None:
    assert redact_emails(text) == expected
