"""SQLite files shared by every server process on one data folder, and a lock across them.

Each host window (Claude Desktop, Claude Code, ...) starts a server of its own, and all of
them use the same data folder: the mirrors, the job journal, the import journals, the
record of written files. SQLite lets several processes use one file; what it needs from
them is in `connect` (write-ahead log, a busy timeout) and in how transactions begin: one
that reads and then writes must start with `BEGIN IMMEDIATE`. A deferred transaction that
read first cannot wait for the write lock: SQLite fails it at once with "database is
locked" rather than risk a deadlock, whatever the busy timeout.

`FolderLock` serialises work that spans more than one transaction (checking that a contact
does not exist and then creating it; a full sync staged page by page) across those
processes, and across the tasks of this one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import anyio.lowlevel

from contacts_mcp.services.private import private_file

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "FolderLock",
    "FolderLockTimeout",
    "connect",
    "held",
    "if_free",
    "lock_beside",
    "write_transaction",
]

# How long a statement waits for another process's write transaction to end. The longest
# is a big mirror's swap at the end of a full sync (about a second per 100,000 contacts);
# the others last milliseconds. 30 s rides any of them out on a loaded machine and still
# fails (rather than hangs) well before a host's 60 s limit for a tool call.
BUSY_TIMEOUT_SECONDS = 30.0
# Each try at a `FolderLock` waits this long inside SQLite, then the task looks again
# whether it was cancelled or its wait is over.
_LOCK_TRY_SECONDS = 0.25


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection to a SQLite file other server processes may use at the same time
    (":memory:" for one that is this process's alone).

    Autocommit (`isolation_level=None`): callers begin their own transactions. Usable from
    worker threads; callers serialise their use of it.
    """
    in_memory = str(path) == ":memory:"
    if not in_memory:
        private_file(Path(path))  # personal data: this user's alone (-wal, -shm follow)
    db = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    if not in_memory:
        # Readers never wait for a writer, nor a writer for readers; writers take turns.
        _use_wal(db)
    return db


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode, once. Switching modes needs the file to itself, and
    SQLite answers "database is locked" at once, not after the busy timeout, while
    another process holds it (opening the same new file, or writing): so the mode is
    read first (it stays WAL once set), and a switch is tried again until the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction on a shared file that may read before it writes: `BEGIN IMMEDIATE`
    (it waits for the write lock rather than fail later), rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def lock_beside(path: Path) -> Path:
    """The lock file every writer of the shared file `path` holds (the audit log's):
    hidden, so that a pattern for the file's rotated copies (`<name>.*`) never names it."""
    return path.with_name(f".{path.name}.lock")


@contextmanager
def held(lock: Path, *, wait: float = BUSY_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the lock file `lock` in this block, from a thread that may block (the
    synchronous `FolderLock`: an open `BEGIN IMMEDIATE`, dropped by the operating system
    if the process dies). `FolderLockTimeout` if it is not free within `wait` seconds."""
    private_file(lock)
    db = sqlite3.connect(lock, timeout=wait, isolation_level=None)
    try:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            raise FolderLockTimeout from None
        try:
            yield
        finally:
            db.execute("ROLLBACK")
    finally:
        db.close()


@contextmanager
def if_free(lock: Path) -> Iterator[bool]:
    """Whether the lock file `lock` is free now (never waiting); if so it is held for the
    block, so that no work starts on what the block changes. A lock file not there yet
    is free (and not created)."""
    if not lock.exists():
        yield True
        return
    try:
        with held(lock, wait=0):
            yield True
            return
    except (FolderLockTimeout, sqlite3.Error):
        pass
    yield False


class FolderLockTimeout(Exception):  # noqa: N818 - reads as the condition it is
    """A `FolderLock` was not free within the wait given."""


class FolderLock:
    """A lock held by one task of one process at a time, among every server process on
    the same data folder (`path` None: among this process's tasks only).

    It is an open `BEGIN IMMEDIATE` on a file nothing is written to: SQLite's file locks
    work the same on Linux, macOS and Windows, and the operating system drops them when
    their process ends, even killed, so a crashed holder never leaves it locked.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._here = anyio.Lock()
        self._db: sqlite3.Connection | None = None

    @asynccontextmanager
    async def held(
        self,
        *,
        wait: float | None = None,
        on_wait: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[None]:
        """Hold the lock in this block; `FolderLockTimeout` if it is not free within
        `wait` seconds (None: wait as long as it takes). `on_wait` is called once if the
        lock is not free at once (to tell whoever waits on the caller)."""
        deadline = None if wait is None else anyio.current_time() + wait
        try:
            self._here.acquire_nowait()  # a free lock is taken even with no time to wait
        except anyio.WouldBlock:
            if on_wait is not None:
                await on_wait()
                on_wait = None
            with anyio.move_on_after(wait) as waiting:
                await self._here.acquire()
            if waiting.cancelled_caught:
                raise FolderLockTimeout from None
        try:
            if self._path is not None:
                await self._acquire(deadline, on_wait)
            try:
                yield
            finally:
                if self._path is not None:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(self._release)
        finally:
            self._here.release()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _acquire(
        self, deadline: float | None, on_wait: Callable[[], Awaitable[None]] | None
    ) -> None:
        while True:
            # Shielded: a task cancelled while its try succeeds must still release.
            with anyio.CancelScope(shield=True):
                if await anyio.to_thread.run_sync(self._try):
                    return
            if deadline is not None and anyio.current_time() >= deadline:
                raise FolderLockTimeout
            if on_wait is not None:
                await on_wait()
                on_wait = None
            await anyio.lowlevel.checkpoint()

    def _try(self) -> bool:
        if self._db is None:
            assert self._path is not None
            private_file(self._path)
            self._db = sqlite3.connect(
                self._path,
                timeout=_LOCK_TRY_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return False
            raise
        return True

    def _release(self) -> None:
        assert self._db is not None
        self._db.execute("ROLLBACK")
