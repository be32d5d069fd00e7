"""Review screens (MCP Apps) and the person's approval they carry.

Hosts that render MCP Apps (Claude Desktop, claude.ai, ChatGPT, VS Code) show a tool's
`ui://` screen beside its result. `update_contacts` and `delete_contacts` name the bulk
review screen: a preview shows there as a table, with Approve and Cancel. Approve calls
`approve_run`, a tool for the screen only (`_meta.ui.visibility: ["app"]`): hosts keep
it out of the model's tool list, and this server lists it only to clients that declared
Apps (a client without them has no host to hide it).

What makes Approve a person's act is the approval nonce: one-time, unguessable, sent only
in the preview result's `_meta`, which hosts give the screen and never the model (the
model reads content and structured content). The server keeps what each nonce approves
(the tool and its arguments, the confirmation included) and who it was issued to; a
nonce is spent by its first use, approve or cancel. A client without Apps gets exactly
the answers it got before: the screen is extra, never required.

The screens are built from `ui/` (see its README) into self-contained HTML files next to
this module, read when a host asks for them rather than at startup.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp.server.apps import APP_MIME_TYPE, Apps, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.resources import FileResource

from contacts_mcp.services import sharing

__all__ = [
    "APPROVAL_META",
    "BULK_REVIEW",
    "IMPORT_REVIEW",
    "JOB_VIEW",
    "SCREENS",
    "SEARCH_RESULTS",
    "Approvals",
    "PendingApproval",
    "app_only",
    "app_only_tool",
    "client_supports_apps",
    "hide_app_only_tools",
    "review_screens",
    "screen",
]

UI_DIR = Path(__file__).resolve().with_name("ui")
BULK_REVIEW = "ui://contacts-mcp/bulk-review.html"
IMPORT_REVIEW = "ui://contacts-mcp/import-review.html"
SEARCH_RESULTS = "ui://contacts-mcp/search-results.html"
JOB_VIEW = "ui://contacts-mcp/job-view.html"
# The key of a preview result's `_meta` entry that carries the approval nonce.
APPROVAL_META = "contacts-mcp/approval"


@dataclass(frozen=True)
class Screen:
    uri: str
    title: str
    description: str

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1].removesuffix(".html")


SCREENS = (
    Screen(
        BULK_REVIEW,
        "Review a bulk change",
        "The preview of update_contacts or delete_contacts, to approve.",
    ),
    Screen(
        IMPORT_REVIEW,
        "Review an import",
        "The preview of preview_import: the column mapping to edit, problems, then the import.",
    ),
    Screen(
        SEARCH_RESULTS,
        "Search results",
        "The contacts search_contacts found, to page, sort, export or change.",
    ),
    Screen(JOB_VIEW, "A job", "A job of get_job: its progress, Cancel, and its result."),
)


def review_screens() -> Apps:
    """The MCP Apps extension with this server's screens, served from their built files."""
    apps = Apps()
    for shown in SCREENS:
        apps.add_resource(
            FileResource(
                uri=shown.uri,
                name=shown.name,
                title=shown.title,
                description=shown.description,
                path=UI_DIR / f"{shown.name}.html",
                mime_type=APP_MIME_TYPE,
                meta={"ui": {"prefersBorder": True}},
            )
        )
    return apps


def screen(uri: str) -> dict[str, Any]:
    """A tool's `_meta` naming the screen its results show in."""
    return {"ui": {"resourceUri": uri}}


def app_only(uri: str) -> dict[str, Any]:
    """A tool's `_meta` for a tool only a screen calls: hosts keep it from the model."""
    return {"ui": {"resourceUri": uri, "visibility": ["app"]}}


def app_only_tool() -> dict[str, Any]:
    """A tool's `_meta` for a tool any of this server's screens may call, and no model."""
    return {"ui": {"visibility": ["app"]}}


def _is_app_only(tool: Any) -> bool:
    meta = tool.get("_meta") if isinstance(tool, dict) else getattr(tool, "meta", None)
    ui = (meta or {}).get("ui") or {}
    visibility = ui.get("visibility")
    return visibility is not None and "model" not in visibility


async def hide_app_only_tools(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """Middleware: `tools/list` leaves out app-only tools for a client that did not declare
    MCP Apps. Hosts with Apps hide them from their model themselves (the spec says they
    must); a client without them would hand them to its model as ordinary tools."""
    result = await call_next(ctx)
    if ctx.method != "tools/list" or result is None or client_supports_apps(ctx):
        return result
    if isinstance(result, dict):
        return {**result, "tools": [t for t in result.get("tools", []) if not _is_app_only(t)]}
    tools = getattr(result, "tools", None)
    if tools is None:
        return result
    return result.model_copy(update={"tools": [t for t in tools if not _is_app_only(t)]})


@dataclass(frozen=True)
class PendingApproval:
    """What one nonce approves: a tool's confirmed call, for the caller it was issued to."""

    tool: str
    arguments: dict[str, Any]
    caller: str
    expires: float


_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    nonce TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    caller TEXT NOT NULL,
    expires REAL NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS answers (
    question TEXT PRIMARY KEY,
    approve INTEGER NOT NULL,
    expires REAL NOT NULL
);
"""


class Approvals:
    """Approval nonces, and the answers people gave to approval questions, in one SQLite
    file shared by every server process on the data folder (a screen may call back
    through another window's server), or in memory."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._db = sharing.connect(":memory:" if path is None else path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def issue(self, tool: str, arguments: dict[str, Any], caller: str, expires: float) -> str:
        """A new nonce approving `tool(arguments)` for `caller` until `expires`."""
        nonce = secrets.token_urlsafe(24)
        with self._lock, sharing.write_transaction(self._db):
            # Nonces nobody used are forgotten once their confirmation has expired.
            self._db.execute("DELETE FROM approvals WHERE expires < ?", (time.time(),))
            self._db.execute(
                "INSERT INTO approvals (nonce, tool, arguments, caller, expires) "
                "VALUES (?, ?, ?, ?, ?)",
                (nonce, tool, json.dumps(arguments, ensure_ascii=False), caller, expires),
            )
        return nonce

    def keep_answer(self, question: str, approve: bool, expires: float) -> None:
        """Keep a person's answer to `question` (a digest of what they were asked) until
        `expires`: a host that gave up on the call still gets it on its next call."""
        with self._lock, sharing.write_transaction(self._db):
            self._db.execute("DELETE FROM answers WHERE expires < ?", (time.time(),))
            self._db.execute(
                "INSERT OR REPLACE INTO answers (question, approve, expires) VALUES (?, ?, ?)",
                (question, int(approve), expires),
            )

    def answer(self, question: str) -> bool | None:
        """The person's kept answer to `question`, if they gave one that has not expired."""
        with self._lock:
            row = self._db.execute(
                "SELECT approve FROM answers WHERE question = ? AND expires >= ?",
                (question, time.time()),
            ).fetchone()
        return None if row is None else bool(row[0])

    def spend(self, nonce: str, caller: str) -> PendingApproval | None:
        """What `nonce` approves, spending it; None for one unknown, spent, expired or
        issued to another caller (told apart to nobody)."""
        with self._lock, sharing.write_transaction(self._db):
            row = self._db.execute(
                "SELECT tool, arguments, caller, expires FROM approvals "
                "WHERE nonce = ? AND spent = 0",
                (nonce,),
            ).fetchone()
            if row is None or row[2] != caller or float(row[3]) < time.time():
                return None
            self._db.execute("UPDATE approvals SET spent = 1 WHERE nonce = ?", (nonce,))
        return PendingApproval(str(row[0]), json.loads(row[1]), str(row[2]), float(row[3]))
