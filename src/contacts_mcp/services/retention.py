"""How long each kind of local data is kept, and its removal: by age, daily and at
startup, or on demand (`contacts-mcp data purge`).

Every kind has a retention period (`DEFAULT_DAYS`; `--retention kind=days,…` changes
them, `off` keeps a kind for good). Removal never touches what work in progress uses:
an import whose lock is held, a job still working (its row, and the upload it reads), a
mirror being synced. Those are skipped, and the report says so; the next run takes them.
Exports are the person's own files, in their folders: removed only when asked
(`--kind exports`), and only if still exactly as the server wrote them.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from contacts_mcp.services import datafolder, sharing
from contacts_mcp.services.sharing import write_transaction

__all__ = [
    "DEFAULT_DAYS",
    "KINDS",
    "PurgeReport",
    "Removed",
    "Retention",
    "purge",
]

# The kinds, in the order they are reported; `audit` is the audit log's rotated files.
KINDS = ("snapshots", "failures", "jobs", "imports", "uploads", "mirrors", "exports", "audit")
DEFAULT_DAYS: Mapping[str, float | None] = {
    "snapshots": 30,
    "failures": 14,
    "jobs": 14,
    "imports": 30,
    "uploads": 1,
    "mirrors": 90,  # of accounts not used for that long
    "exports": None,  # the person's files: removed only on request
    "audit": 365,  # rotated audit logs
}
DAY = 86400.0


@dataclass(frozen=True)
class Retention:
    """Days each kind is kept; None keeps it for good."""

    days: Mapping[str, float | None] = field(default_factory=lambda: dict(DEFAULT_DAYS))

    @classmethod
    def parse(cls, text: str) -> Retention:
        """`snapshots=30,jobs=7,exports=off` over the defaults; ValueError names the fault."""
        days = dict(DEFAULT_DAYS)
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            kind, _, value = item.partition("=")
            kind, value = kind.strip(), value.strip().lower()
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
            if value in ("off", "never", "forever"):
                days[kind] = None
                continue
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{kind}={value!r}: give days (e.g. 30) or off") from None
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"{kind}={value!r}: give a number of days, 0 or more")
            days[kind] = number
        return cls(days)

    def cutoffs(self, now: float) -> dict[str, float]:
        """Kind → the time before which its data goes (kinds kept for good left out)."""
        return {
            kind: now - float(days) * DAY
            for kind, days in self.days.items()
            if days is not None and kind in KINDS
        }


class Removed(BaseModel):
    kind: str
    files: int = 0
    rows: int = Field(default=0, description="Database rows removed (jobs, uploads).")
    bytes: int = 0
    skipped: list[str] = Field(default_factory=list[str], description="In use: kept, and why.")


class PurgeReport(BaseModel):
    removed: list[Removed]

    @property
    def anything(self) -> bool:
        return any(r.files or r.rows for r in self.removed)


def purge(
    folder: Path,
    cutoffs: Mapping[str, float],
    *,
    account: str | None = None,
    keep_accounts: frozenset[str] = frozenset(),
    audit_log: Path | None = None,
) -> PurgeReport:
    """Remove the data of each kind in `cutoffs` older than its cutoff (a Unix time;
    `math.inf` for all of it) from the data folder `folder`. `account` limits it to one
    account's data, for the kinds that record one (mirrors, jobs); `keep_accounts` are
    never removed by age (the running server's own mirror)."""
    report: list[Removed] = []
    # The files of a bulk run still working (its snapshot: the last copy of what it
    # deletes) are named by its nonce: never removed while it runs.
    jobs = datafolder.working_jobs(folder / "jobs.sqlite")
    working = [job.arguments for job in jobs]
    # (An undo names the run whose files it reads as `reads`; an import names its undo
    # journal by its job id.)
    running = _named(working, "nonce") | _named(working, "reads") | {job.id for job in jobs}
    for kind in KINDS:
        if kind not in cutoffs:
            continue
        cutoff = cutoffs[kind]
        done = Removed(kind=kind)
        if account is not None and kind not in ("mirrors", "jobs"):
            done.skipped.append("not recorded per account: left for a purge without --account")
        elif kind == "snapshots":
            for path in datafolder.files(folder / "snapshots", "*.csv"):
                if not datafolder.is_failures(path) and _older(path, cutoff):
                    _remove_run_file(path, running, done, folder)
        elif kind == "failures":
            for path in datafolder.files(folder / "snapshots", "*-failures.csv"):
                if _older(path, cutoff):
                    _remove_run_file(path, running, done, folder)
            for path in datafolder.files(folder / "imports", "*/failures.csv"):
                if _older(path, cutoff):
                    with sharing.if_free(folder / "imports" / f"{path.parent.name}.lock") as free:
                        if free:
                            _remove_file(path, done, folder)
                        else:
                            done.skipped.append(f"{path.parent.name}: an import is running")
        elif kind == "imports":
            _purge_imports(folder / "imports", cutoff, done)
        elif kind == "jobs":
            _purge_jobs(folder / "jobs.sqlite", cutoff, account, done)
        elif kind == "uploads":
            _purge_uploads(folder, cutoff, _named(working, "upload"), done)
        elif kind == "mirrors":
            _purge_mirrors(folder, cutoff, account, keep_accounts, done)
        elif kind == "exports":
            _purge_exports(folder / "written.sqlite", cutoff, done)
        elif kind == "audit" and audit_log is not None:
            for path in sorted(audit_log.parent.glob(f"{audit_log.name}.*")):
                if path.is_file() and _older(path, cutoff):
                    _remove_file(path, done, folder)
        report.append(done)
    return PurgeReport(removed=report)


def _named(jobs: list[dict[str, Any]], key: str) -> set[str]:
    """The `key` argument of each job that has one (a bulk run's nonce, an import's upload)."""
    return {str(job[key]) for job in jobs if isinstance(job.get(key), str) and job[key]}


def _remove_run_file(path: Path, running: set[str], done: Removed, folder: Path) -> None:
    if any(nonce in path.name for nonce in running):
        done.skipped.append(f"{path.name}: its bulk run is working")
        return
    _remove_file(path, done, folder)


def _purge_imports(folder: Path, cutoff: float, done: Removed) -> None:
    """Each import's folder (journal, summary, failure report) untouched since `cutoff`,
    unless its import runs now (its lock is held)."""
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir() or not _older_tree(entry, cutoff):
            continue
        lock = folder / f"{entry.name}.lock"
        with sharing.if_free(lock) as free:
            if not free:
                done.skipped.append(f"{entry.name}: an import is running")
                continue
            size, count = _tree_size(entry)
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                done.files += count
                done.bytes += size
        if not entry.exists():
            lock.unlink(missing_ok=True)


def _purge_jobs(path: Path, cutoff: float, account: str | None, done: Removed) -> None:
    """Ended jobs last changed before `cutoff`; a job still working is never removed."""
    db = _open(path)
    if db is None:
        return
    try:
        with write_transaction(db):
            done.rows += db.execute(
                "DELETE FROM jobs WHERE status != 'working' AND updated < ? "
                "AND (? IS NULL OR backend = ?)",
                (cutoff, account, account),
            ).rowcount
            working = db.execute(
                "SELECT count(*) FROM jobs WHERE status = 'working' AND updated < ?", (cutoff,)
            ).fetchone()[0]
        if working:
            done.skipped.append(f"{working} job(s) still working")
    except sqlite3.Error:
        pass  # no jobs table yet: nothing to remove
    finally:
        db.close()


def _purge_uploads(folder: Path, cutoff: float, in_use: set[str], done: Removed) -> None:
    """Uploads begun before `cutoff`, unless a working job reads one."""
    uploads = folder / "uploads"
    db = _open(uploads / "uploads.sqlite")
    if db is None:
        return
    try:
        with write_transaction(db):
            found = db.execute("SELECT id FROM uploads WHERE began < ?", (cutoff,))
            old = [str(row[0]) for row in found]
            for upload_id in old:
                if upload_id in in_use:
                    done.skipped.append(f"{upload_id}: a working import reads it")
                    continue
                db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
                done.rows += 1
                _remove_file(uploads / f"{upload_id}.csv", done, folder)
    except sqlite3.Error:
        pass
    finally:
        db.close()


def _purge_mirrors(
    folder: Path,
    cutoff: float,
    account: str | None,
    keep: frozenset[str],
    done: Removed,
) -> None:
    """The mirrors of accounts not used since `cutoff` (or `account`'s), unless a sync
    of it runs now (its lock is held)."""
    for path in datafolder.files(folder / "mirrors", "*.sqlite"):
        name = path.stem
        if account is not None and name != account:
            continue
        if (account is None and name in keep) or not _older_db(path, cutoff):
            continue
        with sharing.if_free(folder / "locks" / f"sync-{name}.lock") as free:
            if not free:
                done.skipped.append(f"{name}: its mirror is being synced")
                continue
            for part in (path, *datafolder.sidecars(path)):
                _remove_file(part, done, folder)


def _purge_exports(ledger: Path, cutoff: float, done: Removed) -> None:
    """Exports the server wrote before `cutoff`, where each still is exactly the file it
    wrote (same device, inode, size and time): a file the person changed or replaced is
    theirs, and stays."""
    db = _open(ledger)
    if db is None:
        return
    try:
        rows = db.execute(
            "SELECT path, dev, ino, size, mtime_ns FROM written "
            "WHERE kind = 'export' AND written_at < ?",
            (cutoff,),
        ).fetchall()
        for path, dev, ino, size, mtime_ns in rows:
            target = Path(str(path))
            try:
                found = target.stat()
            except OSError:
                db.execute("DELETE FROM written WHERE path = ?", (path,))
                continue
            same = (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns) == (
                dev,
                ino,
                size,
                mtime_ns,
            )
            if not same:
                done.skipped.append(f"{target.name}: changed since it was exported")
                continue
            _remove_file(target, done, None)
            db.execute("DELETE FROM written WHERE path = ?", (path,))
    except sqlite3.Error:
        pass
    finally:
        db.close()


def _remove_file(path: Path, done: Removed, folder: Path | None) -> None:
    try:
        size = path.stat().st_size
        path.unlink()
    except OSError:
        return
    done.files += 1
    done.bytes += size
    if folder is not None:
        _forget_written(folder / "written.sqlite", path)


def _forget_written(ledger: Path, path: Path) -> None:
    """The ledger's rows for a removed file: it is no longer published, nor served."""
    db = _open(ledger)
    if db is None:
        return
    try:
        with write_transaction(db):
            db.execute("DELETE FROM written WHERE path = ?", (str(path),))
            db.execute("DELETE FROM served WHERE path = ?", (str(path),))
    except sqlite3.Error:
        pass
    finally:
        db.close()


def _open(path: Path) -> sqlite3.Connection | None:
    if not path.is_file():
        return None
    try:
        return sqlite3.connect(path, timeout=5, isolation_level=None)
    except sqlite3.Error:
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -math.inf


def _older(path: Path, cutoff: float) -> bool:
    return _mtime(path) < cutoff


def _older_db(path: Path, cutoff: float) -> bool:
    """A database last written before `cutoff` (its write-ahead log counts)."""
    return max(_mtime(p) for p in (path, *datafolder.sidecars(path))) < cutoff


def _older_tree(folder: Path, cutoff: float) -> bool:
    """Every file in `folder` last written before `cutoff` (the folder's own time moves
    when a file in it is removed, as a failure report's expiry does: it does not count,
    unless the folder is empty)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return all(_mtime(p) < cutoff for p in files or [folder])


def _tree_size(folder: Path) -> tuple[int, int]:
    size = count = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file():
                size += path.stat().st_size
                count += 1
    return size, count
