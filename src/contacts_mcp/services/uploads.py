"""CSV files a person sends the server from their own machine (the import screen's file
picker), for an import to read: remote users have no file on the server's disk.

An upload arrives in chunks, each at the offset the server holds so far (so a chunk sent
twice is refused rather than written twice), and is finished once whole. It belongs to
the caller who began it: another caller can neither add to it nor import it. Files live
in the data folder (`uploads/`, 0600 in 0700), under the same size cap as any import
file, and are removed `KEEP_SECONDS` after they were begun.
"""

from __future__ import annotations

import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from contacts_mcp.services import sharing
from contacts_mcp.services.explain import NothingFoundError, UserFacingError

__all__ = ["KEEP_SECONDS", "Upload", "Uploads"]

KEEP_SECONDS = 24 * 3600
_ID_PREFIX = "up_"
_FLAGS = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_FLAGS |= getattr(os, "O_BINARY", 0)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    caller TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    began REAL NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class Upload:
    id: str
    name: str
    size: int
    finished: bool
    expires: float


class Uploads:
    """The uploads of one data folder, shared by every server process on it."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self._folder = folder
        self._max_bytes = max_bytes
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sharing.connect(folder / "uploads.sqlite")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def begin(self, caller: str, name: str) -> Upload:
        """A new, empty upload of a file called `name`, for `caller`."""
        self.expire()
        upload_id = _ID_PREFIX + secrets.token_urlsafe(18)
        fd = os.open(self._file(upload_id), _FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        began = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO uploads (id, caller, name, size, began) VALUES (?, ?, ?, 0, ?)",
                (upload_id, caller, name, began),
            )
        return Upload(upload_id, name, 0, False, began + KEEP_SECONDS)

    def append(self, upload_id: str, caller: str, offset: int, data: bytes) -> Upload:
        """Add `data` at `offset`, which must be the size held so far."""
        with self._lock, sharing.write_transaction(self._db):
            found = self._row(upload_id, caller)
            if found.finished:
                raise UserFacingError(
                    "That upload is finished: begin a new one to send another file."
                )
            if offset != found.size:
                raise UserFacingError(
                    f"That chunk starts at byte {offset:,}, but the server holds "
                    f"{found.size:,} bytes of the upload: send from byte {found.size:,}."
                )
            if found.size + len(data) > self._max_bytes:
                raise UserFacingError(
                    f"The file is over the import cap of {self._max_bytes // 2**20} MB: "
                    "split it, or import it where the server can read it."
                )
            fd = os.open(self._file(upload_id), _FLAGS)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise UserFacingError("That upload's file is gone: begin a new upload.")
                os.write(fd, data)
            finally:
                os.close(fd)
            size = found.size + len(data)
            self._db.execute("UPDATE uploads SET size = ? WHERE id = ?", (size, upload_id))
        return Upload(upload_id, found.name, size, False, found.expires)

    def finish(self, upload_id: str, caller: str) -> Upload:
        """Mark the upload whole: from now on an import may read it, and nothing more
        may be added."""
        with self._lock, sharing.write_transaction(self._db):
            found = self._row(upload_id, caller)
            self._db.execute("UPDATE uploads SET finished = 1 WHERE id = ?", (upload_id,))
        return Upload(upload_id, found.name, found.size, True, found.expires)

    def path_of(self, upload_id: str, caller: str) -> Path:
        """The file of a finished upload of `caller`'s, for an import to read."""
        with self._lock:
            found = self._row(upload_id, caller)
        if not found.finished:
            raise UserFacingError(
                f"Upload {upload_id} is not finished yet: send its last chunk with done=true."
            )
        return self._file(upload_id)

    def expire(self, now: float | None = None) -> int:
        """Remove uploads begun over `KEEP_SECONDS` ago; how many."""
        cutoff = (now or time.time()) - KEEP_SECONDS
        with self._lock, sharing.write_transaction(self._db):
            old = [
                str(row[0])
                for row in self._db.execute("SELECT id FROM uploads WHERE began < ?", (cutoff,))
            ]
            self._db.execute("DELETE FROM uploads WHERE began < ?", (cutoff,))
        for upload_id in old:
            self._file(upload_id).unlink(missing_ok=True)
        return len(old)

    def _row(self, upload_id: str, caller: str) -> Upload:
        row = self._db.execute(
            "SELECT name, size, finished, began, caller FROM uploads WHERE id = ?",
            (upload_id,),
        ).fetchone()
        # Another caller's upload is told apart from none at all to nobody.
        if row is None or row[4] != caller or float(row[3]) + KEEP_SECONDS < time.time():
            raise NothingFoundError(
                f"No upload {upload_id[:40]!r} of yours: uploads are kept for "
                f"{KEEP_SECONDS // 3600} hours. Send the file again."
            )
        return Upload(
            upload_id, str(row[0]), int(row[1]), bool(row[2]), float(row[3]) + KEEP_SECONDS
        )

    def _file(self, upload_id: str) -> Path:
        if (
            not upload_id.startswith(_ID_PREFIX)
            or not upload_id[3:].replace("-", "").replace("_", "").isalnum()
        ):
            raise NothingFoundError(f"No upload {upload_id[:40]!r}: send the file again.")
        return self._folder / f"{upload_id}.csv"
