"""What a person's erasure costs on this machine, next to a big account.

python -m bench.erasure [--contacts 100000] [--people 1,100]

The data folder: a mirror of `--contacts` contacts (as bench.search builds it), a delete
snapshot and an export of 10,000 rows each, an import journal of 10,000 rows, and an
audit log of 100,000 lines. Prints, for each number of people: the time of the preview's
scan (reads every local copy, changes nothing) and of the erasure of their local copies
(rewrites, and the vacuum of each SQLite file that held them), and the mirror's size.
Resend's side (a read and a delete per person, at the account's rate) is not counted:
at 5 requests/s it is 0.4 s a person.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.search import account, file_size, full_sync
from contacts_mcp.services.erasure import Matcher, erase_local
from contacts_mcp.services.mirror import Mirror

ROWS = 10_000
AUDIT_LINES = 100_000
ACCOUNT = "bench"


def seed(folder: Path, emails: list[str]) -> None:
    """The files beside the mirror, each naming the first `ROWS` addresses."""
    (folder / "snapshots").mkdir(parents=True)
    rows = "".join(f"{email},First,Last,false\r\n" for email in emails[:ROWS])
    header = "email,first_name,last_name,unsubscribed\r\n"
    (folder / "snapshots" / "deleted-20261203-000000-0000.csv").write_text(header + rows)
    (folder / "export.csv").write_text(header + rows)
    journal_folder = folder / "imports" / ("0" * 32)
    journal_folder.mkdir(parents=True)
    db = sqlite3.connect(journal_folder / "journal.sqlite")
    db.execute(
        "CREATE TABLE done (row INTEGER PRIMARY KEY, outcome TEXT NOT NULL, email TEXT, "
        "detail TEXT)"
    )
    db.execute("CREATE TABLE existing (email_key TEXT PRIMARY KEY, id TEXT, unsubscribed INT)")
    db.execute("CREATE TABLE creating (email_key TEXT PRIMARY KEY)")
    db.executemany(
        "INSERT INTO done VALUES (?, 'created', ?, NULL)",
        [(n, email) for n, email in enumerate(emails[:ROWS], start=2)],
    )
    db.commit()
    db.close()
    with (folder / "audit.log").open("w") as log:
        for n in range(AUDIT_LINES):
            line = {"time": "t", "caller": "local", "tool": "update_contact"}
            log.write(json.dumps({**line, "target": emails[n % len(emails)]}) + "\n")


def main(size: int, people: list[int]) -> None:
    contacts, members = account(size, seed=7)
    emails = [contact.email for contact in contacts]
    print(
        f"data folder: a mirror of {size:,} contacts, a snapshot, an export and an import "
        f"journal of {ROWS:,} rows each, an audit log of {AUDIT_LINES:,} lines"
    )
    for count in people:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            mirror = Mirror(folder / "mirrors" / f"{ACCOUNT}.sqlite")
            try:
                full_sync(mirror, contacts, members, with_properties=True)
                seed(folder, emails)
                # Spread over the account: each in the mirror, and the first ROWS elsewhere.
                chosen = emails[:: max(1, ROWS // count)][:count]
                matcher = Matcher({email: f"hmac:{n:024x}" for n, email in enumerate(chosen)})
                audit = folder / "audit.log"
                started = time.perf_counter()
                erase_local(
                    folder, matcher, apply=False, account=ACCOUNT, mirror=mirror, audit_log=audit
                )
                scan = time.perf_counter() - started
                before = file_size(mirror_path(folder))
                started = time.perf_counter()
                places = erase_local(
                    folder, matcher, apply=True, account=ACCOUNT, mirror=mirror, audit_log=audit
                )
                erase = time.perf_counter() - started
                removed = sum(p.records for found in places.found.values() for p in found)
                assert mirror.state().contacts == size - count
            finally:
                mirror.close()
            print(
                f"{count:>5} people: preview scan {scan:6.2f} s, erasure {erase:6.2f} s "
                f"({removed:,} records); mirror {before} → {file_size(mirror_path(folder))}"
            )


def mirror_path(folder: Path) -> Path:
    return folder / "mirrors" / f"{ACCOUNT}.sqlite"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--people", default="1,100")
    args = parser.parse_args()
    main(args.contacts, [int(n) for n in args.people.split(",")])
