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
server wrote and nobody changed since.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from contacts_mcp.services import sharing
from contacts_mcp.services.explain import UserFacingError

__all__ = ["OutFile", "WrittenFile", "WrittenFiles"]

Kind = Literal["export", "snapshot"]
# A partial file of a crashed write older than this is removed by the next write of the
# same name (a younger one may be another process's write in progress).
_STALE_PARTIAL_SECONDS = 3600.0
_DIR_FDS = os.open in os.supports_dir_fd and os.link in os.supports_dir_fd
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
# Hard links unsupported (some network and FAT file systems): rename after a check.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


@dataclass(frozen=True)
class WrittenFile:
    path: str
    kind: Kind
    rows: int
    written_at: float


class WrittenFiles:
    """The files this server published (exports, snapshots), with the identity each had
    then: device, inode, size and modification time. One SQLite file shared by every
    process on the same data folder (or in memory)."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._db = sharing.connect(":memory:" if path is None else path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS written (path TEXT PRIMARY KEY, kind TEXT NOT NULL, "
            "dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, "
            "mtime_ns INTEGER NOT NULL, rows INTEGER NOT NULL, written_at REAL NOT NULL)"
        )

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
