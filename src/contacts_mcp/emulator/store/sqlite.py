"""SQLite plumbing for the store: one locked connection, transactions, cursor paging, and
how rows are identified and stamped (UUIDs, Postgres-style timestamps).

One connection serves the whole app. Requests are tiny, so a lock around it is simpler
and faster than a pool; `check_same_thread=False` lets tests and a server thread share it.

Other processes may use the same file at the same time: every `contacts-mcp --local`
server (one per host window) runs an emulator of its own on the per-user database, and a
standalone `contacts-mcp emulator` may serve it too. SQLite serialises their writes: the
file is in WAL mode, a statement waits up to `BUSY_TIMEOUT_SECONDS` for another process's
write transaction, and every write transaction begins `IMMEDIATE`, taking the write lock
before its first read, so that what it read (an email not taken yet) still holds when it
writes. A deferred transaction that read first could not wait for the lock: SQLite fails
it at once ("database is locked") rather than risk a deadlock.

A deleted contact leaves no copy in the file or its WAL (it is personal data, and deleting
it is how a person is forgotten): `secure_delete` zeroes deleted content in the file, and a
write that erases (`_write(erase=True)`) then checkpoints the WAL and truncates it, since
its older frames still hold the rows as they were.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "Database",
    "Page",
    "PageRequest",
    "UnknownCursorError",
    "is_email",
    "is_uuid",
    "new_id",
    "new_ids",
    "now",
]

T = TypeVar("T")

logger = logging.getLogger("contacts_mcp.emulator")

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# Resend publishes no grammar. It is known to be stricter than RFC 5322 (it rejects "!" in
# the local part), so this mirrors the conservative pattern clients fall back to, plus "'"
# for names like o'brien. Non-ASCII addresses are rejected: Resend's support is unknown.
_EMAIL = re.compile(
    r"[A-Za-z0-9_%+'-]+(\.[A-Za-z0-9_%+'-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_EMAIL_MAX = 254
# The longest write transaction is one import batch (`import_runner.BATCH_ROWS` rows, tens
# of milliseconds); 30 s rides out a queue of them on a loaded machine, and still fails
# (rather than hangs) well before an MCP host gives up on a tool call (60 s).
BUSY_TIMEOUT_SECONDS = 30.0
_BUSY_TIMEOUT_MS = int(BUSY_TIMEOUT_SECONDS * 1000)


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def is_email(value: str) -> bool:
    """Whether `value` is an address Resend would accept for a contact (see `_EMAIL`)."""
    return len(value) <= _EMAIL_MAX and _EMAIL.fullmatch(value) is not None


def now() -> str:
    # Resend returns Postgres text timestamps, not ISO 8601. Six fractional digits always,
    # so that the strings sort in time order.
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def new_id() -> str:
    return str(uuid.uuid4())


def new_ids(count: int) -> list[str]:
    """`count` ids for rows created in bulk (an import), in version-4 UUID format.

    Their first 48 bits are the time in milliseconds, as in a UUIDv7; the other 74 are
    random. Rows created together then sit side by side in every index keyed by id (the
    contacts' own, property values, memberships, subscriptions), so a large import appends
    to those indexes instead of rewriting pages all over them: about three times faster on
    a database file. Clients cannot tell: Resend's ids are opaque, and the format is v4's.
    """
    clock = f"{time.time_ns() // 1_000_000:012x}"
    raw = os.urandom(10 * count).hex()
    ids = []
    for start in range(0, 20 * count, 20):
        random = raw[start : start + 20]
        # Version nibble 4; the variant's two top bits 10, i.e. the digit is 8, 9, a or b.
        variant = "89ab"[int(random[3], 16) & 3]
        ids.append(f"{clock[:8]}-{clock[8:]}-4{random[:3]}-{variant}{random[4:7]}-{random[7:19]}")
    return ids


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which slice of a newest-first list to return; `limit=None` means everything."""

    limit: int | None = None
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


class UnknownCursorError(Exception):
    """An `after`/`before` id that is not an item of the list being paged."""

    def __init__(self, param: str) -> None:
        super().__init__(param)
        self.param = param


class Database:
    """One lazily opened SQLite connection behind a lock, and paging over its tables."""

    def __init__(self, path: str, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._closed = False
        # An erasing write whose old WAL frames could not be truncated away yet.
        self._erasure_pending = False

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            self._connection()

    def close(self) -> None:
        """Close for good: a closed in-memory store cannot come back with its data."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                # Closing the last connection to the file checkpoints and removes the WAL,
                # but another process may still have it open.
                if self._erasure_pending:
                    self._truncate_wal(self._db)
                self._db.close()
                self._db = None

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the emulator store is closed")
        if self._db is None:
            in_memory = self.path == ":memory:"
            if not in_memory:
                # The local account's contacts are personal data: this user's alone
                # (SQLite gives its -wal and -shm files the database file's mode).
                Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                check_same_thread=False,
                isolation_level=None,
            )
            db.execute("PRAGMA foreign_keys = ON")
            # Deleted rows are personal data: zero them, where SQLite's default (unless
            # built otherwise, as Debian's is) leaves them in free space and free pages.
            db.execute("PRAGMA secure_delete = ON")
            if not in_memory:
                db.execute("PRAGMA journal_mode = WAL")
            db.executescript(self._schema)
            self._db = db
        return self._db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connection()

    @contextmanager
    def _write(self, *, erase: bool = False) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction. `erase`: it deletes personal data, so once
        committed the WAL is truncated too (`_truncate_wal`)."""
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            if (erase or self._erasure_pending) and self.path != ":memory:":
                self._truncate_wal(db)

    def _truncate_wal(self, db: sqlite3.Connection) -> None:
        """Copy the WAL into the file and truncate it to nothing, without waiting.

        Another connection in the middle of a read or a write keeps the WAL busy; then
        as much as can be is copied (PASSIVE) and the truncation is tried again after
        the next write, and at close. Never raises: the write itself is done.
        """
        # TRUNCATE waits on the busy handler for readers to finish: up to 30 s for a
        # client of another emulator on the same file. A delete should not wait on them.
        db.execute("PRAGMA busy_timeout = 0")
        try:
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.OperationalError:
            logger.debug("WAL checkpoint failed", exc_info=True)
            busy = 1
        finally:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        if busy:
            logger.debug("WAL in use by another connection: truncating it after the next write")
        self._erasure_pending = bool(busy)

    def _page(
        self,
        *,
        columns: str,
        source: str,
        where: str,
        args: Sequence[Any],
        alias: str,
        page: PageRequest,
        narrow: str = "",
        narrow_args: Sequence[Any] = (),
    ) -> tuple[list[sqlite3.Row], bool]:
        """One newest-first slice of a list, and whether more items lie beyond it.

        `columns`, `source`, `where`, `narrow` and `alias` are SQL constants of the caller,
        every value is a bound parameter, hence the S608 waivers. Rows are ordered by
        (`created_at`, `seq`); `seq` is the insertion order and breaks ties. `narrow` (an
        " AND …" clause, with `narrow_args`) filters the items but not the cursor lookup, so a
        cursor stays valid when its item leaves a filtered list (an import changing status).
        """
        key = f"({alias}.created_at, {alias}.seq)"
        order, bound = "DESC", ""
        bound_args: tuple[Any, ...] = ()
        with self._read() as db:
            cursor = page.after if page.after is not None else page.before
            if cursor is not None:
                param = "after" if page.after is not None else "before"
                found = db.execute(
                    f"SELECT {alias}.created_at, {alias}.seq FROM {source} "  # noqa: S608
                    f"WHERE {where} AND {alias}.id = ?",
                    (*args, cursor.lower()),
                ).fetchone()
                if found is None:
                    raise UnknownCursorError(param)
                bound_args = (found[0], found[1])
                # `before` wants the items just newer than the cursor: walk upwards from it.
                bound, order = (
                    (f" AND {key} < (?, ?)", "DESC")
                    if param == "after"
                    else (f" AND {key} > (?, ?)", "ASC")
                )
            # One row more than asked tells whether there are more; -1 means no limit.
            limit = -1 if page.limit is None else page.limit + 1
            rows = db.execute(
                f"SELECT {columns} FROM {source} WHERE {where}{narrow}{bound} "  # noqa: S608
                f"ORDER BY {alias}.created_at {order}, {alias}.seq {order} LIMIT ?",
                (*args, *narrow_args, *bound_args, limit),
            ).fetchall()
        has_more = page.limit is not None and len(rows) > page.limit
        rows = rows[: page.limit]
        return (rows if order == "DESC" else rows[::-1]), has_more
