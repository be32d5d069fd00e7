"""Which tools a server exposes, and the audit log of the writes it makes.

`--read-only` exposes only the read tools and wins over every other option;
`--toolsets` exposes just the named groups. A tool left out is neither listed nor
callable: called by name anyway, it gets a clear error saying why. `get_job` is always
there: it follows the jobs the exposed tools start (in read-only mode, previews and
mirror refreshes, which write no contact data).

The audit log is JSON Lines, one line per write a tool made or tried: the time, the
caller (the token's name, the OAuth subject, or "local" on stdio), the tool, its target
(a contact's id or email, a segment, topic or property name, a file's name, or how many
contacts a bulk call named) and the outcome. Nothing else of the arguments is recorded:
no field values, properties or secrets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mcp.types import CallToolResult, ToolAnnotations

from contacts_mcp.services import sharing
from contacts_mcp.text.words import counted

__all__ = [
    "ALWAYS_EXPOSED",
    "TOOLSETS",
    "AuditLog",
    "Surface",
    "audit_target",
    "parse_toolsets",
]

logger = logging.getLogger(__name__)

TOOLSETS: Mapping[str, frozenset[str]] = {
    "contacts": frozenset(
        {
            "create_contact",
            "get_contact",
            "update_contact",
            "delete_contact",
            "list_contacts",
            "search_contacts",
            "personal_data",
            "forget_contacts",
        }
    ),
    "bulk": frozenset({"update_contacts", "delete_contacts", "export_contacts", "approve_run"}),
    "schema": frozenset(
        {
            "list_contact_properties",
            "create_contact_property",
            "update_contact_property",
            "delete_contact_property",
            "list_segments",
            "create_segment",
            "update_segment",
            "delete_segment",
            "list_topics",
            "create_topic",
            "update_topic",
            "delete_topic",
        }
    ),
    "imports": frozenset({"preview_import", "import_contacts", "upload_csv", "approve_import"}),
}
ALWAYS_EXPOSED = frozenset({"get_job"})


def parse_toolsets(raw: str) -> frozenset[str]:
    """`contacts,schema` as a set of known toolset names, or ValueError naming the known."""
    names = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    unknown = sorted(names - TOOLSETS.keys())
    if unknown or not names:
        raise ValueError(
            f"unknown toolset {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(TOOLSETS)}"
        )
    return names


# The audit log is rotated when it reaches this size, or when its first line is this old;
# rotated files are removed by retention (`audit`, 365 days by default).
AUDIT_ROTATE_BYTES = 10 * 1024 * 1024
AUDIT_ROTATE_DAYS = 30
# How long a line waits for the log's lock (held briefly by an erasure's rewrite).
AUDIT_LOCK_WAIT = 10.0


class AuditLog:
    """Append-only JSON Lines, readable by the server's user only, rotated by size and age.

    Each line is opened, written whole in one `write`, and closed: writes are rare
    next to reads, the file needs no closing when the server stops, and lines from
    several processes sharing the file (O_APPEND) never interleave. A full or old file
    is renamed `<name>.<UTC time>` and a new one begun; two processes rotating at once
    at worst rotate a short file early, and no line is lost (a rename keeps the file).
    """

    def __init__(
        self,
        path: Path,
        *,
        rotate_bytes: int = AUDIT_ROTATE_BYTES,
        rotate_days: float = AUDIT_ROTATE_DAYS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = path
        self._rotate_bytes = rotate_bytes
        self._rotate_days = rotate_days
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        self._lock = threading.Lock()
        self._begun: datetime | None = self._first_time()

    def record(self, caller: str, tool: str, target: str | None, outcome: str) -> None:
        now = self._clock()
        line = json.dumps(
            {
                "time": now.isoformat(timespec="milliseconds"),
                "caller": caller,
                "tool": tool,
                "target": target,
                "outcome": outcome,
            },
            ensure_ascii=False,
        )
        data = (line + "\n").encode()
        with self._lock, self._held():
            self._rotate_if_due(now, len(data))
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            if self._begun is None:
                self._begun = now

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """The log's lock, shared by every process writing it: an erasure rewrites the
        file under it, and a line written meanwhile to the file it replaces would be
        lost. A lock not free within seconds is not worth losing the line for."""
        try:
            with sharing.held(sharing.lock_beside(self.path), wait=AUDIT_LOCK_WAIT):
                yield
                return
        except sharing.FolderLockTimeout:
            logger.warning("the audit log's lock was busy; writing the line without it")
        yield

    def rotated(self) -> list[Path]:
        """The rotated files, oldest first."""
        return sorted(p for p in self.path.parent.glob(f"{self.path.name}.*") if p.is_file())

    def _rotate_if_due(self, now: datetime, adding: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._begun = None
            return
        too_old = (
            self._begun is not None
            and (now - self._begun).total_seconds() >= self._rotate_days * 86400
        )
        if size == 0 or not (size + adding > self._rotate_bytes or too_old):
            return
        # Named by time and process, never an existing name: a rename would replace it.
        stamp = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}"
        target = self.path.with_name(f"{self.path.name}.{stamp}")
        count = 0
        while target.exists():
            count += 1
            target = self.path.with_name(f"{self.path.name}.{stamp}-{count}")
        with contextlib.suppress(FileNotFoundError):  # another process rotated it just now
            self.path.rename(target)
        self._begun = None

    def _first_time(self) -> datetime | None:
        """When the current file's first line was written (None for an empty file)."""
        try:
            with self.path.open("rb") as handle:
                first = handle.readline(64 * 1024)
            moment = datetime.fromisoformat(json.loads(first)["time"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def authenticated_caller() -> str:
    """The caller of this request: the HTTP credential's name (a static token's name,
    or the OAuth subject), or "local" on stdio and unauthenticated loopback HTTP."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    token = get_access_token()
    return token.client_id if token is not None else "local"


@dataclass
class Surface:
    """What a server exposes (`read_only`, `toolsets`: None for all) and audits."""

    read_only: bool = False
    toolsets: frozenset[str] | None = None
    audit: AuditLog | None = None
    # "required": a destructive set operation runs only on a person's approval (a form
    # the client asks, or the review screen's Approve), refused where neither exists.
    approval: Literal["auto", "required"] = "auto"
    # Who is calling; the HTTP transport names the token or the OAuth subject.
    caller: Callable[[], str] = field(default=authenticated_caller)

    def exposes(self, name: str, annotations: ToolAnnotations | None) -> bool:
        if name in ALWAYS_EXPOSED:
            return True
        if self.read_only and not (annotations is not None and annotations.read_only_hint):
            return False
        if self.toolsets is not None:
            return any(name in TOOLSETS[toolset] for toolset in self.toolsets)
        return True

    def hides(self, name: str) -> bool:
        """Whether `name` is one of this product's tools that this surface leaves out."""
        known = name in ALWAYS_EXPOSED or any(name in group for group in TOOLSETS.values())
        return known and (self.read_only or self.toolsets is not None)

    def refusal(self, name: str, annotations: ToolAnnotations | None) -> str:
        """Why a tool this server leaves out cannot be called."""
        if self.read_only and not (annotations is not None and annotations.read_only_hint):
            return (
                f"{name} is not available: this server is read-only (--read-only), so it "
                "changes nothing. Ask whoever runs it for a server that may write."
            )
        shown = ", ".join(sorted(self.toolsets or ()))
        return (
            f"{name} is not available: this server exposes only the {shown} tools "
            "(--toolsets). Ask whoever runs it to add that tool's group."
        )

    def read_only_annotations(self, annotations: ToolAnnotations | None) -> ToolAnnotations | None:
        """`get_job` in a read-only server follows and stops read-only jobs only."""
        if not self.read_only or annotations is None:
            return annotations
        return annotations.model_copy(update={"read_only_hint": True, "destructive_hint": None})

    def record(
        self,
        name: str,
        arguments: Mapping[str, Any],
        outcome: CallToolResult | BaseException,
    ) -> str | None:
        """Audit a call of a write tool (not a preview, a dry run, or a read). A write
        that goes on as a job is audited when the job ends: its id is returned, for the
        caller to pass to `record_job_end`."""
        if self.audit is None:
            return None
        if isinstance(outcome, BaseException) or outcome.is_error:
            self._write(self.caller(), name, arguments, "error")
            return None
        data = outcome.structured_content or {}
        if data.get("preview") is not None or arguments.get("dry_run"):
            return None  # nothing was written
        job = data.get("run") or data
        status = job.get("status") if isinstance(job, dict) else None
        if status == "working":
            return str(job["job_id"])
        self._write(
            self.caller(), name, arguments, "ok" if status in (None, "completed") else status
        )
        return None

    def record_job_end(
        self, caller: str, name: str, arguments: Mapping[str, Any], job_id: str, status: str
    ) -> None:
        """The one audit line of a write that ran as a job: how it ended."""
        outcome = "ok" if status == "completed" else status
        if status == "working":  # the server stopped first; the next one resumes it
            outcome = "interrupted"
        self._write(caller, name, arguments, f"{outcome} (job {job_id})")

    def record_request(self, caller: str, name: str, target: str, outcome: str) -> None:
        """Audit a read that must be accounted for (a person's access request), naming
        its target as given (a keyed hash, never an address)."""
        self._line(caller, name, target, outcome)

    def _write(self, caller: str, name: str, arguments: Mapping[str, Any], outcome: str) -> None:
        self._line(caller, name, audit_target(arguments), outcome)

    def _line(self, caller: str, name: str, target: str | None, outcome: str) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(caller, name, target, outcome)
        except OSError:
            # A full disk must not turn a write that happened into an error the model
            # retries; the server's log says the audit line was lost.
            logger.exception("could not write the audit log line for %s", name)


def audit_target(arguments: Mapping[str, Any]) -> str | None:
    """What a write was about, without the values it wrote."""
    for key in ("contact", "email", "property", "key", "segment", "topic", "job_id"):
        value = arguments.get(key)
        if isinstance(value, str):
            return value[:320]
    if isinstance(arguments.get("emails"), list):  # an erasure: never the addresses
        return f"{counted(len(arguments['emails']), 'person')} (each has a line by keyed hash)"
    if isinstance(arguments.get("contacts"), list):
        return f"{len(arguments['contacts'])} named contacts"
    if arguments.get("search") is not None:
        return "a search selection"
    if isinstance(arguments.get("path"), str):
        return Path(arguments["path"]).name
    if arguments.get("csv_text") is not None:
        return "inline CSV"
    name = arguments.get("name")
    return name[:100] if isinstance(name, str) else None
