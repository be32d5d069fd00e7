"""Everything held on this machine about one email address: the answer to a person's
"send me what you hold about me" (GDPR art. 15 and its like).

Each place that holds the address is listed with what it holds there: the mirror's row
(fields, property values, segments), each snapshot, export, failure report and upload
row, each import journal's rows, the jobs and pending approvals that name it, and the
audit lines about it. Files are read row by row, never whole; an address matches in any
case (Resend treats addresses so), and as a spreadsheet-safe cell carries it (`'` first).
Reading never changes anything and never opens a database for writing.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from contacts_mcp.services import datafolder
from contacts_mcp.text.caps import shown_mapping
from contacts_mcp.text.cells import cell_address

__all__ = ["MAX_RECORDS", "Place", "find_held"]

# Records listed per place; past it, `count` says how many there are in all.
MAX_RECORDS = 100


class Place(BaseModel):
    kind: str = Field(
        description="mirror, snapshot, undo journal, export, failure report, upload, …."
    )
    where: str = Field(description="The file (or database) that holds it.")
    account: str | None = Field(default=None, description="The account id, where recorded.")
    count: int = Field(description="Records about the address in this place.")
    records: list[dict[str, Any]] = Field(description=f"The first {MAX_RECORDS} of them.")


def find_held(
    email: str,
    folder: Path,
    *,
    audit_log: Path | None = None,
    caller: str | None = None,
    reference: str | None = None,
) -> list[Place]:
    """Every place under the data folder `folder` (and the audit log, and the exports
    the server wrote elsewhere) that holds `email`, with its records.

    `caller` (a remote caller's name) limits what is per caller to that caller's own:
    their jobs, uploads, approvals, exports and audit lines; None (the operator, on this
    machine) sees all. The account's own copies (mirror, snapshots, failure reports,
    journals) are every caller's, as the account is. `reference`, the person's keyed
    hash, finds their audit lines written by it (requests, and lines an erasure kept)."""
    wanted = email.strip().casefold()
    places: list[Place] = []
    for mirror in datafolder.files(folder / "mirrors", "*.sqlite"):
        found = _mirror_rows(mirror, wanted)
        if found:
            places.append(_place("mirror", mirror, found, account=mirror.stem))
    snapshots = datafolder.files(folder / "snapshots", "*.csv")
    for path in snapshots:
        kind = datafolder.run_file_kind(path)
        _add_csv(places, kind, path, wanted)
    for path in datafolder.files(folder / "imports", "*/failures.csv"):
        _add_csv(places, "failure report", path, wanted)
    for path in _exports(folder / "written.sqlite", caller):
        _add_csv(places, "export", path, wanted)
    for path in _uploads(folder / "uploads", caller):
        _add_csv(places, "upload", path, wanted)
    for journal in datafolder.files(folder / "imports", "*/journal.sqlite"):
        found = _journal_rows(journal, wanted)
        if found:
            places.append(_place("import journal", journal, found))
    jobs = folder / "jobs.sqlite"
    for account, found in _jobs_naming(jobs, wanted, caller).items():
        places.append(_place("job", jobs, found, account=account))
    approvals = _naming(
        folder / "approvals.sqlite",
        "SELECT tool, arguments, expires FROM approvals WHERE spent = 0 "
        "AND (? IS NULL OR caller = ?)",
        (caller, caller),
        wanted,
    )
    if approvals:
        places.append(_place("approval", folder / "approvals.sqlite", approvals))
    if audit_log is not None:
        for path in [audit_log, *sorted(audit_log.parent.glob(f"{audit_log.name}.*"))]:
            found = [
                line
                for line in _audit_lines(path, wanted, reference)
                if caller is None or line.get("caller") == caller
            ]
            if found:
                places.append(_place("audit log", path, found))
    return places


def _place(
    kind: str, where: Path, found: list[dict[str, Any]], *, account: str | None = None
) -> Place:
    return Place(
        kind=kind,
        where=str(where),
        account=account,
        count=len(found),
        # Under `text.caps`' rule, as all the model is shown: a file's row may be hostile.
        records=[shown_mapping(record) for record in found[:MAX_RECORDS]],
    )


def _add_csv(places: list[Place], kind: str, path: Path, wanted: str) -> None:
    found = list(_csv_rows(path, wanted))
    if found:
        places.append(_place(kind, path, found))


def _csv_rows(path: Path, wanted: str) -> Iterator[dict[str, Any]]:
    """The rows of a CSV file with a cell that is the address, as header → cell."""
    with (
        contextlib.suppress(OSError, csv.Error),
        path.open(newline="", encoding="utf-8-sig", errors="replace") as handle,
    ):
        rows = csv.reader(handle)
        header = next(rows, [])
        for number, row in enumerate(rows, start=2):
            if any(cell_address(cell) == wanted for cell in row):
                named = dict(zip(header, row, strict=False))
                yield {"line": number, **named}


def _mirror_rows(path: Path, wanted: str) -> list[dict[str, Any]]:
    db = datafolder.read_only(path)
    if db is None:
        return []
    try:
        db.row_factory = sqlite3.Row
        found: list[dict[str, Any]] = []
        contacts = db.execute("SELECT * FROM contacts WHERE email_lower = ?", (wanted,))
        for row in contacts.fetchall():
            values = db.execute(
                "SELECT key, raw FROM properties WHERE n = ? ORDER BY key", (row["n"],)
            ).fetchall()
            segments = db.execute(
                "SELECT s.name FROM members m JOIN segments s ON s.id = m.segment_id "
                "WHERE m.n = ? ORDER BY s.name",
                (row["n"],),
            ).fetchall()
            found.append(
                {
                    "id": row["id"],
                    "email": row["email"],
                    "first_name": row["first_name"],
                    "last_name": row["last_name"],
                    "unsubscribed": bool(row["unsubscribed"]),
                    "created_at": row["created_at"],
                    "properties": {key: _json_or_text(raw) for key, raw in values},
                    "segments": [name for (name,) in segments],
                }
            )
        return found
    except sqlite3.Error:
        return []
    finally:
        db.close()


def _journal_rows(path: Path, wanted: str) -> list[dict[str, Any]]:
    db = datafolder.read_only(path)
    if db is None:
        return []
    try:
        done = db.execute(
            "SELECT row, outcome, email, detail FROM done WHERE lower(email) = ?", (wanted,)
        ).fetchall()
        existing = db.execute(
            "SELECT id, unsubscribed FROM existing WHERE email_key = ?", (wanted,)
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()
    return [
        *({"row": r, "outcome": o, "email": e, "detail": d} for r, o, e, d in done),
        *({"existing_contact": i, "unsubscribed": bool(u)} for i, u in existing),
    ]


def _jobs_naming(path: Path, wanted: str, caller: str | None) -> dict[str, list[dict[str, Any]]]:
    """Jobs (the caller's, or all) whose arguments or result name the address, by account."""
    db = datafolder.read_only(path)
    if db is None:
        return {}
    try:
        rows = db.execute(
            "SELECT id, backend, kind, status, created, arguments, result FROM jobs "
            "WHERE (instr(lower(arguments), ?) > 0 OR instr(lower(coalesce(result, '')), ?) > 0) "
            "AND (? IS NULL OR caller = ?)",
            (wanted, wanted, caller, caller),
        ).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        db.close()
    by_account: dict[str, list[dict[str, Any]]] = {}
    for job_id, backend, kind, status, created, arguments, result in rows:
        by_account.setdefault(str(backend), []).append(
            {
                "job": job_id,
                "kind": kind,
                "status": status,
                "created": created,
                "arguments": _json_or_text(arguments),
                "result": _json_or_text(result) if result else None,
            }
        )
    return by_account


def _naming(
    path: Path, query: str, values: tuple[object, ...], wanted: str
) -> list[dict[str, Any]]:
    db = datafolder.read_only(path)
    if db is None:
        return []
    try:
        db.row_factory = sqlite3.Row
        rows = db.execute(query, values).fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()
    return [
        {key: _json_or_text(row[key]) for key in row.keys()}  # noqa: SIM118 - a Row
        for row in rows
        if any(isinstance(row[key], str) and wanted in row[key].casefold() for key in row.keys())  # noqa: SIM118
    ]


def _audit_lines(path: Path, wanted: str, reference: str | None) -> Iterator[dict[str, Any]]:
    targets = {wanted.encode(), *([reference.encode()] if reference else [])}
    with contextlib.suppress(OSError), path.open("rb") as handle:
        for raw in handle:
            if not any(target in raw.lower() for target in targets):
                continue
            with contextlib.suppress(ValueError):
                line = json.loads(raw)
                if not isinstance(line, dict):
                    continue
                target = str(line.get("target", ""))
                if target.casefold() == wanted or (reference and target == reference):
                    yield line


def _exports(ledger: Path, caller: str | None) -> list[Path]:
    """The exports the server wrote (for `caller`: those it served them)."""
    db = datafolder.read_only(ledger)
    if db is None:
        return []
    try:
        rows = db.execute(
            "SELECT path FROM written WHERE kind = 'export' AND (? IS NULL OR path IN "
            "(SELECT path FROM served WHERE caller = ?))",
            (caller, caller),
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()
    return [Path(str(p)) for (p,) in rows if Path(str(p)).is_file()]


def _uploads(folder: Path, caller: str | None) -> list[Path]:
    """The upload files (for `caller`: their own)."""
    files = datafolder.files(folder, "*.csv")
    if caller is None:
        return files
    db = datafolder.read_only(folder / "uploads.sqlite")
    if db is None:
        return []
    try:
        own = {str(i) for (i,) in db.execute("SELECT id FROM uploads WHERE caller = ?", (caller,))}
    except sqlite3.Error:
        return []
    finally:
        db.close()
    return [path for path in files if path.stem in own]


def _json_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
