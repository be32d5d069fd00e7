"""Reading the data folder's files as the inventory, the access request and retention do:
its files by pattern, which of them are failure reports, a SQLite file's companions, and
a database opened without ever creating or writing it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["files", "is_failures", "read_only", "sidecars"]


def files(folder: Path, pattern: str) -> list[Path]:
    """The regular files in `folder` matching `pattern`, sorted; none for no folder."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if p.is_file())


def is_failures(path: Path) -> bool:
    """A bulk run's failure report (`…-failures.csv`), beside its snapshot."""
    return path.stem.endswith("-failures")


def sidecars(path: Path) -> list[Path]:
    """A SQLite file's write-ahead log and shared memory: part of its data."""
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def read_only(path: Path) -> sqlite3.Connection | None:
    """`path` opened for reading only (never created), or None if it is not there."""
    if not path.is_file():
        return None
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
