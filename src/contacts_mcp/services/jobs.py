"""Long work as jobs: they outlive the tool call that started them, and a restart.

Hosts give a tool call 60 s (the TypeScript SDK's default, which progress does not
extend). Work that may take longer (imports, a sync of the account, bulk changes) runs
as a job in the server's own task group: the call that starts it waits up to a budget
and returns the result, or a handle that says how far the job got and how to go on
waiting. The shape follows the MCP tasks extension (`working`, `completed`, `failed`,
`cancelled`; a status message; created and updated times), so it can map onto it once
hosts support it.

Every job belongs to the caller who started it (an HTTP token's name or OAuth subject;
"local" on stdio): another caller neither sees nor stops it. Account-wide upkeep (a sync
of the mirror) is `shared`: every caller may wait on it, only its starter may stop it.

Every job is journaled in SQLite with the arguments that started it. A job whose server
died while it ran (its owner process is gone) is resumed by asking for it, or by
starting the same work again; the work itself must be resumable (imports keep a row
journal, a sync keeps its cursor).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup
from pydantic import BaseModel, Field

from contacts_mcp.api.client import api_deadline_lifted
from contacts_mcp.api.errors import ResendError
from contacts_mcp.services import sharing
from contacts_mcp.services.explain import NothingFoundError, UserFacingError, explain, show

__all__ = [
    "DEFAULT_WAIT_SECONDS",
    "MAX_WAIT_SECONDS",
    "Job",
    "JobStatus",
    "JobView",
    "Jobs",
    "Progress",
    "Work",
    "job_key",
    "next_call",
    "running_job_id",
    "spoken_duration",
    "utc_iso",
]

logger = logging.getLogger("contacts_mcp.jobs")

# The job whose work is running (in its task): a run that names its files by its job
# (an import's undo journal) finds the id here, the same when the job is resumed.
_RUNNING_JOB: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "contacts_mcp_running_job", default=None
)


def running_job_id() -> str | None:
    """The id of the job this code runs in, if any."""
    return _RUNNING_JOB.get()


JobStatus = Literal["working", "completed", "failed", "cancelled"]
Progress = Callable[[float, float | None, str], Awaitable[None]]
Work = Callable[[Progress], Awaitable[BaseModel]]
# Rebuilds a job's work from its journaled arguments, to resume it after a restart.
Resumer = Callable[[Mapping[str, Any]], Work]
# What is kept of a job's arguments once it ended.
Redactor = Callable[[Mapping[str, Any]], dict[str, Any]]

# Below every host's 60 s request timeout, with room for the answer to travel.
DEFAULT_WAIT_SECONDS = 20.0
MAX_WAIT_SECONDS = 50.0
# Progress is journaled at most this often: a restart loses at most this much of it.
JOURNAL_EVERY_SECONDS = 1.0
# An owner that is alive but has not touched its jobs for this long is a reused pid.
HEARTBEAT_SECONDS = 30.0
STALE_OWNER_SECONDS = 10 * HEARTBEAT_SECONDS

_JOB_ID_PREFIX = "job_"


def job_key(kind: str, arguments: Mapping[str, Any]) -> str:
    """What identifies the same work asked for twice: its kind and its arguments."""
    canonical = json.dumps([kind, arguments], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def next_call(job_id: str) -> dict[str, Any]:
    """The `get_job` call that goes on waiting for a job: for as long as one call may
    (it returns as soon as the job ends, so a longer wait never costs time)."""
    return {
        "tool": "get_job",
        "arguments": {"job_id": job_id, "wait_seconds": round(MAX_WAIT_SECONDS)},
    }


def utc_iso(moment: float) -> str:
    """A Unix time as people and models read it: `2026-11-30T04:32:22Z`."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def spoken_duration(seconds: int) -> str:
    """`45 s`, `12 min`, `2.5 h`, `3 days`: a time left, or an age."""
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{round(seconds / 86400)} days"


class JobView(BaseModel):
    """A job as tools report it: where it stands, and how to go on."""

    job_id: str
    kind: str = Field(description="import, preview or sync.")
    status: JobStatus
    message: str = Field(description="The latest step, e.g. 'imported 300 of 3000 rows'.")
    done: int = 0
    total: int | None = None
    eta_seconds: int | None = Field(default=None, description="Estimated time left.")
    created_at: str
    updated_at: str
    error: str | None = Field(default=None, description="Why it failed.")
    next_call: dict[str, Any] | None = Field(
        default=None, description="While working: the get_job call that waits for it."
    )


@dataclass
class Job:
    """One job, running in this process or known from the journal."""

    id: str
    kind: str
    key: str
    arguments: dict[str, Any]
    created: float
    status: JobStatus = "working"
    done: float = 0
    total: float | None = None
    message: str = "starting"
    updated: float = field(default_factory=time.time)
    result: dict[str, Any] | None = None
    error: str | None = None
    finished: anyio.Event = field(default_factory=anyio.Event)
    # Set (and replaced) at each progress report, to wake the calls waiting on the job.
    changed: anyio.Event = field(default_factory=anyio.Event)
    # Set while the work runs in this process.
    scope: anyio.CancelScope | None = None
    cancel_requested: bool = False
    # Whether the work has reported progress yet (a new job's zero is not a report).
    reported: bool = False
    # For the estimate: where this run started (a resumed job starts part-way).
    run_started: float = field(default_factory=time.monotonic)
    run_done_at_start: float = 0
    # Who started it, and whether every caller may see it (account-wide upkeep).
    caller: str = "local"
    shared: bool = False
    # Left working by a stopped server, and not resumed here (a read-only server does
    # not take up a job that writes): nothing runs it until a server that may does.
    paused: bool = False

    def visible_to(self, caller: str | None) -> bool:
        """Whether `caller` may see the job (None: the server itself, which sees all)."""
        return caller is None or self.shared or self.caller == caller

    @property
    def running_here(self) -> bool:
        return self.scope is not None and not self.finished.is_set()

    def eta_seconds(self) -> int | None:
        if self.status != "working" or not self.total:
            return None
        progressed = self.done - self.run_done_at_start
        elapsed = time.monotonic() - self.run_started
        if progressed <= 0 or elapsed < 1:
            return None
        return max(0, round((self.total - self.done) * elapsed / progressed))

    def view(self) -> JobView:
        return JobView(
            job_id=self.id,
            kind=self.kind,
            status=self.status,
            message=self.message,
            # Counts of rows or contacts, journaled as REAL: shown as the integers they are.
            done=round(self.done),
            total=None if self.total is None else round(self.total),
            eta_seconds=None if self.paused else self.eta_seconds(),
            created_at=utc_iso(self.created),
            updated_at=utc_iso(self.updated),
            error=self.error,
            next_call=next_call(self.id) if self.status == "working" and not self.paused else None,
        )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    arguments TEXT NOT NULL,
    status TEXT NOT NULL,
    done REAL NOT NULL,
    total REAL,
    message TEXT NOT NULL,
    result TEXT,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    owner TEXT NOT NULL,
    heartbeat REAL NOT NULL,
    cancel INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (backend, key, created);
"""
# Added after the first release: journals written before have every job as "local".
_ADDED_COLUMNS = {
    "caller": "TEXT NOT NULL DEFAULT 'local'",
    "shared": "INTEGER NOT NULL DEFAULT 0",
}
# Every statement names the columns, in this order (`_row` and `_job` follow it).
_SELECT = (
    "SELECT id, backend, kind, key, arguments, status, done, total, message, result, error, "
    "created, updated, owner, heartbeat, cancel, caller, shared FROM jobs "
)
_INSERT = (
    "INSERT OR REPLACE INTO jobs (id, backend, kind, key, arguments, status, done, total, "
    "message, result, error, created, updated, owner, heartbeat, cancel, caller, shared) "
)
# A job journaled as it stands here, but for a stop another server asked for meanwhile:
# the cancel value is the larger of this job's and the journal's (whose id comes after).
_SAVE = (
    "INSERT OR REPLACE INTO jobs (id, backend, kind, key, arguments, status, done, total, "
    "message, result, error, created, updated, owner, heartbeat, cancel, caller, shared) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, "
    "MAX(?, COALESCE((SELECT cancel FROM jobs WHERE id = ?), 0)), ?, ?)"
)
# A job (re)starting: no stop asked for before applies to it.
_SAVE_FRESH = _INSERT + "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
# The same work for the same caller (or shared), and the jobs a caller may see: its own
# and the shared ones (a NULL caller, the server itself, sees every job).
_LATEST_FOR_KEY = (
    _SELECT + "WHERE backend = :backend AND key = :key "
    "AND (:caller IS NULL OR shared = 1 OR caller = :caller) ORDER BY created DESC LIMIT 1"
)
_RECENT = (
    _SELECT + "WHERE backend = :backend "
    "AND (:caller IS NULL OR shared = 1 OR caller = :caller) ORDER BY created DESC LIMIT :limit"
)
_BY_ID = _SELECT + "WHERE id = ? AND backend = ?"


class JobJournal:
    """The jobs of one backend, on disk (or in memory for a backend nothing outlives)."""

    def __init__(self, path: Path | str, backend: str) -> None:
        # Several server processes (one per host window) share the file.
        self._db = sharing.connect(path)
        self._db.executescript(_SCHEMA)
        self._add_columns()
        self._lock = threading.Lock()
        self._backend = backend
        # This process, as journaled; the pid alone could be reused after a reboot.
        self.owner = f"{os.getpid()}:{secrets.token_hex(4)}"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _add_columns(self) -> None:
        # Inside one write transaction: two servers opening an old journal at once add
        # each column once.
        with sharing.write_transaction(self._db):
            have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for name, declaration in _ADDED_COLUMNS.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")

    def save(self, job: Job, *, fresh: bool = False) -> None:
        """Journal `job` as this server's. A stop another server asked for meanwhile is
        kept, unless the job is `fresh`: starting (again) now."""
        row = self._row(job)
        with self._lock:
            if fresh:
                self._db.execute(_SAVE_FRESH, row)
            else:
                self._db.execute(_SAVE, (*row[:16], job.id, *row[16:]))

    def start(self, job: Job) -> tuple[Job, bool] | None:
        """Journal a new `job`, unless a job of the same work, seen by the same caller, is
        working: then that job, and whether its owner is gone (so it can be resumed
        here). One server at a time decides, so two windows asking at once start the
        work once."""
        with self._lock, sharing.write_transaction(self._db):
            row = self._db.execute(
                _LATEST_FOR_KEY, {"backend": self._backend, "key": job.key, "caller": job.caller}
            ).fetchone()
            found = None if row is None else self._job(row)
            if found is None or found[0].status != "working":
                self._db.execute(_SAVE_FRESH, self._row(job))
                found = None
        return found

    def _row(self, job: Job) -> tuple[Any, ...]:
        return (
            job.id, self._backend, job.kind, job.key,
            json.dumps(job.arguments, ensure_ascii=False), job.status, job.done,
            job.total, job.message,
            None if job.result is None else json.dumps(job.result, ensure_ascii=False),
            job.error, job.created, job.updated, self.owner, time.time(),
            int(job.cancel_requested), job.caller, int(job.shared),
        )  # fmt: skip

    def release(self, job: Job) -> None:
        """Journal `job` as still working but owned by nobody: any server may resume it."""
        self.save(job)
        with self._lock:
            self._db.execute("UPDATE jobs SET owner = '', heartbeat = 0 WHERE id = ?", (job.id,))

    def claim(self, job_id: str) -> bool:
        """Take over a job whose server stopped; False if another server took it first."""
        # One claimant at a time, across processes.
        with self._lock, sharing.write_transaction(self._db):
            row = self._db.execute(
                "SELECT status, owner, heartbeat FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            claimed = (
                row is not None
                and row[0] == "working"
                and self._owner_gone(str(row[1]), float(row[2]))
            )
            if claimed:
                self._db.execute(
                    "UPDATE jobs SET owner = ?, heartbeat = ? WHERE id = ?",
                    (self.owner, time.time(), job_id),
                )
        return claimed

    def request_cancel(self, job_id: str) -> None:
        """Ask the server running a job to stop it (it looks at least once a second)."""
        with self._lock:
            self._db.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job_id,))

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row is not None and bool(row[0])

    def heartbeat(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        with self._lock:
            self._db.executemany(
                "UPDATE jobs SET heartbeat = ?, owner = ? WHERE id = ?",
                [(time.time(), self.owner, job_id) for job_id in job_ids],
            )

    def load(self, job_id: str) -> tuple[Job, bool] | None:
        """The job, and whether its owner is gone (so it can be resumed here)."""
        with self._lock:
            row = self._db.execute(_BY_ID, (job_id, self._backend)).fetchone()
        return None if row is None else self._job(row)

    def latest_for(self, key: str, caller: str | None) -> tuple[Job, bool] | None:
        with self._lock:
            row = self._db.execute(
                _LATEST_FOR_KEY, {"backend": self._backend, "key": key, "caller": caller}
            ).fetchone()
        return None if row is None else self._job(row)

    def recent(self, limit: int, caller: str | None = None) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                _RECENT, {"backend": self._backend, "caller": caller, "limit": limit}
            ).fetchall()
        return [self._job(row)[0] for row in rows]

    def _job(self, row: tuple[Any, ...]) -> tuple[Job, bool]:
        (job_id, _backend, kind, key, arguments, status, done, total, message, result, error,
         created, updated, owner, heartbeat, cancel, caller, shared) = row  # fmt: skip
        job = Job(
            id=job_id,
            kind=kind,
            key=key,
            arguments=json.loads(arguments),
            created=created,
            status=status,
            done=done,
            total=total,
            message=message,
            updated=updated,
            result=None if result is None else json.loads(result),
            error=error,
            cancel_requested=bool(cancel),
            caller=caller,
            shared=bool(shared),
        )
        if status != "working":
            job.finished.set()
        return job, status == "working" and self._owner_gone(owner, heartbeat)

    def _owner_gone(self, owner: str, heartbeat: float) -> bool:
        if not owner:
            return True  # released by a server that shut down mid-job
        if owner == self.owner:
            return False  # ours: running here, or ended with this process's task group
        if time.time() - heartbeat > STALE_OWNER_SECONDS:
            return True
        if sys.platform == "win32":
            # There `os.kill(pid, 0)` ends the process (another host window's server)
            # rather than asking whether it lives: the heartbeat alone decides.
            return False
        pid = int(owner.split(":", 1)[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive, but another user's: not ours to take over
            return False
        return False


class Jobs:
    """The jobs of one server: started in its task group, journaled, waited on, cancelled."""

    def __init__(
        self,
        task_group: TaskGroup,
        journal: JobJournal,
        resumers: Mapping[str, Resumer],
        ended_arguments: Mapping[str, Redactor] | None = None,
    ) -> None:
        self._task_group = task_group
        self._journal = journal
        self._resumers = resumers
        # What the journal keeps of a kind's arguments once its job ended (a forget job
        # holds addresses only while it works: resumable, then gone).
        self._ended_arguments = ended_arguments or {}
        self._live: dict[str, Job] = {}

    # -- starting -------------------------------------------------------------------

    def start(
        self,
        kind: str,
        arguments: Mapping[str, Any],
        work: Work,
        *,
        caller: str = "local",
        shared: bool = False,
    ) -> Job:
        """The job doing this work for `caller`: the same one if it is already running
        (theirs, or `shared`), or resumed under its old id if a server died while running
        it; otherwise a new job, theirs (or every caller's, `shared`)."""
        key = job_key(kind, arguments)
        for job in self._live.values():
            if job.key == key and job.running_here and job.visible_to(caller):
                return job
        job = Job(
            id=_JOB_ID_PREFIX + secrets.token_hex(6),
            kind=kind,
            key=key,
            arguments=dict(arguments),
            created=time.time(),
            caller=caller,
            shared=shared,
        )
        found = self._journal.start(job)
        if found is not None:
            job, orphaned = found
            # Not orphaned: another server (another host window) is running it. Orphaned
            # but not claimed: another server has just taken it up.
            if not (orphaned and self._journal.claim(job.id)):
                return job
            logger.info("resuming job %s (%s) left by a stopped server", job.id, kind)
        self._launch(job, work)
        return job

    def previous(
        self, kind: str, arguments: Mapping[str, Any], caller: str | None = None
    ) -> Job | None:
        """The latest job that did this work that `caller` may see, here or in the
        journal, if any."""
        key = job_key(kind, arguments)
        for job in self._live.values():
            if job.key == key and job.visible_to(caller):
                return job
        found = self._journal.latest_for(key, caller)
        return None if found is None else found[0]

    def find(self, job_id: str, caller: str | None = None) -> Job:
        """The job with this id, if `caller` may see it (None: any job); one left working
        by a stopped server is resumed, where this server may resume its kind."""
        wanted = job_id.strip()
        job: Job | None = self._live.get(wanted)
        orphaned = False
        if job is None and wanted.startswith(_JOB_ID_PREFIX):
            found = self._journal.load(wanted)
            if found is not None:
                job, orphaned = found
        if job is None or not job.visible_to(caller):
            # Another caller's job is not told from one that never was.
            raise NothingFoundError(
                f"No job {show(wanted, 40)} on this server. Call get_job without a job_id "
                "to list recent jobs."
            )
        if orphaned:
            resumer = self._resumers.get(job.kind)
            if resumer is None:
                job.paused = True
                job.message = f"paused: the server running it stopped ({job.message})"
            elif self._journal.claim(job.id):
                logger.info("resuming job %s (%s) left by a stopped server", job.id, job.kind)
                self._launch(job, resumer(job.arguments))
        return job

    def recent(self, limit: int = 10, caller: str | None = None) -> list[Job]:
        listed = {job.id: job for job in self._journal.recent(limit, caller)}
        listed.update({job.id: job for job in self._live.values() if job.id in listed})
        return sorted(listed.values(), key=lambda job: job.created, reverse=True)

    def when_ended(self, job: Job, callback: Callable[[Job], None]) -> None:
        """Call `callback(job)` once the job stops here: ended (completed, failed or
        cancelled), or left working for the next server because this one stops."""

        async def follow() -> None:
            try:
                await job.finished.wait()
            finally:  # a server stopping cancels this too: report the job as it is
                callback(job)

        self._task_group.start_soon(follow, name=f"follow {job.id}")

    def _launch(self, job: Job, work: Work) -> None:
        job.status, job.error, job.result, job.cancel_requested = "working", None, None, False
        job.paused = False
        job.finished = anyio.Event()
        job.scope = anyio.CancelScope()
        job.run_started, job.run_done_at_start = time.monotonic(), job.done
        job.updated = time.time()
        self._live[job.id] = job
        self._journal.save(job, fresh=True)
        self._task_group.start_soon(self._run, job, work, name=f"job {job.id}")

    async def _run(self, job: Job, work: Work) -> None:
        assert job.scope is not None
        last_saved = 0.0

        async def progress(done: float, total: float | None, message: str) -> None:
            nonlocal last_saved
            job.done, job.total, job.message, job.updated = done, total, message, time.time()
            job.reported = True
            job.changed.set()
            job.changed = anyio.Event()
            if time.monotonic() - last_saved >= JOURNAL_EVERY_SECONDS:
                last_saved = time.monotonic()
                if self._journal.cancel_requested(job.id):  # by another server's get_job
                    job.cancel_requested = True
                    assert job.scope is not None
                    job.scope.cancel()
                self._journal.save(job)

        outcome: BaseModel | None = None
        try:
            # The call that started the job has a deadline for its API work; the job
            # runs on after that call returned, under its own request timeouts.
            _RUNNING_JOB.set(job.id)  # this task's own context: no reset needed
            with job.scope, api_deadline_lifted():
                outcome = await work(progress)
        except Exception as exc:
            job.status, job.error = "failed", self._reason(job, exc)
        finally:
            job.scope = None
            job.updated = time.time()
            if outcome is not None:
                job.status, job.result = "completed", outcome.model_dump(mode="json")
                job.message = "done"
            elif job.status == "working" and job.cancel_requested:
                job.status, job.message = "cancelled", "cancelled; what it finished is kept"
            if job.status == "working":
                # The server is shutting down mid-job: the journal keeps the job working
                # and lets the next server (this process or another) resume it.
                self._live.pop(job.id, None)
                self._journal.release(job)
            else:
                redact = self._ended_arguments.get(job.kind)
                if redact is not None:
                    job.arguments = redact(job.arguments)
                    job.key = job_key(job.kind, job.arguments)
                self._journal.save(job)
            job.finished.set()

    @staticmethod
    def _reason(job: Job, exc: Exception) -> str:
        first: BaseException = exc
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if isinstance(first, ResendError):
            return str(explain(first))
        if isinstance(first, UserFacingError):
            return str(first)
        logger.error("job %s (%s) failed", job.id, job.kind, exc_info=exc)
        return (
            "The job stopped on an unexpected error (the server log has the details). "
            "Run it again to resume it."
        )

    async def heartbeat(self) -> None:
        """Mark this process's running jobs alive, so no other server takes them over."""
        while True:
            await anyio.sleep(HEARTBEAT_SECONDS)
            self._journal.heartbeat([j.id for j in self._live.values() if j.running_here])

    # -- waiting and cancelling -------------------------------------------------------

    async def wait(self, job: Job, seconds: float, on_progress: Progress | None = None) -> None:
        """Wait up to `seconds` for `job` to end, passing its progress on while waiting.

        Progress is passed on from this (the caller's) task, so a slow caller never
        slows the job; reports that came while one was being sent are merged.
        """
        if job.paused:
            return  # nothing runs it: waiting would only pass the time
        if not job.running_here and job.status == "working":
            await self._wait_elsewhere(job, seconds)
            return
        reported: tuple[float, float | None, str] | None = None
        with anyio.move_on_after(max(0.0, seconds)):
            while not job.finished.is_set():
                changed = job.changed
                now = (job.done, job.total, job.message)
                if on_progress is not None and now != reported and job.reported:
                    reported = now
                    with contextlib.suppress(Exception):  # the caller may have gone
                        await on_progress(*now)
                if changed.is_set() or job.changed is not changed:
                    continue
                async with anyio.create_task_group() as group:

                    async def until(event: anyio.Event) -> None:
                        await event.wait()
                        group.cancel_scope.cancel()

                    group.start_soon(until, changed)
                    group.start_soon(until, job.finished)

    async def _wait_elsewhere(self, job: Job, seconds: float) -> None:
        """Wait for a job another server runs, following it in the journal."""
        with anyio.move_on_after(max(0.0, seconds)):
            while job.status == "working":
                await anyio.sleep(JOURNAL_EVERY_SECONDS)
                found = self._journal.load(job.id)
                if found is None:
                    return
                fresh, orphaned = found
                for name in ("status", "done", "total", "message", "updated", "result", "error"):
                    setattr(job, name, getattr(fresh, name))
                if orphaned:
                    return  # its server stopped: the caller asks again, and resumes it
        if job.status != "working":
            job.finished.set()

    async def cancel(self, job: Job) -> None:
        """Stop `job`, keeping what it finished. Harmless on a job that already ended."""
        if job.status != "working":
            return
        job.cancel_requested = True
        if job.scope is not None:
            job.scope.cancel()
            with anyio.move_on_after(10):
                await job.finished.wait()
            return
        found = self._journal.load(job.id)
        if found is not None and not found[1]:
            # Another server runs it: ask it to stop, and wait a little for it to.
            self._journal.request_cancel(job.id)
            await self._wait_elsewhere(job, 10)
            return
        # Working in the journal, but nobody runs it: a stopped server's job.
        job.status, job.message, job.updated = "cancelled", "cancelled", time.time()
        job.finished.set()
        self._journal.save(job)

    def close(self) -> None:
        self._journal.close()

    def running(self) -> Iterator[Job]:
        return (job for job in self._live.values() if job.running_here)
