"""Files the server writes where others write too: exports in a person's import folder,
snapshots in its own data folder.

A file is written under a hidden, random name created new (`O_EXCL`) without following
a link (`O_NOFOLLOW`), mode 0600, inside a folder opened once: from then on its
descriptor is used, not its name, so a folder swapped for a link meanwhile is not
followed. Only a complete file gets its name: by a hard link that fails if the name is
taken (no replace), or by an atomic rename (replace). A link, pipe or file planted at any
name is never written through, a pipe never blocks, and a cancelled or failed write
leaves nothing.

`WrittenFiles` records every file published, so `overwrite` replaces only a file this
server wrote and nobody changed since. It also serves files to the caller they were
written for (exports, snapshots, failure reports), for clients that cannot reach this
disk: each under an unguessable id bound to that caller, read in pages of at most
`PAGE_BYTES`, and only while the file is still the one written.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from contacts_mcp.services import sharing
from contacts_mcp.services.explain import NothingFoundError, UserFacingError, show
from contacts_mcp.text.words import counted

__all__ = ["PAGE_BYTES", "FilePage", "Kind", "OutFile", "ServedFile", "WrittenFile", "WrittenFiles"]

Kind = Literal["export", "snapshot", "failures"]
# The most of a served file one read returns (UTF-8 bytes): well under what hosts take
# in one message. Pages end at a row's end (a row longer than a page is split).
PAGE_BYTES = 1024 * 1024
# A partial file of a crashed write older than this is removed by the next write of the
# same name (a younger one may be another process's write in progress).
_STALE_PARTIAL_SECONDS = 3600.0
_DIR_FDS = os.open in os.supports_dir_fd and os.link in os.supports_dir_fd
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
# Hard links unsupported (some network and FAT file systems): rename after a check.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}
# A served file is opened for reading without following a link, and without waiting on
# a pipe planted at its name.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_READ_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
# 128 random bits, URL-safe: an id is never a path, and cannot be guessed.
_ID_BYTES = 16
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_SCAN_BYTES = 1024 * 1024
_MARKS = re.compile(rb'["\n]')


@dataclass(frozen=True)
class WrittenFile:
    path: str
    kind: Kind
    rows: int
    written_at: float


@dataclass(frozen=True)
class ServedFile:
    """A file served to the caller it was written for, as it was then."""

    id: str
    caller: str
    kind: Kind
    path: str
    # Device, inode, size and modification time: the file as it was written.
    identity: tuple[int, int, int, int]
    # Where each page ends, in bytes: the first starts at 0, each next where one ended.
    ends: tuple[int, ...]
    served_at: float

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def size(self) -> int:
        return self.identity[2]

    @property
    def pages(self) -> int:
        return len(self.ends)

    def start(self, page: int) -> int:
        return 0 if page == 1 else self.ends[page - 2]


@dataclass(frozen=True)
class FilePage:
    file: ServedFile
    number: int
    text: str


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS written (path TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, rows INTEGER NOT NULL, written_at REAL NOT NULL)",
    # Added after the first release; beside `written` because a failure report is served
    # too, and one file may be served to its writer under several ids as it is rewritten.
    "CREATE TABLE IF NOT EXISTS served (id TEXT PRIMARY KEY, caller TEXT NOT NULL, "
    "kind TEXT NOT NULL, path TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL, "
    "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, page_ends TEXT NOT NULL, "
    "served_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS served_by_path ON served (path, caller)",
)


class WrittenFiles:
    """The files this server published (exports, snapshots), with the identity each had
    then: device, inode, size and modification time; and the files it serves, by id.
    One SQLite file shared by every process on the same data folder (or in memory)."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._db = sharing.connect(":memory:" if path is None else path)
        # In one write transaction: two servers opening an old ledger at once create
        # each table once.
        with sharing.write_transaction(self._db):
            for statement in _SCHEMA:
                self._db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, path: Path, kind: Kind, rows: int) -> None:
        info = os.lstat(path)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO written VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (str(path), kind, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                 rows, time.time()),
            )  # fmt: skip

    def owns(self, path: Path) -> bool:
        """Whether `path` is a regular file this server wrote, unchanged since."""
        try:
            info = os.lstat(path)
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode):
            return False
        with self._lock:
            row = self._db.execute(
                "SELECT dev, ino, size, mtime_ns FROM written WHERE path = ?", (str(path),)
            ).fetchone()
        return bool(row == (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns))

    def entries(self) -> list[WrittenFile]:
        with self._lock:
            rows = self._db.execute(
                "SELECT path, kind, rows, written_at FROM written ORDER BY written_at"
            ).fetchall()
        return [WrittenFile(str(p), k, int(r), float(at)) for p, k, r, at in rows]

    # -- serving files to their caller ------------------------------------------------

    def serve(self, path: Path, caller: str, kind: Kind) -> ServedFile | None:
        """The file at `path` served to `caller`: under the id it got when first served
        as it is now, else under a new one. None when it is not there, not a regular
        file, or no longer the file this server published there (`record`)."""
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError:
            return None
        try:
            identity = _identity(os.fstat(fd))
            if identity is None:
                return None
            with self._lock:
                published = self._db.execute(_PUBLISHED, (str(path),)).fetchone()
                found = self._db.execute(_SERVED_AS, (str(path), caller, *identity)).fetchone()
            if found is not None:
                return _served(found)
            if published is not None and tuple(published) != identity:
                return None
            ends = _page_ends(fd, identity[2])
            if _identity(os.fstat(fd)) != identity:
                return None  # changed while it was read
        finally:
            os.close(fd)
        served = ServedFile(
            secrets.token_urlsafe(_ID_BYTES), caller, kind, str(path), identity, ends, time.time()
        )
        with self._lock, sharing.write_transaction(self._db):
            # Another process may have served it meanwhile: one id for one file.
            found = self._db.execute(_SERVED_AS, (str(path), caller, *identity)).fetchone()
            if found is not None:
                return _served(found)
            self._db.execute(
                "INSERT INTO served (id, caller, kind, path, dev, ino, size, mtime_ns, "
                "page_ends, served_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (served.id, caller, kind, served.path, *identity, json.dumps(ends),
                 served.served_at),
            )  # fmt: skip
        return served

    def served(self, file_id: str, caller: str) -> ServedFile:
        """The file served to `caller` as `file_id`. Refused alike when there is none and
        when it is another caller's: nobody learns that someone else's file exists."""
        row = None
        if _ID.fullmatch(file_id):
            with self._lock:
                row = self._db.execute(_SERVED_BY_ID, (file_id, caller)).fetchone()
        if row is None:
            # The same words for every id: they tell nothing of whose it might be.
            raise NothingFoundError(
                "No such file was written for you. Read the resource_link of the result "
                "that wrote it (export_contacts, delete_contacts, update_contacts, "
                "import_contacts, or get_job with their job_id)."
            )
        return _served(row)

    def page(self, file_id: str, caller: str, number: int) -> FilePage:
        """Page `number` (from 1) of the file served to `caller` as `file_id`, while the
        file on disk is still the one served."""
        served = self.served(file_id, caller)
        if not 1 <= number <= served.pages:
            raise NothingFoundError(
                f"{show(served.name)} has {counted(served.pages, 'page')}: read page 1 to "
                f"{served.pages}."
            )
        try:
            fd = os.open(served.path, _READ_FLAGS)
        except FileNotFoundError:
            raise UserFacingError(
                f"{show(served.name)} was deleted from the server after it was written: "
                f"there is nothing to read. {_AGAIN[served.kind]}"
            ) from None
        except OSError:  # a link planted at its name (ELOOP), or no longer readable
            fd = -1
        try:
            if fd < 0 or _identity(os.fstat(fd)) != served.identity:
                raise UserFacingError(
                    f"{show(served.name)} was changed on the server after it was written, so "
                    f"it is not served: it may not be what this server wrote. "
                    f"{_AGAIN[served.kind]}"
                )
            start = served.start(number)
            data = _read_at(fd, start, served.ends[number - 1] - start)
        finally:
            if fd >= 0:
                os.close(fd)
        try:
            # Pages end between characters (`_page_ends`), and this server writes UTF-8.
            return FilePage(served, number, data.decode("utf-8"))
        except UnicodeDecodeError:
            raise UserFacingError(
                f"{show(served.name)} is not UTF-8 text, so it is not served. {_AGAIN[served.kind]}"
            ) from None


_PUBLISHED = "SELECT dev, ino, size, mtime_ns FROM written WHERE path = ?"
_SERVED_BY_ID = (
    "SELECT id, caller, kind, path, dev, ino, size, mtime_ns, page_ends, served_at "
    "FROM served WHERE id = ? AND caller = ?"
)
_SERVED_AS = (
    "SELECT id, caller, kind, path, dev, ino, size, mtime_ns, page_ends, served_at "
    "FROM served WHERE path = ? AND caller = ? AND dev = ? AND ino = ? AND size = ? "
    "AND mtime_ns = ?"
)
# What to do when a served file is gone or changed, by its kind.
_AGAIN: dict[str, str] = {
    "export": "Export again with export_contacts.",
    "snapshot": (
        "A snapshot is written once, as its contacts are deleted: ask whoever runs the "
        "server for a backup of its data folder."
    ),
    "failures": "Run the job again for a new report.",
}


def _served(row: sqlite3.Row | tuple[Any, ...]) -> ServedFile:
    file_id, caller, kind, path, dev, ino, size, mtime_ns, ends, at = row
    return ServedFile(
        id=str(file_id),
        caller=str(caller),
        kind=kind,
        path=str(path),
        identity=(int(dev), int(ino), int(size), int(mtime_ns)),
        ends=tuple(int(end) for end in json.loads(ends)),
        served_at=float(at),
    )


def _identity(info: os.stat_result) -> tuple[int, int, int, int] | None:
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _read_at(fd: int, start: int, length: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        part = os.pread(fd, length, start)
        if not part:
            break
        parts.append(part)
        start += len(part)
        length -= len(part)
    return b"".join(parts)


def _page_ends(fd: int, size: int, cap: int = PAGE_BYTES) -> tuple[int, ...]:
    """Where each page of a CSV file ends: each holds as many whole rows as fit in `cap`
    bytes (a newline inside a quoted value does not end a row). A row longer than `cap`
    is cut between two UTF-8 characters."""
    ends: list[int] = []
    start = last = 0  # the page's start; the end of its last whole row so far

    def row_ends_at(end: int) -> None:
        nonlocal start, last
        if end - start > cap and last > start:
            ends.append(last)
            start = last
        while end - start > cap:
            cut = _between_characters(fd, start + cap, start)
            ends.append(cut)
            start = cut
        last = end

    quoted, offset = False, 0
    while offset < size:
        chunk = os.pread(fd, min(_SCAN_BYTES, size - offset), offset)
        if not chunk:
            break
        for mark in _MARKS.finditer(chunk):
            if mark.group() == b'"':
                quoted = not quoted  # an escaped quote ("") flips twice
            elif not quoted:
                row_ends_at(offset + mark.end())
        offset += len(chunk)
    if last < size:  # the last row, without a line break
        row_ends_at(size)
    if last > start or not ends:
        ends.append(last)
    return tuple(ends)


def _between_characters(fd: int, at: int, start: int) -> int:
    """`at`, or the nearest offset before it (after `start`) that begins a UTF-8
    character: a continuation byte (10xxxxxx) never begins a page."""
    while at > start + 1 and (os.pread(fd, 1, at) or b"\0")[0] & 0xC0 == 0x80:
        at -= 1
    return at


class OutFile:
    """One file written safely (see the module doc): `text()` to write it, then
    `publish()` to give it its name, or `abandon()`."""

    def __init__(
        self,
        target: Path,
        *,
        kind: Kind,
        replace: bool,
        written: WrittenFiles | None,
    ) -> None:
        self.target = target
        self._kind = kind
        self._replace = replace
        self._written = written
        self._name = target.name
        self._temp = f".{target.name}.{secrets.token_hex(8)}.partial"
        self._dir_fd: int | None = None
        self._out: TextIO | None = None
        folder = str(target.parent)
        if _DIR_FDS:
            self._dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._check_folder(folder)
            self._remove_stale_partials()
            fd = os.open(self._in_folder(self._temp), _FLAGS, 0o600, **self._at())
            self._out = io.TextIOWrapper(
                io.FileIO(fd, "w"), encoding="utf-8", newline="", write_through=False
            )
        except BaseException:
            self._close_folder()
            raise

    def text(self) -> TextIO:
        assert self._out is not None, "written after publish or abandon"
        return self._out

    def publish(self, rows: int) -> None:
        """Give the complete file its name; refused (and nothing left) if the name was
        taken meanwhile, or, with replace, holds a file this server did not write."""
        assert self._out is not None, "published twice"
        self._out.close()
        self._out = None
        try:
            if self._replace:
                if self._taken() and (self._written is None or not self._written.owns(self.target)):
                    raise UserFacingError(
                        f"{self.target} changed since it was checked, or was not written by "
                        "an export of this server; nothing was replaced. Choose another name."
                    )
                os.replace(self._in_folder(self._temp), self._in_folder(self._name), **self._at2())
            else:
                self._link_new()
            if self._written is not None:
                self._written.record(self.target, self._kind, rows)
        except BaseException:
            self._unlink_temp()
            raise
        finally:
            self._close_folder()

    def abandon(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        self._unlink_temp()
        self._close_folder()

    # -- the folder, by descriptor where the platform allows -----------------------------

    def _in_folder(self, name: str) -> str:
        return name if self._dir_fd is not None else str(self.target.parent / name)

    def _at(self) -> dict[str, int]:
        return {} if self._dir_fd is None else {"dir_fd": self._dir_fd}

    def _at2(self) -> dict[str, int]:
        if self._dir_fd is None:
            return {}
        return {"src_dir_fd": self._dir_fd, "dst_dir_fd": self._dir_fd}

    def _check_folder(self, folder: str) -> None:
        # The descriptor, not the name, decides: a folder swapped for a link between the
        # caller's check and this open shows up here (Linux).
        opened = f"/proc/self/fd/{self._dir_fd}"
        if (
            self._dir_fd is not None
            and os.path.exists(opened)
            and os.path.realpath(opened) != os.path.realpath(folder)
        ):
            raise UserFacingError(
                f"The folder {folder} changed while the file was being created; nothing "
                "was written. Try again."
            )

    def _taken(self) -> bool:
        try:
            os.stat(self._in_folder(self._name), follow_symlinks=False, **self._at())
        except FileNotFoundError:
            return False
        return True

    def _link_new(self) -> None:
        exists = UserFacingError(
            f"{self.target} exists now; nothing was replaced. Choose another name."
        )
        try:
            os.link(
                self._in_folder(self._temp),
                self._in_folder(self._name),
                follow_symlinks=False,
                **self._at2(),
            )
        except FileExistsError:
            raise exists from None
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            if self._taken():
                raise exists from None
            os.replace(self._in_folder(self._temp), self._in_folder(self._name), **self._at2())
            return
        self._unlink_temp()

    def _unlink_temp(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._in_folder(self._temp), **self._at())

    def _remove_stale_partials(self) -> None:
        prefix, now = f".{self._name}.", time.time()
        with os.scandir(self._dir_fd if self._dir_fd is not None else self.target.parent) as found:
            for entry in found:
                if not (entry.name.startswith(prefix) and entry.name.endswith(".partial")):
                    continue
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if now - info.st_mtime > _STALE_PARTIAL_SECONDS:
                        os.unlink(self._in_folder(entry.name), **self._at())

    def _close_folder(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
