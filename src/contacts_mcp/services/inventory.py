"""What the server keeps on this machine, kind by kind: the answer to "what do you hold?".

To search, change sets safely and resume long work, the server keeps copies of personal
data next to Resend. Each kind is listed with where it lives, how many files or rows it
has, its bytes, its oldest and newest entry, and the accounts it belongs to where the
data records one (an account is named by the server's id for it: a hash of its API key
and address, never the key). Reading never changes anything, and never opens a database
for writing: an inventory taken while jobs run disturbs none of them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from contacts_mcp.services import datafolder

__all__ = ["DataKind", "Inventory", "take_inventory"]


class DataKind(BaseModel):
    kind: str
    holds: str = Field(description="What it holds, and why it is kept.")
    where: str
    files: int
    rows: int | None = Field(default=None, description="Entries inside them, where countable.")
    unit: str | None = Field(default=None, description="What a row is (singular).")
    bytes: int
    oldest: float | None = Field(default=None, description="Unix time of the oldest entry.")
    newest: float | None = Field(default=None, description="Unix time of the newest entry.")
    accounts: list[str] = Field(
        default_factory=list[str], description="Account ids, where the data records them."
    )


class Inventory(BaseModel):
    data_folder: str
    kinds: list[DataKind]

    @property
    def total_bytes(self) -> int:
        return sum(kind.bytes for kind in self.kinds)


def take_inventory(
    data_folder: Path, *, audit_log: Path | None = None, local_db: Path | None = None
) -> Inventory:
    """Every kind of local data under `data_folder`, plus the audit log and the local
    account's database where they are kept elsewhere."""
    folder = data_folder
    snapshots = folder / "snapshots"
    snapshot_files = [
        p for p in datafolder.files(snapshots, "*.csv") if not datafolder.is_failures(p)
    ]
    failure_files = [p for p in datafolder.files(snapshots, "*.csv") if datafolder.is_failures(p)]
    failure_files += datafolder.files(folder / "imports", "*/failures.csv")
    kinds = [
        _mirrors(folder / "mirrors"),
        _offiles(
            "snapshots",
            "The last copy of deleted contacts, to import them back; what bulk updates, "
            "merges and imports changed or created, as it was before, for an undo.",
            snapshots,
            snapshot_files,
            rows=sum(_csv_rows(p) for p in snapshot_files),
            unit="contact",
        ),
        _offiles(
            "failure reports",
            "Contacts a bulk change or an import did not bring about, and why (emails).",
            folder,
            failure_files,
            rows=sum(_csv_rows(p) for p in failure_files),
            unit="contact",
        ),
        _imports(folder / "imports"),
        _jobs(folder / "jobs.sqlite"),
        _exports(folder / "written.sqlite"),
        _uploads(folder / "uploads"),
        _approvals(folder / "approvals.sqlite"),
    ]
    db = local_db if local_db is not None else folder / "contacts.db"
    if db.exists():
        kinds.append(
            _offiles(
                "local account",
                "The contacts of the local emulator account (--local): its Resend.",
                db,
                [db],
                rows=_count(db, "SELECT count(*) FROM contacts"),
                unit="contact",
            )
        )
    if audit_log is not None and audit_log.exists():
        kinds.append(
            _offiles(
                "audit log",
                "One line per write: when, who, which tool, its target (an email) and outcome.",
                audit_log,
                [audit_log],
                rows=_lines(audit_log),
                unit="line",
            )
        )
    return Inventory(data_folder=str(folder), kinds=kinds)


def _mirrors(folder: Path) -> DataKind:
    files = datafolder.files(folder, "*.sqlite")
    return _offiles(
        "mirror",
        "Each account's contacts, properties and segment memberships, for search and counts.",
        folder,
        files,
        rows=sum(_count(p, "SELECT count(*) FROM contacts") for p in files),
        unit="contact",
        accounts=[p.stem for p in files],
    )


def _imports(folder: Path) -> DataKind:
    journals = datafolder.files(folder, "*/journal.sqlite")
    summaries = datafolder.files(folder, "*/summary.json")
    return _offiles(
        "import journals",
        "Each import's rows done and contacts looked up (emails), to resume it; its summary.",
        folder,
        journals + summaries,
        # Rows done, and the existing contacts an import looked up: each names a person.
        rows=sum(
            _count(p, "SELECT (SELECT count(*) FROM done) + (SELECT count(*) FROM existing)")
            for p in journals
        ),
        unit="record",
    )


def _jobs(path: Path) -> DataKind:
    rows = _count(path, "SELECT count(*) FROM jobs")
    span = _fetch(path, "SELECT min(created), max(updated) FROM jobs")
    accounts = _fetch_all(path, "SELECT DISTINCT backend FROM jobs ORDER BY backend")
    kind = _offiles(
        "jobs",
        "Each job's arguments (contacts named), progress and result, to follow and resume it.",
        path,
        [path] if path.exists() else [],
        rows=rows,
        unit="job",
        accounts=[str(a) for (a,) in accounts],
    )
    if span and span[0] is not None:
        kind.oldest, kind.newest = float(span[0]), float(span[1])
    return kind


def _exports(path: Path) -> DataKind:
    """Exports (and snapshots) are recorded in the ledger of written files; exports live
    wherever the person asked, so the ledger says where."""
    found = _fetch_all(
        path, "SELECT path, written_at FROM written WHERE kind = 'export' ORDER BY written_at"
    )
    existing = [Path(str(p)) for p, _ in found if Path(str(p)).exists()]
    times = [float(t) for p, t in found if Path(str(p)).exists()]
    kind = _offiles(
        "exports",
        "CSV files of contacts written on request, in the folders the person named.",
        path,
        existing,
        rows=sum(_csv_rows(p) for p in existing),
        unit="contact",
    )
    kind.oldest, kind.newest = (min(times), max(times)) if times else (None, None)
    return kind


def _uploads(folder: Path) -> DataKind:
    files = datafolder.files(folder, "*.csv")
    return _offiles(
        "uploads",
        "CSV files sent from a person's machine for an import, until they expire.",
        folder,
        files,
        rows=sum(_csv_rows(p) for p in files),
        unit="line",
    )


def _approvals(path: Path) -> DataKind:
    return _offiles(
        "approvals",
        "What each review screen's approval would run (the contacts named), until it expires.",
        path,
        [path] if path.exists() else [],
        rows=_count(path, "SELECT count(*) FROM approvals"),
        unit="approval",
    )


def _offiles(
    kind: str,
    holds: str,
    where: Path,
    files: Iterable[Path],
    *,
    rows: int | None = None,
    unit: str | None = None,
    accounts: list[str] | None = None,
) -> DataKind:
    sizes: list[int] = []
    times: list[float] = []
    for path in files:
        with contextlib.suppress(OSError):
            found = path.stat()
            sizes.append(found.st_size + _sidecar_bytes(path))
            times.append(found.st_mtime)
    return DataKind(
        kind=kind,
        holds=holds,
        where=str(where),
        files=len(sizes),
        rows=rows,
        unit=unit,
        bytes=sum(sizes),
        oldest=min(times) if times else None,
        newest=max(times) if times else None,
        accounts=accounts or [],
    )


def _sidecar_bytes(path: Path) -> int:
    """A SQLite file's write-ahead log and shared memory: part of its data."""
    total = 0
    for part in datafolder.sidecars(path):
        with contextlib.suppress(OSError):
            total += part.stat().st_size
    return total


def _csv_rows(path: Path) -> int:
    """Lines after the header: rows, for the files this server writes (a value with a
    line break in it counts twice: an upper bound, never read whole into memory)."""
    return max(0, _lines(path) - 1)


def _lines(path: Path) -> int:
    count = 0
    with contextlib.suppress(OSError), path.open("rb") as handle:
        for _ in handle:
            count += 1
    return count


def _fetch_all(path: Path, query: str) -> list[tuple[Any, ...]]:
    db = datafolder.read_only(path)
    if db is None:
        return []
    try:
        return list(db.execute(query).fetchall())
    except sqlite3.Error:  # an older file without the table: nothing of this kind
        return []
    finally:
        db.close()


def _fetch(path: Path, query: str) -> tuple[Any, ...] | None:
    found = _fetch_all(path, query)
    return found[0] if found else None


def _count(path: Path, query: str) -> int:
    row = _fetch(path, query)
    return int(row[0]) if row and isinstance(row[0], int) else 0
