"""Command line: the stdio server, the standalone emulator, and one-off tool calls.

    contacts-mcp [--local [--db PATH] | --base-url URL]          stdio MCP server
    contacts-mcp [backend flags] --transport http [--host H] [--port P]   Streamable HTTP
    contacts-mcp token NAME                                       a new HTTP access token
    contacts-mcp call [backend flags] TOOL ['{"json": "args"}']   run one tool, print JSON
    contacts-mcp call --list                                      list the tools
    contacts-mcp call --describe TOOL                             a tool's arguments
    contacts-mcp emulator [--host H] [--port P] [--db PATH] ...   Resend-compatible API

Settings are read here and nowhere else. stdout belongs to the MCP protocol (server) or
to the JSON result (call); everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contacts_mcp import __version__
from contacts_mcp.text.sanitize import redact_emails, redact_secrets

if TYPE_CHECKING:
    from mcp.server.auth.settings import AuthSettings
    from mcp.types import CallToolResult

    from contacts_mcp.backends import BackendConfig
    from contacts_mcp.imports.settings import ImportSettings
    from contacts_mcp.remote.access import JwtVerifier, StaticTokens
    from contacts_mcp.server.surface import Surface
    from contacts_mcp.services.retention import Retention

__all__ = ["main"]

logger = logging.getLogger("contacts_mcp")

EXIT_USAGE = 2
_NO_BACKEND = (
    "contacts-mcp needs a backend: set RESEND_API_KEY to manage your Resend account, "
    "or pass --local to use the built-in emulator (no account needed)."
)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _PrivateFormatter(logging.Formatter):
    """Takes API keys, URL credentials and email addresses out of every log line, its
    traceback included, whoever logs it (httpx logs each request's URL, which names a
    contact by email). The log is the operator's; the contacts in it are not. Contact
    names and property values are never logged by this server at any level."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_emails(redact_secrets(super().format(record)))


class UsageError(Exception):
    """A problem with the command line or environment, reported without a traceback."""


def _add_backend_flags(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS defaults let the same flags appear before or after the subcommand
    # without the subcommand's defaults overwriting what was given before it.
    group = parser.add_argument_group("backend")
    group.add_argument(
        "--local",
        action="store_true",
        default=argparse.SUPPRESS,
        help="use the built-in Resend-compatible emulator instead of Resend (which needs "
        "$RESEND_API_KEY)",
    )
    group.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="emulator SQLite file (default: per-user data folder; ':memory:' allowed)",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="Resend API base URL (default: $RESEND_BASE_URL or https://api.resend.com)",
    )
    group.add_argument(
        "--import-dir",
        metavar="DIR",
        action="append",
        default=argparse.SUPPRESS,
        help="folder CSV imports may read from (repeatable; default: $CONTACTS_MCP_IMPORT_DIRS, "
        "else the working folder, Downloads, Documents and Desktop)",
    )
    group.add_argument(
        "--max-import-mb",
        metavar="N",
        type=int,
        default=argparse.SUPPRESS,
        help="largest CSV file an import may read, in MB (default: 200)",
    )
    _add_retention_flag(group)
    group.add_argument(
        "--rate-limit",
        metavar="N",
        type=float,
        default=argparse.SUPPRESS,
        help="requests/s to pace at until Resend's headers say the limit "
        "(default: one request at a time until the first answer says it); "
        "with --local, the rate the embedded emulator states (default: 10000)",
    )
    group.add_argument(
        "--max-contacts",
        metavar="N",
        type=int,
        default=argparse.SUPPRESS,
        help="most contacts one listing of the account may hold before it stops with an "
        "error, a guard against a list that never ends (default: $CONTACTS_MCP_MAX_CONTACTS "
        "or 1000000)",
    )


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


# The kinds of local data (services.retention.KINDS, which a test keeps equal): named
# here so that building the parser imports nothing.
KIND_NAMES = ("snapshots", "failures", "jobs", "imports", "uploads", "mirrors", "exports", "audit")


def _add_retention_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--retention",
        metavar="LIST",
        default=argparse.SUPPRESS,
        help="days each kind of local data is kept, over the defaults: snapshots=30, "
        "failures=14, jobs=14, imports=30, uploads=1, mirrors=90 (unused accounts), "
        "audit=365 (rotated logs), exports=off; e.g. snapshots=7,jobs=off "
        "(default: $CONTACTS_MCP_RETENTION)",
    )


def _add_safety_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("safety (stdio and HTTP)")
    group.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS,
        help="expose only the read tools; wins over every other option "
        "(default: $CONTACTS_MCP_READ_ONLY)",
    )
    group.add_argument(
        "--approval",
        choices=("auto", "required"),
        default=argparse.SUPPRESS,
        help="required: bulk changes and deletes run only when a person approves them (a "
        "form the client shows, or the review screen), refused where the client can ask "
        "nobody; auto: also on the preview's confirmation alone there "
        "(default: $CONTACTS_MCP_APPROVAL, else auto)",
    )
    group.add_argument(
        "--toolsets",
        metavar="LIST",
        default=argparse.SUPPRESS,
        help="expose just these groups: contacts,bulk,schema,imports "
        "(default: $CONTACTS_MCP_TOOLSETS, else all)",
    )
    group.add_argument(
        "--audit-log",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="append every write as a JSON line: time, caller, tool, target, outcome "
        "(default: $CONTACTS_MCP_AUDIT_LOG)",
    )


def _add_http_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "HTTP transport (tokens: $CONTACTS_MCP_TOKENS as name=token,name=token)"
    )
    group.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default=os.environ.get("CONTACTS_MCP_TRANSPORT", "stdio"),
        help="stdio (default) or http: Streamable HTTP at /mcp ($CONTACTS_MCP_TRANSPORT)",
    )
    group.add_argument(
        "--host",
        dest="http_host",
        metavar="HOST",
        default=os.environ.get("CONTACTS_MCP_HOST", "127.0.0.1"),
        help="bind address (default: $CONTACTS_MCP_HOST or 127.0.0.1; beyond loopback needs "
        "tokens or OAuth)",
    )
    group.add_argument(
        "--port",
        dest="http_port",
        metavar="PORT",
        type=int,
        # A string default goes through `type` too: a bad value is a usage error.
        default=os.environ.get("CONTACTS_MCP_PORT", "8000"),
        help="port (default: $CONTACTS_MCP_PORT or 8000)",
    )
    group.add_argument(
        "--token-file",
        metavar="PATH",
        default=os.environ.get("CONTACTS_MCP_TOKEN_FILE"),
        help="file of name:sha256-hex lines (see `contacts-mcp token`); re-read when it "
        "changes, so deleting a line revokes that name ($CONTACTS_MCP_TOKEN_FILE)",
    )
    group.add_argument(
        "--oauth-issuer",
        metavar="URL",
        default=os.environ.get("CONTACTS_MCP_OAUTH_ISSUER"),
        help="the authorization server that issues the access tokens; OAuth needs it with "
        "--oauth-jwks-url and --resource-url ($CONTACTS_MCP_OAUTH_ISSUER)",
    )
    group.add_argument(
        "--oauth-jwks-url",
        metavar="URL",
        default=os.environ.get("CONTACTS_MCP_OAUTH_JWKS_URL"),
        help="the issuer's JWKS: OAuth 2.1 resource-server mode, JWT access tokens "
        "($CONTACTS_MCP_OAUTH_JWKS_URL)",
    )
    group.add_argument(
        "--resource-url",
        metavar="URL",
        default=os.environ.get("CONTACTS_MCP_RESOURCE_URL"),
        help="this server's public URL, e.g. https://contacts.example.com/mcp: the tokens' "
        "required audience ($CONTACTS_MCP_RESOURCE_URL)",
    )
    group.add_argument(
        "--oauth-scope",
        metavar="SCOPE",
        action="append",
        default=_env_list("CONTACTS_MCP_OAUTH_SCOPES"),
        help="a scope every access token must carry (repeatable; adds to "
        "$CONTACTS_MCP_OAUTH_SCOPES, comma-separated)",
    )
    group.add_argument(
        "--allowed-host",
        metavar="HOST",
        action="append",
        default=_env_list("CONTACTS_MCP_ALLOWED_HOSTS"),
        help="a Host header to accept besides loopback names, e.g. contacts.example.com "
        "(repeatable; adds to $CONTACTS_MCP_ALLOWED_HOSTS, comma-separated)",
    )
    group.add_argument(
        "--allowed-origin",
        metavar="ORIGIN",
        action="append",
        default=_env_list("CONTACTS_MCP_ALLOWED_ORIGINS"),
        help="a browser Origin to accept, e.g. https://app.example.com (repeatable; adds to "
        "$CONTACTS_MCP_ALLOWED_ORIGINS, comma-separated)",
    )
    group.add_argument(
        "--stateless",
        action="store_true",
        default=_env_flag("CONTACTS_MCP_STATELESS"),
        help="no MCP sessions (for several instances behind a load balancer; see README) "
        "($CONTACTS_MCP_STATELESS=1)",
    )
    group.add_argument(
        "--webhook-secret-file",
        metavar="PATH",
        default=os.environ.get("CONTACTS_MCP_WEBHOOK_SECRET_FILE"),
        help="file holding the whsec_ signing secret of a Resend webhook: serves its "
        "contact events at /webhooks/resend ($CONTACTS_MCP_WEBHOOK_SECRET_FILE; or the secret "
        "itself in $CONTACTS_MCP_WEBHOOK_SECRET; see README)",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contacts-mcp",
        description="MCP server for Resend contacts. Without a subcommand, serves MCP on stdio, "
        "for your Resend account ($RESEND_API_KEY) or the built-in emulator (--local).",
        # No abbreviations: a subcommand's flag (data purge --all) is never taken for the
        # start of one of these (--allowed-host).
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"contacts-mcp {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("CONTACTS_MCP_LOG_LEVEL", "WARNING"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="stderr log level (default: $CONTACTS_MCP_LOG_LEVEL or WARNING)",
    )
    _add_backend_flags(parser)
    _add_safety_flags(parser)
    _add_http_flags(parser)
    commands = parser.add_subparsers(dest="command", metavar="{call,emulator,token,data}")

    call = commands.add_parser(
        "call",
        help="run one tool in-process and print its result",
        description="Run one tool in-process and print its structured result as JSON; when the "
        "tool fails, its message goes to stderr and the exit status is 1. A job (an import, a "
        "bulk change) is waited for until it ends. --list and --describe need no backend.",
    )
    _add_backend_flags(call)
    _add_safety_flags(call)
    call.add_argument("tool", nargs="?", help="tool name, e.g. list_contacts")
    call.add_argument(
        "arguments",
        nargs="?",
        default="{}",
        help="tool arguments as a JSON object, or @FILE to read them from a file",
    )
    reading = call.add_mutually_exclusive_group()
    reading.add_argument("--list", action="store_true", help="list the tools and exit")
    reading.add_argument(
        "--describe",
        action="store_true",
        help="print TOOL's description and arguments (type, default, meaning) and exit",
    )

    emulator = commands.add_parser(
        "emulator",
        help="serve the Resend-compatible emulator",
        description="Serve a Resend-compatible contacts API over HTTP, kept in SQLite, for "
        "trying things without an account: point a Resend SDK at it with its base-URL setting, "
        "or contacts-mcp with RESEND_BASE_URL. Faults and latency can be injected.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8025, help="port (default: 8025)")
    emulator.add_argument(
        "--db", metavar="PATH", help="SQLite file (default: per-user data folder)"
    )
    emulator.add_argument(
        "--api-key", metavar="KEY", help="accept only this key (default: any re_ key)"
    )
    emulator.add_argument(
        "--rate-limit",
        metavar="N",
        type=int,
        help="requests per second, stated in the ratelimit-* headers and enforced with 429s "
        "(default: 5, a Resend team's default); 0 enforces none (the headers still state 5)",
    )
    emulator.add_argument(
        "--fault-429", metavar="P", type=float, default=0.0, help="probability of an injected 429"
    )
    emulator.add_argument(
        "--fault-500", metavar="P", type=float, default=0.0, help="probability of an injected 500"
    )
    emulator.add_argument(
        "--fault-503", metavar="P", type=float, default=0.0, help="probability of an injected 503"
    )
    emulator.add_argument(
        "--latency", metavar="S", type=float, default=0.0, help="seconds added to each response"
    )
    emulator.add_argument(
        "--drop-after-write",
        metavar="P",
        type=float,
        default=0.0,
        help="probability that a write is applied but its response is lost",
    )
    emulator.add_argument("--seed", type=int, help="seed for reproducible fault injection")

    token = commands.add_parser(
        "token",
        help="make a new access token for the HTTP transport, and its token-file line",
        description="Make a new bearer token for the HTTP transport. Prints the token for the "
        "client, the line to keep in --token-file (its hash, never the token) and the "
        "CONTACTS_MCP_TOKENS form.",
    )
    token.add_argument("name", help="who or what will use it (recorded in the audit log)")

    data = commands.add_parser(
        "data",
        help="what the server keeps on this machine",
        description="The personal data this server keeps next to Resend (mirrors, snapshots, "
        "failure reports, journals, jobs, exports, uploads, the audit log): where, how much, "
        "how old, and for which account.",
    )
    data_commands = data.add_subparsers(
        dest="data_command", metavar="{status,purge}", required=True, help="what to do"
    )
    status = data_commands.add_parser(
        "status",
        help="list every kind of local data",
        description="List every kind of local data: where it lives, its files and entries, "
        "its bytes, its oldest and newest entry, and the accounts it belongs to.",
    )
    status.add_argument("--json", action="store_true", help="print it as JSON")
    status.add_argument(
        "--audit-log",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the audit log to include (default: $CONTACTS_MCP_AUDIT_LOG)",
    )
    status.set_defaults(usage_of=status)
    purging = data_commands.add_parser(
        "purge",
        help="remove local data now",
        description="Remove local data and say what was removed: by default what is past its "
        "retention (--retention), or what is older than --older-than, or --all of it. Work in "
        "progress (a running import, a working job and its upload, a mirror being synced) is "
        "never touched: it is skipped, and named. Resend is not changed.",
    )
    purging.add_argument(
        "--kind",
        action="append",
        choices=KIND_NAMES,
        help="only this kind (repeatable; default: every kind but exports)",
    )
    age = purging.add_mutually_exclusive_group()
    age.add_argument(
        "--older-than", metavar="DAYS", type=float, help="what is older than DAYS days"
    )
    age.add_argument("--all", action="store_true", help="all of it, whatever its age")
    purging.add_argument(
        "--account", metavar="ID", help="only this account's data (mirrors and jobs record one)"
    )
    purging.add_argument("--json", action="store_true", help="print the report as JSON")
    purging.add_argument(
        "--audit-log",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the audit log whose rotated files to remove (default: $CONTACTS_MCP_AUDIT_LOG)",
    )
    _add_retention_flag(purging)
    purging.set_defaults(usage_of=purging)
    for subcommand in commands.choices.values():
        # argparse reports a subcommand's stray arguments with the top-level usage, which is
        # not the one the user needs; main() finds the subcommand's parser here.
        subcommand.set_defaults(usage_of=subcommand)
    return parser


def _resolve_db(raw: str | None) -> str:
    from contacts_mcp.backends import default_db_path
    from contacts_mcp.services.private import private_folder

    if raw == ":memory:":
        return raw
    path = Path(raw).expanduser() if raw else default_db_path()
    try:
        # The default folder is ours: this user's alone. A folder given is left as it is
        # (the database file in it is made 0600 all the same).
        if raw:
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            private_folder(path.parent)
    except OSError as exc:
        raise UsageError(
            f"Cannot create the folder for the database {path}: {exc.strerror}."
        ) from None
    return str(path)


def _backend_config(args: argparse.Namespace) -> BackendConfig:
    from contacts_mcp.api.client import DEFAULT_BASE_URL
    from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig

    rate_limit: float | None = getattr(args, "rate_limit", None)
    if rate_limit is not None and rate_limit <= 0:
        raise UsageError("--rate-limit must be a positive number of requests per second.")
    max_contacts = _max_contacts(args)
    db = getattr(args, "db", None)
    if getattr(args, "local", False) or db is not None:
        return BackendConfig(
            api_key=LOCAL_API_KEY,
            local_db=_resolve_db(db),
            rate_limit=rate_limit,
            max_contacts=max_contacts,
        )
    api_key = os.environ.get("RESEND_API_KEY", "").strip()
    if not api_key:
        raise UsageError(_NO_BACKEND)
    if not api_key.startswith("re_") or any(c.isspace() for c in api_key):
        # Never echo the value: it may be a real secret pasted in the wrong place.
        raise UsageError(
            "RESEND_API_KEY does not look like a Resend API key (they start with 're_'). "
            "Create a full-access key at https://resend.com/api-keys."
        )
    base_url = (
        getattr(args, "base_url", None) or os.environ.get("RESEND_BASE_URL") or DEFAULT_BASE_URL
    )
    if not base_url.startswith(("https://", "http://")):
        raise UsageError(
            f"The base URL must start with https:// or http://, not {redact_secrets(base_url)!r}."
        )
    if "@" in base_url.split("://", 1)[1].split("/", 1)[0]:
        # https://user:key@host would send (and log) a secret as part of every URL.
        raise UsageError(
            f"The base URL {redact_secrets(base_url)!r} holds credentials; give the URL "
            "without them and the key in RESEND_API_KEY."
        )
    return BackendConfig(
        api_key=api_key,
        base_url=base_url.rstrip("/"),
        rate_limit=rate_limit,
        max_contacts=max_contacts,
    )


def _max_contacts(args: argparse.Namespace) -> int:
    from contacts_mcp.api.base import MAX_CONTACTS

    given: int | None = getattr(args, "max_contacts", None)
    raw = os.environ.get("CONTACTS_MCP_MAX_CONTACTS", "").strip().replace("_", "")
    if given is None and raw:
        if not raw.isdigit():
            raise UsageError(
                "CONTACTS_MCP_MAX_CONTACTS must be a whole number of contacts, such as 2000000."
            )
        given = int(raw)
    if given is not None and given < 1:
        raise UsageError("--max-contacts must be at least 1.")
    return MAX_CONTACTS if given is None else given


def _tools_backend(args: argparse.Namespace) -> BackendConfig:
    """The backend `call --list` and `call --describe` build their server on: the one chosen,
    else an in-memory emulator. Every backend has the same tools, and this one needs no
    account and leaves nothing in the user's data folder."""
    from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig

    chosen = (
        getattr(args, "local", False)
        or getattr(args, "db", None) is not None
        or os.environ.get("RESEND_API_KEY", "").strip()
    )
    if chosen:
        return _backend_config(args)
    return BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:")


def _import_settings(args: argparse.Namespace) -> ImportSettings:
    from contacts_mcp.backends import default_db_path
    from contacts_mcp.imports.files import DEFAULT_MAX_IMPORT_BYTES, FilePolicy, default_import_dirs
    from contacts_mcp.imports.settings import ImportSettings

    given: list[str] | None = getattr(args, "import_dir", None)
    if given is None and os.environ.get("CONTACTS_MCP_IMPORT_DIRS"):
        given = [d for d in os.environ["CONTACTS_MCP_IMPORT_DIRS"].split(os.pathsep) if d]
    if given is None:
        folders = default_import_dirs()
    else:
        folders = tuple(Path(d).expanduser().resolve() for d in given)
        for folder in folders:
            if not folder.is_dir():
                raise UsageError(f"The import folder {folder} does not exist.")
    max_mb: int = getattr(args, "max_import_mb", DEFAULT_MAX_IMPORT_BYTES // (1024 * 1024))
    if max_mb <= 0:
        raise UsageError("--max-import-mb must be a positive number of megabytes.")
    return ImportSettings(
        files=FilePolicy(allowed_dirs=folders, max_bytes=max_mb * 1024 * 1024),
        state_dir=default_db_path().parent,
        retention=_retention(args),
    )


def _retention(args: argparse.Namespace) -> Retention:
    from contacts_mcp.services.retention import Retention

    raw = getattr(args, "retention", None) or os.environ.get("CONTACTS_MCP_RETENTION") or ""
    try:
        return Retention.parse(raw)
    except ValueError as exc:
        raise UsageError(f"--retention: {exc}.") from None


def _surface(args: argparse.Namespace) -> Surface:
    from contacts_mcp.server.surface import AuditLog, Surface, parse_toolsets

    read_only = bool(getattr(args, "read_only", False)) or _env_flag("CONTACTS_MCP_READ_ONLY")
    raw = getattr(args, "toolsets", None) or os.environ.get("CONTACTS_MCP_TOOLSETS")
    try:
        toolsets = None if raw is None else parse_toolsets(raw)
    except ValueError as exc:
        raise UsageError(f"--toolsets: {exc}.") from None
    path = getattr(args, "audit_log", None) or os.environ.get("CONTACTS_MCP_AUDIT_LOG")
    try:
        audit = None if not path else AuditLog(Path(path).expanduser())
    except OSError as exc:
        raise UsageError(f"Cannot open the audit log {path}: {exc.strerror}.") from None
    approval = getattr(args, "approval", None) or os.environ.get("CONTACTS_MCP_APPROVAL") or "auto"
    if approval not in ("auto", "required"):
        raise UsageError("CONTACTS_MCP_APPROVAL must be auto or required.")
    return Surface(
        read_only=read_only,
        toolsets=toolsets,
        audit=audit,
        approval="required" if approval == "required" else "auto",
    )


def _serve(args: argparse.Namespace) -> int:
    if args.transport == "http":
        return _serve_http(args)
    # Startup creates a few hundred thousand objects that live as long as the process
    # (the MCP SDK's models, every tool's schemas). Collecting while they are created
    # walks them again and again for nothing (about 30 ms, 6 % of startup); once built,
    # they are frozen out of the collector's way for good.
    gc.disable()
    try:
        from contacts_mcp.server import build_server

        server = build_server(_backend_config(args), _import_settings(args), surface=_surface(args))
    finally:
        gc.freeze()
        gc.enable()
    server.run()
    return 0


def _serve_http(args: argparse.Namespace) -> int:
    from contacts_mcp.remote.http import HttpSettings, serve_http
    from contacts_mcp.server import build_server

    settings = HttpSettings(
        host=args.http_host,
        port=args.http_port,
        allowed_hosts=args.allowed_host,
        allowed_origins=args.allowed_origin,
        stateless=args.stateless,
        webhook_secret=_webhook_secret(args),
    )
    verifier, auth = _oauth(args)
    settings.oauth = verifier is not None
    tokens = _static_tokens(args)
    if tokens is not None and verifier is not None:
        raise UsageError("Choose static tokens or OAuth, not both.")
    settings.static = tokens
    try:
        settings.check()
    except ValueError as exc:
        raise UsageError(f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
    server = build_server(
        _backend_config(args),
        _import_settings(args),
        surface=_surface(args),
        token_verifier=verifier,
        auth=auth,
    )
    serve_http(server, settings)
    return 0


def _webhook_secret(args: argparse.Namespace) -> str | None:
    """Resend's signing secret, from --webhook-secret-file or the environment (never
    repeated in a message)."""
    from contacts_mcp.remote.webhooks import SECRET_ENV, check_secret

    if args.webhook_secret_file:
        path = Path(args.webhook_secret_file).expanduser()
        try:
            raw, where = path.read_text(encoding="utf-8"), f"The file {path}"
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise UsageError(f"Cannot read the webhook secret file {path}: {reason}.") from None
    else:
        raw, where = os.environ.get(SECRET_ENV, ""), SECRET_ENV
        if not raw.strip():
            return None
    try:
        return check_secret(raw)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}.") from None


def _static_tokens(args: argparse.Namespace) -> StaticTokens | None:
    from contacts_mcp.remote.access import StaticTokens, TokenSource, parse_token_pairs

    try:
        pairs = parse_token_pairs(os.environ.get("CONTACTS_MCP_TOKENS", ""))
    except ValueError as exc:
        raise UsageError(f"CONTACTS_MCP_TOKENS: {exc}.") from None
    file = Path(args.token_file).expanduser() if args.token_file else None
    if not pairs and file is None:
        return None
    try:
        return StaticTokens(TokenSource(pairs, file))
    except OSError as exc:
        raise UsageError(f"Cannot read the token file {file}: {exc.strerror}.") from None
    except ValueError as exc:
        raise UsageError(f"Token file: {exc}.") from None


def _oauth(args: argparse.Namespace) -> tuple[JwtVerifier | None, AuthSettings | None]:
    given = [args.oauth_issuer, args.oauth_jwks_url, args.resource_url]
    if not any(given):
        return None, None
    if not all(given):
        raise UsageError(
            "OAuth needs all three of --oauth-issuer, --oauth-jwks-url and --resource-url."
        )
    from mcp.server.auth.settings import AuthSettings
    from pydantic import AnyHttpUrl, ValidationError

    from contacts_mcp.remote.access import JwtVerifier

    try:
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(args.oauth_issuer),
            resource_server_url=AnyHttpUrl(args.resource_url),
            required_scopes=args.oauth_scope or None,
            validate_token_resource=True,
        )
    except ValidationError:
        raise UsageError("--oauth-issuer and --resource-url must be http(s) URLs.") from None
    verifier = JwtVerifier(
        issuer=args.oauth_issuer,
        jwks_url=args.oauth_jwks_url,
        audience=args.resource_url,
    )
    return verifier, auth


def _data_status(args: argparse.Namespace) -> int:
    from contacts_mcp.backends import default_db_path
    from contacts_mcp.services.inventory import take_inventory
    from contacts_mcp.text.words import counted

    audit = getattr(args, "audit_log", None) or os.environ.get("CONTACTS_MCP_AUDIT_LOG")
    found = take_inventory(
        default_db_path().parent, audit_log=Path(audit).expanduser() if audit else None
    )
    if args.json:
        print(found.model_dump_json(indent=2))
        return 0
    print(f"Local data in {found.data_folder}: {_size(found.total_bytes)} in all.")
    for kind in found.kinds:
        if kind.files == 0:
            print(f"\n{kind.kind}: none")
            continue
        entries = "" if kind.rows is None else f", {counted(kind.rows, kind.unit or 'item')}"
        print(f"\n{kind.kind}: {counted(kind.files, 'file')}{entries}, {_size(kind.bytes)}")
        print(f"  {kind.holds}")
        print(f"  where:  {kind.where}")
        print(f"  oldest: {_when(kind.oldest)}; newest: {_when(kind.newest)}")
        if kind.accounts:
            print(f"  accounts: {', '.join(kind.accounts)}")
    return 0


def _data_purge(args: argparse.Namespace) -> int:
    import math
    import time

    from contacts_mcp.backends import default_db_path
    from contacts_mcp.services.retention import DAY, KINDS, purge
    from contacts_mcp.text.words import counted

    if args.older_than is not None and not (
        math.isfinite(args.older_than) and args.older_than >= 0
    ):
        raise UsageError("--older-than takes a number of days, 0 or more.")
    kinds = args.kind or [kind for kind in KINDS if kind != "exports"]
    now = time.time()
    if args.all:
        cutoffs = dict.fromkeys(kinds, math.inf)
    elif args.older_than is not None:
        cutoffs = dict.fromkeys(kinds, now - args.older_than * DAY)
    else:
        by_retention = _retention(args).cutoffs(now)
        cutoffs = {kind: by_retention[kind] for kind in kinds if kind in by_retention}
    audit = getattr(args, "audit_log", None) or os.environ.get("CONTACTS_MCP_AUDIT_LOG")
    folder = default_db_path().parent
    report = purge(
        folder,
        cutoffs,
        account=args.account,
        audit_log=Path(audit).expanduser() if audit else None,
    )
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    print(f"Local data in {folder}:")
    for done in report.removed:
        what = []
        if done.files:
            what.append(f"{counted(done.files, 'file')} ({_size(done.bytes)})")
        if done.rows:
            what.append(counted(done.rows, "row"))
        removed = "removed " + ", ".join(what) if what else "nothing removed"
        print(f"  {done.kind}: {removed}")
        for why in done.skipped:
            print(f"    kept: {why}")
    if not report.anything:
        print("Nothing was removed.")
    return 0


def _size(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{count:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count:,} bytes"


def _when(moment: float | None) -> str:
    from datetime import UTC, datetime

    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _new_token(args: argparse.Namespace) -> int:
    from contacts_mcp.remote.access import hash_token, new_token

    name = args.name.strip()
    if not name or ":" in name or "=" in name or any(c.isspace() for c in name):
        raise UsageError("A token's name is one word without ':' or '=', e.g. ci-agent.")
    token = new_token()
    print(f"token (give it to the client, as 'Authorization: Bearer <token>'): {token}")
    print("token-file line (keep it in --token-file; the file never holds the token):")
    print(f"{name}:{hash_token(token)}")
    print(f"or in the environment: CONTACTS_MCP_TOKENS={name}={token}")
    return 0


def _run_emulator(args: argparse.Namespace) -> int:
    import uvicorn

    from contacts_mcp.emulator import EmulatorOptions, create_app
    from contacts_mcp.emulator.options import RESEND_DEFAULT_RATE_LIMIT

    for name in ("fault_429", "fault_500", "fault_503", "drop_after_write"):
        value = getattr(args, name)
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"--{name.replace('_', '-')} must be a probability between 0 and 1.")
    rate_limit = RESEND_DEFAULT_RATE_LIMIT if args.rate_limit is None else args.rate_limit
    if rate_limit < 0:
        raise UsageError("--rate-limit must be a positive integer, or 0 to enforce none.")
    options = EmulatorOptions(
        db_path=_resolve_db(args.db),
        api_key=args.api_key,
        rate_limit=rate_limit or None,
        fault_429=args.fault_429,
        fault_500=args.fault_500,
        fault_503=args.fault_503,
        latency=max(0.0, args.latency),
        drop_after_write=args.drop_after_write,
        seed=args.seed,
    )
    limit = (
        f"{rate_limit} requests/s enforced"
        if rate_limit
        else f"no rate limit enforced, {RESEND_DEFAULT_RATE_LIMIT} requests/s stated"
    )
    print(
        f"Resend-compatible emulator on http://{args.host}:{args.port} "
        f"(database: {options.db_path}; {limit}). Point an SDK at it with its base-URL "
        f"setting, e.g. RESEND_BASE_URL=http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    uvicorn.run(create_app(options), host=args.host, port=args.port, log_level="warning")
    return 0


def _parse_arguments(raw: str) -> dict[str, Any]:
    if raw.startswith("@"):
        # `@file.json` reads the arguments from a file, as curl does for request bodies.
        try:
            raw = Path(raw[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"Cannot read the arguments file {raw[1:]}: {exc.strerror}.") from None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f'Tool arguments must be a JSON object, e.g. \'{{"contact": "ada@example.com"}}\' '
            f"({exc.msg} at position {exc.pos})."
        ) from None
    if not isinstance(value, dict):
        raise UsageError("Tool arguments must be a JSON object, e.g. '{\"limit\": 10}'.")
    return value


async def _call(args: argparse.Namespace) -> int:
    from mcp import Client

    from contacts_mcp.server import build_server

    if not args.list and not args.tool:
        if args.describe:
            raise UsageError(
                "Name the tool to describe, e.g. `contacts-mcp call --describe list_contacts`."
            )
        raise UsageError("Name a tool to call (see `contacts-mcp call --list`).")
    tools_only = args.list or args.describe
    arguments = {} if tools_only else _parse_arguments(args.arguments)
    config = _tools_backend(args) if tools_only else _backend_config(args)
    server = build_server(config, _import_settings(args), surface=_surface(args))

    async def show_progress(progress: float, total: float | None, message: str | None) -> None:
        shown = f"{progress:g}/{total:g}" if total else f"{progress:g}"
        print(f"progress {shown}{': ' + message if message else ''}", file=sys.stderr)

    # Errors are raised only after the client is closed: inside its task group they
    # would arrive wrapped in an ExceptionGroup.
    result = None
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        known = [tool.name for tool in tools]
        if not tools_only and (args.tool in known or server.surface.hides(args.tool)):
            # A tool this server hides (--read-only, --toolsets) answers why itself.
            result = await client.call_tool(args.tool, arguments, progress_callback=show_progress)
            # A tool that started a job answered within its wait budget; a terminal has
            # no 60 s timeout, so wait here until the job ends (it ends with the process).
            while (job := _working_job(result)) is not None:
                print(f"waiting for job {job}", file=sys.stderr)
                waited = await client.call_tool(
                    "get_job", {"job_id": job}, progress_callback=show_progress
                )
                result = _unwrapped_job(waited)
    if args.list:
        listing = [{"name": tool.name, "description": tool.description} for tool in tools]
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return 0
    if args.describe:
        described = next((tool for tool in tools if tool.name == args.tool), None)
        if described is None and server.surface.hides(args.tool):
            raise UsageError(
                f"{args.tool} is left out of this server (read-only, or not in its toolsets); "
                "describe it without --read-only and --toolsets."
            )
        if described is None:
            raise _unknown_tool(args.tool, known)
        from contacts_mcp.tool_docs import describe_tool

        print(describe_tool(described))
        return 0
    if result is None:
        raise _unknown_tool(args.tool, known)
    if result.is_error:
        text = " ".join(block.text for block in result.content if block.type == "text")
        print(text, file=sys.stderr)
        return 1
    print(json.dumps(result.structured_content, indent=2, ensure_ascii=False))
    return 0


def _unknown_tool(name: str, known: list[str]) -> UsageError:
    # difflib (2 ms to import) serves only this mistake; the stdio server starts without it.
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    guess = f" Did you mean {close[0]}?" if close else ""
    return UsageError(f"Unknown tool {name!r}.{guess} `contacts-mcp call --list` lists them all.")


def _working_job(result: CallToolResult) -> str | None:
    """The id of the job a tool result says is still working, if any."""
    data = result.structured_content
    if result.is_error or not data or data.get("status") != "working":
        return None
    job_id = data.get("job_id")
    return job_id if isinstance(job_id, str) else None


def _unwrapped_job(result: CallToolResult) -> CallToolResult:
    """`get_job`'s answer in the shape of the tool that started the job."""
    data = result.structured_content
    if result.is_error or not data or not isinstance(data.get("job"), dict):
        return result
    return result.model_copy(update={"structured_content": data["job"]})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `contacts-mcp` command; returns the exit status."""
    parser = _build_parser()
    args, unrecognized = parser.parse_known_args(argv)
    if unrecognized:
        usage_of: argparse.ArgumentParser = getattr(args, "usage_of", parser)
        usage_of.error(f"unrecognized arguments: {' '.join(unrecognized)}")
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_PrivateFormatter(LOG_FORMAT))
    try:
        if args.command == "emulator":
            return _run_emulator(args)
        if args.command == "call":
            import anyio

            return anyio.run(_call, args)
        if args.command == "token":
            return _new_token(args)
        if args.command == "data":
            return _data_status(args) if args.data_command == "status" else _data_purge(args)
        return _serve(args)
    except UsageError as exc:
        print(f"contacts-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
