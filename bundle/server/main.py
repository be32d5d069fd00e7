"""The MCP Bundle's entry point: Claude Desktop runs it with `uv run` in the environment
the bundle's pyproject.toml describes, and passes the extension's settings as environment
variables (manifest.json, `server.mcp_config.env`).

The API key and read-only mode are the CLI's own variables. The sandbox setting arrives as
"true" or "false" and becomes the `--local` flag here, which has no variable of its own.
"""

import os
import sys
from collections.abc import Mapping, MutableMapping

from contacts_mcp.cli import main

SANDBOX = "CONTACTS_MCP_BUNDLE_SANDBOX"
SETTINGS = ("RESEND_API_KEY", SANDBOX, "CONTACTS_MCP_READ_ONLY")
NO_BACKEND = (
    "contacts-mcp: no Resend API key, and the local sandbox is off. In Claude Desktop's "
    "Settings > Extensions > Resend Contacts, enter a full-access Resend API key or tick "
    "'Use the local sandbox (no Resend account)'.\n"
)


def forget_unset_settings(environ: MutableMapping[str, str]) -> None:
    """Drop the settings the user left empty. The host passes a setting that has neither a
    value nor a default as its `${user_config.…}` placeholder, unreplaced."""
    for name in SETTINGS:
        value = environ.get(name, "").strip()
        if not value or value.startswith("${"):
            environ.pop(name, None)


def arguments(environ: Mapping[str, str], given: list[str]) -> list[str] | None:
    """The CLI's arguments for these settings, or None when there is no backend to use."""
    if environ.get(SANDBOX, "").strip().lower() == "true":
        return ["--local", *given]
    if "RESEND_API_KEY" not in environ:
        return None
    return given


if __name__ == "__main__":
    forget_unset_settings(os.environ)
    argv = arguments(os.environ, sys.argv[1:])
    if argv is None:
        sys.stderr.write(NO_BACKEND)
        raise SystemExit(2)
    raise SystemExit(main(argv))
