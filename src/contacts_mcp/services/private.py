"""Files that hold personal data are this user's alone: folders 0700, files 0600.

The data folder keeps copies of contacts (the mirror, snapshots, journals, failure
reports, job results). A process's umask is usually 022, which makes new files readable
by every user of the machine; so each file is created with its mode given, and a folder
this server uses is tightened if an earlier version made it wider. SQLite makes a
database's `-wal` and `-shm` files with the database file's own mode, so creating the
database 0600 first covers them too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["FILE_MODE", "FOLDER_MODE", "private_file", "private_folder"]

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """`path` as a folder only this user can enter: made 0700 (with any missing parents
    below an existing folder), or tightened to 0700 if it exists wider and is ours."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=FOLDER_MODE)
    _tighten(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only this user can read: created empty with 0600 if missing (in a
    private folder), tightened to 0600 if it exists wider and is ours."""
    private_folder(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def _tighten(path: Path, mode: int) -> None:
    """Take away group and other access from `path`, if this user owns it (a folder
    someone else gave us, such as a shared mount, is left as its owner set it)."""
    getuid = getattr(os, "getuid", None)  # POSIX only; Windows has no such modes
    if getuid is None:
        return
    try:
        found = path.stat()
    except OSError:
        return
    if found.st_mode & 0o077 and found.st_uid == getuid():
        with contextlib.suppress(OSError):
            path.chmod(found.st_mode & 0o7777 & ~0o077 | (mode & 0o700))
