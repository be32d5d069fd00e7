"""A person's "forget me" (GDPR art. 17 and its like), on this machine: every local copy
that holds their address, found, and removed or rewritten without them.

The places are those the access request reads (`services.personal`): the mirror, the
snapshots and failure reports, the import journals and summaries, the exports the
server wrote, the uploads, the jobs, the pending approvals and the audit log. Each is
scanned for a set of addresses at once (a preview counts, a run removes):

- a CSV row with a cell that is the address is removed, the rest of the file kept byte
  for byte; an address inside another cell (a note naming them) is replaced;
- a mirror row goes, with its property values and memberships; an import journal's row
  keeps its place (a resumed import must not do it again) with the address replaced;
- in JSON (jobs, summaries, approvals), a record naming the address (an object with it
  as a value, or a CSV line in a string) is replaced by the person's reference, and the
  address anywhere else too;
- an audit line keeps its place and outcome, with the address replaced by the person's
  reference: a keyed hash (`Confirmations.person_digest`), so the log still accounts
  for what was done without saying to whom.

SQLite keeps deleted content in free pages and in its write-ahead log: a database that
held the address is vacuumed and its log truncated after the change. Files are rewritten
beside themselves and renamed over (0600), so a crash leaves the old file or the new one.
What another process uses now (a working job, a running import) is never changed: the
person is reported as blocked there, and nothing of theirs is removed until it ends.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio
from pydantic import BaseModel, Field

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import NotFoundError, ResendError
from contacts_mcp.services import datafolder, sharing
from contacts_mcp.services.explain import UserFacingError, explain
from contacts_mcp.services.jobs import Progress, utc_iso
from contacts_mcp.services.private import private_file
from contacts_mcp.services.sets import patiently
from contacts_mcp.text.cells import cell_address

__all__ = [
    "NOT_COVERED",
    "Erased",
    "ForgetOutcome",
    "Matcher",
    "PersonReceipt",
    "Places",
    "blockers",
    "erase_local",
    "forget",
    "normalized",
]

logger = logging.getLogger(__name__)

# Up to this many addresses, a line is first searched for each as plain text.
_FEW = 16
# Anything shaped like an address: a run of the characters an address has, around an
# `@`. Each one found is looked up among the addresses sought; one inside a longer
# address (`xada@…`, `…@example.com.au`) is that longer address, and never matches.
_ADDRESS_LIKE = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*")


def normalized(email: str) -> str:
    """An address as every place is matched with it: trimmed, in lower case (Resend
    treats addresses without regard to case)."""
    return email.strip().lower()


class Erased(BaseModel):
    """One place that held a person: what was (or, in a preview, would be) removed."""

    kind: str = Field(description="mirror, snapshot, export, failure report, upload, ….")
    where: str = Field(description="The file (or database).")
    account: str | None = Field(default=None, description="The account id, where recorded.")
    records: int = Field(description="Records about the person removed or rewritten.")


@dataclass
class Places:
    """What a scan found, by address: the places, and where something stopped it."""

    found: dict[str, list[Erased]] = field(default_factory=dict[str, list[Erased]])
    # Places left alone for an address, and why (in use, changed by the person, …).
    kept: dict[str, list[str]] = field(default_factory=dict[str, list[str]])
    # Other accounts' mirrors holding an address: the contact is still at Resend there.
    other_accounts: dict[str, list[str]] = field(default_factory=dict[str, list[str]])

    def add(self, kind: str, where: Path, counts: Counter[str], account: str | None = None) -> None:
        for address, records in counts.items():
            if records:
                self.found.setdefault(address, []).append(
                    Erased(kind=kind, where=str(where), account=account, records=records)
                )

    def keep(self, addresses: Iterable[str], why: str) -> None:
        for address in addresses:
            self.kept.setdefault(address, []).append(why)


class Matcher:
    """Finds a set of addresses in cells, text and JSON, and puts each one's reference
    in its place."""

    def __init__(self, refs: Mapping[str, str]) -> None:
        # Normalized address → its reference (the keyed hash the audit log uses).
        self.refs = {normalized(address): ref for address, ref in refs.items()}

    def _may_hold(self, value: str) -> bool:
        """A quick look first: for a few addresses, whether one is in `value` at all (the
        address-shaped runs are then found only where one is; most lines hold none)."""
        if len(self.refs) > _FEW:
            return True
        lowered = value.lower()
        return any(address in lowered for address in self.refs)

    def cell(self, cell: str) -> str | None:
        """The address a CSV cell is (as a spreadsheet-safe cell may write it, `'`
        first), if it is one of ours."""
        found = cell_address(cell)
        return found if found in self.refs else None

    def text(self, value: str, counts: Counter[str]) -> str:
        """`value` with each of our addresses in it replaced by its reference."""
        if "@" not in value or not self._may_hold(value):
            return value

        def swap(match: re.Match[str]) -> str:
            address = match.group(0).lower()
            ref = self.refs.get(address)
            if ref is None:
                return match.group(0)
            counts[address] += 1
            return ref

        return _ADDRESS_LIKE.sub(swap, value)

    def mentions(self, value: str) -> set[str]:
        """Our addresses named in `value`."""
        if "@" not in value or not self._may_hold(value):
            return set()
        found = (m.group(0).lower() for m in _ADDRESS_LIKE.finditer(value))
        return {address for address in found if address in self.refs}

    def json(self, value: Any, counts: Counter[str], *, top: bool = True) -> Any:
        """`value` (decoded JSON) without our addresses: an object that has one as a
        value (a contact's record, with its name and properties) is replaced by the
        reference as a whole, below the top; a string holding CSV lines loses the lines
        that name one; any other mention is replaced by the reference."""
        if isinstance(value, str):
            if "\n" in value and "@" in value:
                return self._csv_text(value, counts)
            return self.text(value, counts)
        if isinstance(value, list):
            return [self.json(item, counts, top=False) for item in value]  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, dict):
            record: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
            if not top:
                named = [self.cell(v) for v in record.values() if isinstance(v, str)]
                address = next((a for a in named if a is not None), None)
                if address is not None:
                    counts[address] += 1
                    return self.refs[address]
            return {
                self.text(str(key), counts): self.json(item, counts, top=False)
                for key, item in record.items()
            }
        return value

    def _csv_text(self, value: str, counts: Counter[str]) -> str:
        kept: list[str] = []
        for raw, row in _records(value.splitlines(keepends=True)):
            address = next((a for a in map(self.cell, row) if a is not None), None)
            if address is not None:
                counts[address] += 1
                continue
            kept.append(self.text("".join(raw), counts))
        return "".join(kept)


# -- the scan -----------------------------------------------------------------------


def erase_local(
    folder: Path,
    matcher: Matcher,
    *,
    apply: bool,
    account: str,
    mirror: AccountMirror | None = None,
    audit_log: Path | None = None,
    own_nonce: str | None = None,
    only: frozenset[str] | None = None,
) -> Places:
    """Each local copy under the data folder `folder` (and the audit log, and the
    exports the server wrote elsewhere) holding one of the matcher's addresses; with
    `apply`, each one removed.

    `account` is the running server's, and `mirror` its open mirror; other accounts'
    mirrors are only reported (the contact is still at Resend there). `own_nonce` names
    the forget job doing this, whose own arguments are not a copy to remove. `only`
    limits a run to those addresses (the others are blocked, or failed at Resend)."""
    places = Places()
    wanted = matcher if only is None else Matcher({a: matcher.refs[a] for a in only})
    if not wanted.refs:
        return places
    _mirrors(folder, wanted, places, apply=apply, account=account, mirror=mirror)
    in_use = _working_files(folder / "jobs.sqlite", own_nonce)
    for path in datafolder.files(folder / "snapshots", "*.csv"):
        kind = datafolder.run_file_kind(path)
        if any(nonce in path.name for nonce in in_use.nonces):
            places.keep(_csv_mentions(path, wanted), f"{path.name}: its bulk run is working")
            continue
        _csv_place(places, kind, path, wanted, apply=apply, ledger=folder / "written.sqlite")
    for entry in sorted(p for p in (folder / "imports").glob("*") if p.is_dir()):
        _import_folder(places, entry, wanted, apply=apply, folder=folder)
    _exports(places, folder / "written.sqlite", wanted, apply=apply)
    _uploads(places, folder / "uploads", wanted, apply=apply, in_use=in_use.uploads)
    _jobs(places, folder / "jobs.sqlite", wanted, apply=apply, own_nonce=own_nonce)
    _approvals(places, folder / "approvals.sqlite", wanted, apply=apply)
    if audit_log is not None:
        _audit(places, audit_log, wanted, apply=apply)
    return places


def blockers(folder: Path, matcher: Matcher, own_nonce: str | None = None) -> dict[str, str]:
    """The addresses that work running now holds, and what holds them: a working job
    naming one (in its arguments, or the upload it reads), or a running import whose
    journal does. Such work may write them again (an import creates them anew): nothing
    of theirs is erased until it ends."""
    found: dict[str, str] = {}
    for job_id, kind, arguments in datafolder.working_jobs(folder / "jobs.sqlite"):
        if kind == "forget" and own_nonce is not None and arguments.get("nonce") == own_nonce:
            continue
        named = matcher.mentions(json.dumps(arguments, ensure_ascii=False))
        upload = arguments.get("upload")
        if isinstance(upload, str):
            named |= _csv_mentions(folder / "uploads" / f"{upload}.csv", matcher)
        for address in named:
            found.setdefault(address, f"job {job_id} ({kind}) is working and holds them")
    for journal in datafolder.files(folder / "imports", "*/journal.sqlite"):
        if _lock_held(_import_lock(journal.parent)):
            for address in _journal_mentions(journal, matcher):
                found.setdefault(address, f"import {journal.parent.name} is running")
    return found


def _import_lock(entry: Path) -> Path:
    """The lock a running import holds, beside its folder (`imports.service`)."""
    return entry.parent / f"{entry.name}.lock"


# -- mirrors ------------------------------------------------------------------------


class AccountMirror(Protocol):
    """The running server's mirror (`services.mirror.Mirror`): read and changed through
    its own connection, so its counts stay right (and one in memory is reached too)."""

    def held(self, addresses: Collection[str]) -> Counter[str]: ...

    def erase(self, addresses: Collection[str]) -> Counter[str]: ...


def _mirrors(
    folder: Path,
    matcher: Matcher,
    places: Places,
    *,
    apply: bool,
    account: str,
    mirror: AccountMirror | None,
) -> None:
    own = folder / "mirrors" / f"{account}.sqlite"
    for path in datafolder.files(folder / "mirrors", "*.sqlite"):
        if path.stem != account:
            for address in _mirror_counts(path, matcher):
                places.other_accounts.setdefault(address, []).append(path.stem)
    if mirror is not None:
        counts = mirror.erase(matcher.refs) if apply else mirror.held(matcher.refs)
    else:
        counts = _mirror_counts(own, matcher)
    where = own if own.is_file() else Path(f"(this account's mirror, in memory: {account})")
    places.add("mirror", where, counts, account=account)


def _mirror_counts(path: Path, matcher: Matcher) -> Counter[str]:
    counts: Counter[str] = Counter()
    db = datafolder.read_only(path)
    if db is None:
        return counts
    marks = ",".join("?" * len(matcher.refs))
    try:
        tables = {str(name) for (name,) in db.execute("SELECT name FROM sqlite_master")}
        for table in ("contacts", "staged_contacts"):
            if table in tables:
                query = f"SELECT email_lower FROM {table} WHERE email_lower IN ({marks})"  # noqa: S608 - our table names
                for (address,) in db.execute(query, list(matcher.refs)):
                    counts[str(address)] += 1
        if "expected" in tables:
            query = f"SELECT email_lower FROM expected WHERE email_lower IN ({marks})"  # noqa: S608
            for (address,) in db.execute(query, list(matcher.refs)):
                counts[str(address)] += 1
    except sqlite3.Error:
        pass
    finally:
        db.close()
    return counts


def compact(db: sqlite3.Connection) -> None:
    """Leave no removed content on disk: SQLite keeps it in free pages (until reused)
    and in the write-ahead log (until checkpointed and cut)."""
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# -- CSV files ----------------------------------------------------------------------


def _records(lines: Iterable[str]) -> Iterator[tuple[list[str], list[str]]]:
    """Each CSV record of `lines`, with the raw lines it was read from (a quoted cell
    may span several)."""
    taken: list[str] = []

    def source() -> Iterator[str]:
        for line in lines:
            taken.append(line)
            yield line

    reader = csv.reader(source())
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:  # not CSV past here: kept as it is
            row = []
        raw = list(taken)
        taken.clear()
        yield raw, row


def _csv_rewrite(path: Path, matcher: Matcher, *, apply: bool) -> tuple[Counter[str], int]:
    """Our addresses' rows in the CSV file `path` (counts), and the rows left; with
    `apply`, the file rewritten without them, every other byte as it was."""
    counts: Counter[str] = Counter()
    kept = 0
    try:
        handle = path.open("r", encoding="utf-8", errors="surrogateescape", newline="")
    except OSError:
        return counts, 0
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.erasing")
    out: io.TextIOWrapper | None = None
    try:
        with handle:
            if apply:
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                out = open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="")  # noqa: SIM115 - closed below
            for number, (raw, row) in enumerate(_records(handle)):
                address = (
                    None
                    if number == 0
                    else next((a for a in map(matcher.cell, row) if a is not None), None)
                )
                if address is not None:
                    counts[address] += 1
                    continue
                text = "".join(raw)
                mentioned = matcher.text(text, counts) if "@" in text else text
                kept += number > 0
                if out is not None:
                    out.write(mentioned)
        if out is not None:
            out.close()
            out = None
            if counts:
                os.replace(partial, path)
    finally:
        if out is not None:
            out.close()
        partial.unlink(missing_ok=True)
    return counts, kept


def _csv_mentions(path: Path, matcher: Matcher) -> set[str]:
    counts, _ = _csv_rewrite(path, matcher, apply=False)
    return set(counts)


def _csv_place(
    places: Places,
    kind: str,
    path: Path,
    matcher: Matcher,
    *,
    apply: bool,
    ledger: Path | None = None,
) -> Counter[str]:
    owned = apply and ledger is not None and _owned(ledger, path)
    counts, rows = _csv_rewrite(path, matcher, apply=apply)
    if counts and owned and ledger is not None:
        _rerecord(ledger, path, rows)
    places.add(kind, path, counts)
    return counts


# -- imports ------------------------------------------------------------------------


def _import_folder(
    places: Places, entry: Path, matcher: Matcher, *, apply: bool, folder: Path
) -> None:
    """An import's folder: its journal, failure report, parts and summary; left alone
    while its import runs (its lock is held)."""
    if apply and _lock_held(_import_lock(entry)):
        places.keep(
            _journal_mentions(entry / "journal.sqlite", matcher), f"import {entry.name} is running"
        )
        return
    for path in datafolder.files(entry, "*.csv"):
        kind = "failure report" if path.name == "failures.csv" else "import part"
        _csv_place(places, kind, path, matcher, apply=apply, ledger=folder / "written.sqlite")
    journal = entry / "journal.sqlite"
    if journal.is_file():
        places.add("import journal", journal, _journal(journal, matcher, apply=apply))
    for path in datafolder.files(entry, "*.json"):
        places.add("import summary", path, _json_file(path, matcher, apply=apply))


def _journal(path: Path, matcher: Matcher, *, apply: bool) -> Counter[str]:
    """An import journal's rows naming our addresses: a done row keeps its place (a
    resumed import must not do it again), with the reference for the address; the
    contacts it looked up, and those it was creating, are removed."""
    marks = ",".join("?" * len(matcher.refs))
    keys = list(matcher.refs)

    def done_row(row: tuple[Any, ...], found: Counter[str]) -> tuple[Any, ...]:
        number, email, detail = row
        return (
            None if email is None else matcher.text(str(email), found),
            None if detail is None else matcher.text(str(detail), found),
            number,
        )

    def work(db: sqlite3.Connection) -> Counter[str]:
        counts = _rewritten(
            db,
            "SELECT row, email, detail FROM done WHERE email LIKE '%@%' OR detail LIKE '%@%'",
            "UPDATE done SET email = ?, detail = ? WHERE row = ?",
            done_row,
            apply=apply,
        )
        for table in ("existing", "creating"):
            query = f"SELECT email_key FROM {table} WHERE email_key IN ({marks})"  # noqa: S608 - our table names
            for (address,) in db.execute(query, keys):
                counts[str(address)] += 1
            if apply:
                db.execute(f"DELETE FROM {table} WHERE email_key IN ({marks})", keys)  # noqa: S608
        return counts

    return _in_database(path, work, apply=apply)


def _in_database(
    path: Path, work: Callable[[sqlite3.Connection], Counter[str]], *, apply: bool
) -> Counter[str]:
    """`work` on the database at `path` (not there: nobody is in it): in one write
    transaction when it changes it (`apply`), after which no removed content is left on
    disk. A database begun by a server that never wrote to it holds nobody."""
    db = _open(path, apply=apply)
    if db is None:
        return Counter()
    try:
        with sharing.write_transaction(db) if apply else contextlib.nullcontext():
            counts = work(db)
        if apply and counts:
            compact(db)
        return counts
    except sqlite3.Error as exc:
        if apply and not _missing_table(exc):
            raise
        return Counter()
    finally:
        db.close()


def _rewritten(
    db: sqlite3.Connection,
    select: str,
    update: str,
    rewrite: Callable[[tuple[Any, ...], Counter[str]], tuple[Any, ...]],
    *,
    apply: bool,
) -> Counter[str]:
    """Each row of `select` that names our addresses, given `update`'s values by
    `rewrite` (which counts what it replaced): one record per row and address."""
    counts: Counter[str] = Counter()
    for row in db.execute(select).fetchall():
        found: Counter[str] = Counter()
        values = rewrite(tuple(row), found)
        if found:
            counts.update(dict.fromkeys(found, 1))
            if apply:
                db.execute(update, values)
    return counts


def _journal_mentions(path: Path, matcher: Matcher) -> set[str]:
    return set(_journal(path, matcher, apply=False)) if path.is_file() else set()


def _json_file(path: Path, matcher: Matcher, *, apply: bool) -> Counter[str]:
    counts: Counter[str] = Counter()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return counts
    if "@" not in text:
        return counts
    try:
        scrubbed = json.dumps(matcher.json(json.loads(text), counts), indent=2) + "\n"
    except ValueError:
        scrubbed = matcher.text(text, counts)
    if apply and counts:
        _replace_text(path, scrubbed)
    return counts


def _replace_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.erasing")
    try:
        private_file(partial).write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# -- exports and uploads --------------------------------------------------------------


def _exports(places: Places, ledger: Path, matcher: Matcher, *, apply: bool) -> None:
    """The exports the server wrote, where each still is exactly the file it wrote: one
    the person changed or replaced since is theirs (and reported, not touched)."""
    db = datafolder.read_only(ledger)
    if db is None:
        return
    try:
        paths = [str(p) for (p,) in db.execute("SELECT path FROM written WHERE kind = 'export'")]
    except sqlite3.Error:
        paths = []
    finally:
        db.close()
    for name in paths:
        path = Path(name)
        if not path.is_file():
            continue
        if not _owned(ledger, path):
            places.keep(_csv_mentions(path, matcher), f"{path}: changed since it was exported")
            continue
        _csv_place(places, "export", path, matcher, apply=apply, ledger=ledger)


def _uploads(
    places: Places, folder: Path, matcher: Matcher, *, apply: bool, in_use: set[str]
) -> None:
    for path in datafolder.files(folder, "*.csv"):
        if path.stem in in_use:
            places.keep(_csv_mentions(path, matcher), f"upload {path.stem}: an import reads it")
            continue
        counts = _csv_place(places, "upload", path, matcher, apply=apply)
        if apply and counts:
            # The size it holds now: a sender adding to an unfinished upload goes on from it.
            with contextlib.suppress(sqlite3.Error, OSError):
                db = sharing.connect(folder / "uploads.sqlite")
                try:
                    db.execute(
                        "UPDATE uploads SET size = ? WHERE id = ?", (path.stat().st_size, path.stem)
                    )
                finally:
                    db.close()


def _owned(ledger: Path, path: Path) -> bool:
    """Whether `path` is exactly the file the server recorded writing there."""
    db = datafolder.read_only(ledger)
    if db is None:
        return False
    try:
        row = db.execute(
            "SELECT dev, ino, size, mtime_ns FROM written WHERE path = ?", (str(path),)
        ).fetchone()
        info = path.stat()
    except (sqlite3.Error, OSError):
        return False
    finally:
        db.close()
    return row is not None and tuple(row) == (
        info.st_dev,
        info.st_ino,
        info.st_size,
        info.st_mtime_ns,
    )


def _rerecord(ledger: Path, path: Path, rows: int) -> None:
    """The ledger's record of a rewritten file: still the server's, as it is now; the
    ids it was served under are dropped (they name the file as it was)."""
    info = path.stat()
    db = sharing.connect(ledger)
    try:
        with sharing.write_transaction(db):
            db.execute(
                "UPDATE written SET dev = ?, ino = ?, size = ?, mtime_ns = ?, rows = ? "
                "WHERE path = ?",
                (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, rows, str(path)),
            )
            db.execute("DELETE FROM served WHERE path = ?", (str(path),))
    finally:
        db.close()


# -- jobs and approvals -------------------------------------------------------------


@dataclass
class _InUse:
    nonces: set[str]
    uploads: set[str]


def _working_files(path: Path, own_nonce: str | None) -> _InUse:
    in_use = _InUse(set(), set())
    for job_id, _, arguments in datafolder.working_jobs(path):
        in_use.nonces.add(job_id)  # an import names its undo journal by its job id
        nonce, upload = arguments.get("nonce"), arguments.get("upload")
        if isinstance(nonce, str) and nonce and nonce != own_nonce:
            in_use.nonces.add(nonce)
        if isinstance(reads := arguments.get("reads"), str) and reads:
            in_use.nonces.add(reads)  # an undo reads the files of the run it undoes
        if isinstance(upload, str) and upload:
            in_use.uploads.add(upload)
    return in_use


def _jobs(
    places: Places, path: Path, matcher: Matcher, *, apply: bool, own_nonce: str | None
) -> None:
    """Ended jobs naming our addresses (their arguments, results, messages and errors);
    working ones are blockers (`blockers`), and this job's own arguments are its work."""

    def job(row: tuple[Any, ...], found: Counter[str]) -> tuple[Any, ...]:
        job_id, arguments, result, message, error = row
        return (
            _json_text(str(arguments), matcher, found),
            None if result is None else _json_text(str(result), matcher, found),
            matcher.text(str(message), found),
            None if error is None else matcher.text(str(error), found),
            job_id,
        )

    select = (
        "SELECT id, arguments, result, message, error FROM jobs WHERE status != 'working' "
        "AND (arguments LIKE '%@%' OR result LIKE '%@%' OR message LIKE '%@%' "
        "OR error LIKE '%@%')"
    )
    update = "UPDATE jobs SET arguments = ?, result = ?, message = ?, error = ? WHERE id = ?"
    counts = _in_database(
        path, lambda db: _rewritten(db, select, update, job, apply=apply), apply=apply
    )
    places.add("job", path, counts)


def _json_text(text: str, matcher: Matcher, counts: Counter[str]) -> str:
    try:
        decoded = json.loads(text)
    except ValueError:
        return matcher.text(text, counts)
    return json.dumps(matcher.json(decoded, counts), ensure_ascii=False)


def _approvals(places: Places, path: Path, matcher: Matcher, *, apply: bool) -> None:
    """Approvals naming our addresses: a pending one is withdrawn (spent), and its
    arguments keep the reference instead."""

    def approval(row: tuple[Any, ...], found: Counter[str]) -> tuple[Any, ...]:
        nonce, arguments = row
        return _json_text(str(arguments), matcher, found), nonce

    select = "SELECT nonce, arguments FROM approvals WHERE arguments LIKE '%@%'"
    update = "UPDATE approvals SET arguments = ?, spent = 1 WHERE nonce = ?"
    counts = _in_database(
        path, lambda db: _rewritten(db, select, update, approval, apply=apply), apply=apply
    )
    places.add("approval", path, counts)


# -- the audit log --------------------------------------------------------------------


def _audit(places: Places, audit_log: Path, matcher: Matcher, *, apply: bool) -> None:
    """Audit lines about our addresses keep their place, time, caller, tool and
    outcome, with the reference for the address. The log's writers hold its lock, so
    no line is written to a file while it is replaced."""
    files = [audit_log, *sorted(audit_log.parent.glob(f"{audit_log.name}.*"))]
    with sharing.held(sharing.lock_beside(audit_log)) if apply else contextlib.nullcontext():
        for path in files:
            if path.is_file():
                places.add("audit log", path, _audit_file(path, matcher, apply=apply))


def _audit_file(path: Path, matcher: Matcher, *, apply: bool) -> Counter[str]:
    counts: Counter[str] = Counter()
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.erasing")
    out: io.BufferedWriter | None = None
    try:
        with path.open("rb") as handle:
            if apply:
                out = open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")  # noqa: SIM115 - closed below
            for raw in handle:
                line = raw
                if b"@" in raw:
                    found: Counter[str] = Counter()
                    text = raw.decode("utf-8", errors="surrogateescape")
                    line = matcher.text(text, found).encode("utf-8", errors="surrogateescape")
                    counts.update(dict.fromkeys(found, 1))
                if out is not None:
                    out.write(line)
        if out is not None:
            out.close()
            out = None
            if counts:
                os.replace(partial, path)
    except OSError:
        if apply:
            raise
    finally:
        if out is not None:
            out.close()
        partial.unlink(missing_ok=True)
    return counts


def _open(path: Path, *, apply: bool) -> sqlite3.Connection | None:
    """A database of the data folder, to change (`apply`) or only read; None if it is
    not there (it is never created here)."""
    if not path.is_file():
        return None
    return sharing.connect(path) if apply else datafolder.read_only(path)


def _missing_table(exc: sqlite3.Error) -> bool:
    """A database begun by a server that never wrote to it: nothing of anyone's."""
    return "no such table" in str(exc)


def _lock_held(lock: Path) -> bool:
    """Whether the `FolderLock` file `lock` is held now (an import running)."""
    with sharing.if_free(lock) as free:
        return not free


# -- forgetting people ------------------------------------------------------------------

ResendStep = Literal["deleted", "no contact", "failed", "blocked"]
# Copies made outside the server's folders are not the server's to remove.
NOT_COVERED = (
    "Copies made outside this server's folders (files someone saved or changed, mail "
    "already sent, other systems, backups of this machine) are not covered: whoever made "
    "them answers for them."
)
SUPPRESSION_NOTE = (
    "A suppression keeps the address at Resend, on the team's suppression list, so that no "
    "email reaches it again: that is kept on purpose, and is the one copy left."
)


class PersonReceipt(BaseModel):
    """What was done for one person: at Resend, and on this machine."""

    person: str = Field(description="Their reference: the keyed hash the audit log uses.")
    email: str | None = Field(
        default=None, description="Only in the answer to the call that asked: never kept."
    )
    resend: ResendStep = Field(description="deleted, no contact, failed or blocked.")
    resend_detail: str | None = None
    suppressed: bool | None = Field(default=None, description="null: not asked for.")
    suppression_detail: str | None = None
    local: list[Erased] = Field(description="Each local copy removed, with its records.")
    kept: list[str] = Field(description="Copies left alone, and why: run again once free.")
    other_accounts: list[str] = Field(
        description="Other accounts whose mirror holds them: forget them on those too."
    )
    forgotten: bool = Field(
        default=False, description="Gone from this account and every local copy."
    )


class ForgetOutcome(BaseModel):
    action: Literal["forget"] = "forget"
    finished_at: str
    selected: int
    done: int = Field(description="People forgotten completely.")
    failed: int = Field(description="People not (or not completely) forgotten.")
    requests: int
    seconds: float
    people: list[PersonReceipt]
    notes: list[str] = Field(default_factory=list[str])
    not_covered: str = NOT_COVERED


async def forget(
    client: ResendClient,
    addresses: Sequence[str],
    refs: Mapping[str, str],
    *,
    suppress: bool,
    folder: Path,
    account: str,
    mirror: AccountMirror,
    audit_log: Path | None,
    own_nonce: str,
    progress: Progress,
    audit: Callable[[str, str], None],
    local_account: Path | None = None,
) -> ForgetOutcome:
    """Forget each of `addresses` (normalized): their contact deleted at Resend (and
    their address suppressed, if asked), then every local copy removed.

    A person whose contact Resend could not delete, or whom running work holds, keeps
    every local copy (the mirror must never show Resend without a contact it has), and
    is reported as not forgotten: a new run finishes them. Each person's request goes
    into the audit log under their reference, with how it ended (`audit`)."""
    started, sent = time.monotonic(), client.requests_sent
    matcher = Matcher(refs)
    total = len(addresses) + 1
    blocked = await anyio.to_thread.run_sync(lambda: blockers(folder, matcher, own_nonce))
    receipts = {
        address: PersonReceipt(
            person=refs[address], resend="blocked", local=[], kept=[], other_accounts=[]
        )
        for address in addresses
    }
    for number, address in enumerate(addresses, start=1):
        receipt = receipts[address]
        if address in blocked:
            receipt.resend_detail = f"{blocked[address]}: cancel it or let it end, then run again"
        else:
            await _at_resend(client, address, receipt, suppress=suppress)
        await progress(number, total, f"forgot {number} of {len(addresses)} at Resend")
    erasable = frozenset(a for a, r in receipts.items() if r.resend in ("deleted", "no contact"))
    await progress(len(addresses), total, "removing local copies")
    try:
        places = await anyio.to_thread.run_sync(
            lambda: erase_local(
                folder,
                matcher,
                apply=True,
                account=account,
                mirror=mirror,
                audit_log=audit_log,
                own_nonce=own_nonce,
                only=erasable,
            )
        )
    except (sqlite3.Error, OSError, sharing.FolderLockTimeout) as exc:
        logger.warning("an erasure could not change a local copy", exc_info=True)
        for address in addresses:
            audit(refs[address], "incomplete (local copies)")
        raise UserFacingError(
            "The contacts were handled at Resend, but a local copy could not be changed "
            f"({type(exc).__name__}: another process may hold it). Nothing is reported "
            "done: run forget_contacts again for the same people to finish."
        ) from None
    for address, receipt in receipts.items():
        receipt.local = places.found.get(address, [])
        receipt.kept = places.kept.get(address, [])
        receipt.other_accounts = places.other_accounts.get(address, [])
        _without_addresses(receipt, matcher)
        receipt.forgotten = (
            address in erasable and not receipt.kept and receipt.suppressed is not False
        )
        audit(refs[address], _audited(receipt))
    people = [receipts[address] for address in addresses]
    done = sum(r.forgotten for r in people)
    notes = [SUPPRESSION_NOTE] if suppress else []
    # The local account is this machine's "Resend": its file, written by an earlier
    # version perhaps, may hold contacts deleted long ago in its free pages.
    handled = any(r.resend in ("deleted", "no contact") for r in people)
    if (
        local_account is not None
        and handled
        and not await anyio.to_thread.run_sync(lambda: _compacted(local_account))
    ):
        notes.append(
            f"The local account's database ({local_account.name}) was busy and could "
            "not be compacted: run forget_contacts again later to finish it."
        )
    if any(r.resend == "deleted" for r in people):
        notes.append(
            "Resend keeps its own records of email already sent to them (logs, "
            "broadcast history) as its terms say: ask Resend for those."
        )
    return ForgetOutcome(
        finished_at=utc_iso(time.time()),
        selected=len(people),
        done=done,
        failed=len(people) - done,
        requests=client.requests_sent - sent,
        seconds=round(time.monotonic() - started, 1),
        people=people,
        notes=notes,
    )


async def _at_resend(
    client: ResendClient, address: str, receipt: PersonReceipt, *, suppress: bool
) -> None:
    try:
        contact = await patiently(partial(client.get_contact, address))
    except NotFoundError:
        receipt.resend = "no contact"
    except ResendError as exc:
        receipt.resend, receipt.resend_detail = "failed", str(explain(exc))
        return
    else:
        try:
            await patiently(partial(client.delete_contact, contact.id))
        except NotFoundError:
            pass  # deleted by someone else meanwhile: gone all the same
        except ResendError as exc:
            receipt.resend, receipt.resend_detail = "failed", str(explain(exc))
            return
        receipt.resend, receipt.resend_detail = "deleted", f"contact {contact.id}"
    if not suppress:
        return
    try:
        await patiently(partial(client.add_suppression, address))
    except NotFoundError:
        receipt.suppressed = False
        receipt.suppression_detail = (
            "This Resend account has no Suppressions API (a private beta): not suppressed. "
            "Add the address on Resend's dashboard (Suppressions) if it must never get mail."
        )
    except ResendError as exc:
        receipt.suppressed, receipt.suppression_detail = False, str(explain(exc))
    else:
        receipt.suppressed = True


def _compacted(path: Path) -> bool:
    """`path` (a SQLite file) without free pages or write-ahead log; False if busy."""
    try:
        db = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            compact(db)
        finally:
            db.close()
    except sqlite3.Error:
        logger.warning("could not compact the local account's database", exc_info=True)
        return False
    return True


def _without_addresses(receipt: PersonReceipt, matcher: Matcher) -> None:
    """The receipt is kept with the job: an error Resend gave, or a file's name, may name
    the address."""
    ignored: Counter[str] = Counter()
    if receipt.resend_detail is not None:
        receipt.resend_detail = matcher.text(receipt.resend_detail, ignored)
    if receipt.suppression_detail is not None:
        receipt.suppression_detail = matcher.text(receipt.suppression_detail, ignored)
    # A file someone named after the person (`ada@example.com.csv`) is named by reference.
    receipt.kept = [matcher.text(why, ignored) for why in receipt.kept]
    for place in receipt.local:
        place.where = matcher.text(place.where, ignored)


def _audited(receipt: PersonReceipt) -> str:
    """How a person's erasure ended, for their audit line (no address, no detail)."""
    if receipt.forgotten:
        return "erased" + (" and suppressed" if receipt.suppressed else "")
    if receipt.resend in ("failed", "blocked"):
        return f"not erased ({receipt.resend} at Resend)"
    return "incomplete (copies in use)" if receipt.kept else "incomplete (not suppressed)"
