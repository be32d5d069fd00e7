"""Retention: each kind of local data goes when its time is up, and only then, on a fake
clock (the cutoffs of a later "now"); expiry at startup; `data purge` on demand; work in
progress never touched; the audit log rotated by size and age."""

import base64
import json
import math
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from contacts_mcp.cli import KIND_NAMES
from contacts_mcp.server.surface import AuditLog
from contacts_mcp.services.retention import DAY, DEFAULT_DAYS, KINDS, Retention, purge
from tests.server.test_local_data import seed_every_kind
from tests.server.test_private_files import session

pytestmark = pytest.mark.anyio


def removed(report: Any) -> dict[str, tuple[int, int]]:
    """Kind → (files, rows) removed, for the kinds that removed anything."""
    return {r.kind: (r.files, r.rows) for r in report.removed if r.files or r.rows}


def test_retention_is_parsed_over_the_defaults() -> None:
    assert KIND_NAMES == KINDS
    assert Retention().days == DEFAULT_DAYS
    parsed = Retention.parse(" snapshots=7, jobs=off ,uploads=0.5")
    assert parsed.days["snapshots"] == 7
    assert parsed.days["jobs"] is None
    assert parsed.days["uploads"] == 0.5
    assert parsed.days["mirrors"] == 90
    assert "jobs" not in parsed.cutoffs(1000.0)  # kept for good
    for bad, said in [
        ("snapshot=3", "unknown kind 'snapshot'"),
        ("jobs=soon", "give days"),
        ("jobs=-1", "0 or more"),
        ("jobs=nan", "0 or more"),
    ]:
        with pytest.raises(ValueError, match=said):
            Retention.parse(bad)


async def test_each_kind_goes_when_its_time_is_up(tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    async with session("auto", state, files) as h:
        await seed_every_kind(h, files)
    retention = Retention()
    now = time.time()
    # A day on: nothing is due (uploads are, but none is kept).
    assert removed(purge(state, retention.cutoffs(now + 1 * DAY))) == {}
    # 15 days on: failure reports and ended jobs (14 days) go; snapshots and journals stay.
    later = removed(purge(state, retention.cutoffs(now + 15 * DAY)))
    assert set(later) == {"failures", "jobs"}
    assert later["failures"][0] == 1
    assert later["jobs"][1] >= 4
    # A delete's snapshot and the import's undo journal.
    runs = sorted(p.name.split("-")[0] for p in (state / "snapshots").glob("*.csv"))
    assert runs == ["deleted", "imported"]
    # 31 days on: snapshots and import journals too; the mirror (90 days) stays.
    month = removed(purge(state, retention.cutoffs(now + 31 * DAY)))
    assert set(month) == {"snapshots", "imports"}
    assert list((state / "snapshots").glob("*.csv")) == []
    assert list((state / "imports").iterdir()) == []
    [mirror] = (state / "mirrors").glob("*.sqlite")
    # 91 days on: the mirror of an account not used since; but never the running
    # server's own account's.
    kept = purge(state, retention.cutoffs(now + 91 * DAY), keep_accounts=frozenset({mirror.stem}))
    assert "mirrors" not in removed(kept)
    assert mirror.exists()
    assert removed(purge(state, retention.cutoffs(now + 91 * DAY)))["mirrors"][0] >= 1
    assert not mirror.exists()
    # The export is the person's: retention never takes it; asked for, it goes.
    assert (files / "ada.csv").exists()
    asked = purge(state, {"exports": math.inf})
    assert removed(asked) == {"exports": (1, 0)}
    assert not (files / "ada.csv").exists()


async def test_an_export_changed_by_its_person_is_never_purged(tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    async with session("auto", state, files) as h:
        await h.call("create_contact", {"email": "ada@example.com"})
        await h.job("export_contacts", {"contacts": ["ada@example.com"], "path": "ada.csv"})
    with (files / "ada.csv").open("a") as edited:
        edited.write("my own notes\n")
    report = purge(state, {"exports": math.inf})
    assert removed(report) == {}
    [exports] = report.removed
    assert exports.skipped == ["ada.csv: changed since it was exported"]
    assert (files / "ada.csv").exists()


async def test_a_purge_never_touches_work_in_progress(tmp_path: Path) -> None:
    """A purge of everything while an import runs (paced to 20 requests/s, so it is
    surely running): its journal, lock, job and upload stay, and the report names them;
    the import then finishes with every row, its journal intact."""
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    rows = 120
    body = "email\n" + "".join(f"p{i:03d}@example.com\n" for i in range(rows))
    async with session("auto", state, files, rate_limit=20, wait_seconds=0.5) as h:
        upload = await h.call(
            "upload_csv", {"data": base64.b64encode(body.encode()).decode(), "done": True}
        )
        started = await h.call(
            "import_contacts",
            {
                "upload": upload["upload_id"],
                "columns": {"email": "email"},
                "on_conflict": "upsert",
                "strategy": "rows",
            },
        )
        assert started["status"] == "working"
        report = await anyio.to_thread.run_sync(
            lambda: purge(state, dict.fromkeys(KINDS, math.inf))
        )
        skipped = {r.kind: r.skipped for r in report.removed}
        assert any("an import is running" in why for why in skipped["imports"])
        assert skipped["jobs"] == ["1 job(s) still working"]
        assert skipped["uploads"] == [f"{upload['upload_id']}: a working import reads it"]
        [journal] = (state / "imports").glob("*/journal.sqlite")
        assert journal.exists()
        job = started
        while job["status"] == "working":
            waited = await h.call("get_job", {"job_id": started["job_id"], "wait_seconds": 50})
            job = waited["job"]
    assert job["status"] == "completed"
    assert job["result"]["created"] == rows
    assert job["result"]["failed"] == 0


def age(*paths: Path, days: float) -> None:
    """Make `paths` (folders with everything in them) look `days` old."""
    then = time.time() - days * DAY
    for path in paths:
        for each in (path, *path.rglob("*")) if path.is_dir() else (path,):
            os.utime(each, (then, then))


async def gone(path: Path) -> None:
    """Wait (at most 30 s) until `path` is removed by the server's background expiry."""
    for _ in range(600):
        if not path.exists():
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"{path} is still there")


async def test_expired_data_is_removed_at_startup(tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    async with session("auto", state, files) as h:
        await seed_every_kind(h, files)
    [snapshot] = (state / "snapshots").glob("deleted-*.csv")
    age(snapshot, days=31)
    async with session("auto", state, files) as h:
        # The expiry runs in the background at startup: the server answers meanwhile.
        await h.call("list_contacts", {})
        await gone(snapshot)
    # Everything younger stays.
    assert list((state / "imports").iterdir())
    assert list((state / "mirrors").glob("*.sqlite"))


async def test_a_kind_kept_for_good_stays_at_startup(tmp_path: Path) -> None:
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    async with session("auto", state, files) as h:
        await seed_every_kind(h, files)
    [snapshot] = (state / "snapshots").glob("deleted-*.csv")
    [journal] = [p for p in (state / "imports").iterdir() if p.is_dir()]
    age(snapshot, journal, days=400)
    async with session("auto", state, files, retention=Retention.parse("snapshots=off")) as h:
        await h.call("list_contacts", {})
        await gone(journal)  # the expiry has run: the old journal is gone
    assert snapshot.exists()


def test_the_audit_log_rotates_by_size_and_by_age(tmp_path: Path) -> None:
    moment = [datetime(2026, 1, 1, tzinfo=UTC)]
    path = tmp_path / "audit" / "audit.log"
    log = AuditLog(path, rotate_bytes=600, rotate_days=30, clock=lambda: moment[0])
    for i in range(10):  # about 110 bytes a line: rotated each time past 600
        log.record("local", "delete_contact", f"p{i}@example.com", "ok")
    rotated = log.rotated()
    assert rotated
    targets = [
        json.loads(line)["target"]
        for file in [*rotated, path]
        for line in file.read_text().splitlines()
    ]
    assert targets == [f"p{i}@example.com" for i in range(10)]  # none lost, in order
    assert all(file.stat().st_size <= 600 for file in rotated)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # 31 days later, the next line begins a new file: the old one is rotated by age.
    moment[0] += timedelta(days=31)
    log.record("local", "delete_contact", "late@example.com", "ok")
    assert len(log.rotated()) == len(rotated) + 1
    assert [json.loads(line)["target"] for line in path.read_text().splitlines()] == [
        "late@example.com"
    ]
    # A new server on the same log knows its first line's age.
    again = AuditLog(path, rotate_bytes=600, rotate_days=30, clock=lambda: moment[0])
    moment[0] += timedelta(days=31)
    again.record("local", "delete_contact", "later@example.com", "ok")
    assert len(again.rotated()) == len(rotated) + 2
    # Rotated logs go by retention (audit, 365 days), the live one never.
    old = time.time() - 400 * DAY
    for rotated_file in again.rotated():
        os.utime(rotated_file, (old, old))
    report = purge(tmp_path / "state", Retention().cutoffs(time.time()), audit_log=path)
    assert removed(report) == {"audit": (len(rotated) + 2, 0)}
    assert path.exists()


async def test_a_purge_keeps_the_snapshot_of_a_delete_still_running(tmp_path: Path) -> None:
    """The snapshot is the last copy of what a delete removes: a purge of everything
    while the delete runs (paced to 20 requests/s) keeps it, and says why."""
    state, files = tmp_path / "state", tmp_path / "files"
    files.mkdir()
    emails = [f"p{i:02d}@example.com" for i in range(60)]
    async with session("auto", state, files, rate_limit=20, wait_seconds=0.5) as h:
        await h.job(
            "import_contacts",
            {"csv_text": "email\n" + "\n".join(emails) + "\n", "columns": {"email": "email"},
             "on_conflict": "upsert", "strategy": "api"},
        )  # fmt: skip
        preview = await h.call("delete_contacts", {"contacts": emails})
        confirm = preview["preview"]["confirm"]
        started = await h.call("delete_contacts", {"contacts": emails, "confirm": confirm})
        job = started["run"]
        assert job["status"] == "working"
        snapshot: Path | None = None
        for _ in range(600):  # written once every contact was read afresh (~3 s)
            found = [
                p for p in (state / "snapshots").glob("deleted-*.csv") if "failures" not in p.name
            ]
            if found:
                snapshot = found[0]
                break
            await anyio.sleep(0.05)
        assert snapshot is not None
        report = await anyio.to_thread.run_sync(
            lambda: purge(state, dict.fromkeys(KINDS, math.inf))
        )
        [snapshots] = [r for r in report.removed if r.kind == "snapshots"]
        assert snapshots.files == 1  # the ended import's undo journal
        assert not list((state / "snapshots").glob("imported-*"))
        assert snapshots.skipped == [f"{snapshot.name}: its bulk run is working"]
        while job["status"] == "working":
            job = (await h.call("get_job", {"job_id": job["job_id"], "wait_seconds": 50}))["job"]
    assert job["status"] == "completed"
    assert job["result"]["done"] == 60
    assert len(snapshot.read_text().splitlines()) == 61  # the header and every contact
