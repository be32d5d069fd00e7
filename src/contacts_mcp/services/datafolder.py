"""Reading the data folder's files as the inventory, the access request and retention do:
its files by pattern, which of them are failure reports, a SQLite file's companions, a
database opened without ever creating or writing it, and the jobs working now."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "WorkingJob",
    "files",
    "is_failures",
    "read_only",
    "run_file_kind",
    "sidecars",
    "working_jobs",
]


def files(folder: Path, pattern: str) -> list[Path]:
    """The regular files in `folder` matching `pattern`, sorted; none for no folder."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if p.is_file())


def is_failures(path: Path) -> bool:
    """A bulk run's failure report (`…-failures.csv`), beside its snapshot."""
    return path.stem.endswith("-failures")


def run_file_kind(path: Path) -> str:
    """What a CSV of the snapshots folder is, in words: a bulk run's failure report, its
    undo journal (`…-before.csv`, `services.before_state`), or a snapshot of contacts."""
    if is_failures(path):
        return "failure report"
    return "undo journal" if path.stem.endswith("-before") else "snapshot"


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


class WorkingJob(NamedTuple):
    id: str
    kind: str
    arguments: dict[str, Any]


def working_jobs(journal: Path) -> list[WorkingJob]:
    """Every job still working in the job journal `journal`, with its arguments: what
    they name (a bulk run's nonce, an import's upload) is in use."""
    db = read_only(journal)
    if db is None:
        return []
    try:
        rows = db.execute(
            "SELECT id, kind, arguments FROM jobs WHERE status = 'working'"
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()
    found: list[WorkingJob] = []
    for job_id, kind, arguments in rows:
        with contextlib.suppress(ValueError, TypeError):
            decoded = json.loads(arguments)
            if isinstance(decoded, dict):
                found.append(WorkingJob(str(job_id), str(kind), decoded))  # pyright: ignore[reportUnknownArgumentType]
    return found
