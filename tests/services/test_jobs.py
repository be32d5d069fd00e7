"""The job journal, as two servers (two host windows) on one data folder share it."""

import time
from pathlib import Path

import pytest

from contacts_mcp.services.jobs import Job, JobJournal, job_key

pytestmark = pytest.mark.anyio

ARGUMENTS = {"path": "big.csv"}


def new_job(job_id: str) -> Job:
    return Job(
        id=job_id,
        kind="import",
        key=job_key("import", ARGUMENTS),
        arguments=ARGUMENTS,
        created=time.time(),
    )


async def test_the_same_work_asked_of_two_servers_is_journaled_once(tmp_path: Path) -> None:
    mine, other = (
        JobJournal(tmp_path / "jobs.sqlite", "b"),
        JobJournal(tmp_path / "jobs.sqlite", "b"),
    )
    assert mine.start(new_job("job_1")) is None
    found = other.start(new_job("job_2"))
    assert found is not None
    running, orphaned = found
    assert (running.id, orphaned) == ("job_1", False)  # its server is alive: follow it
    # Once it ended, the same work asked again is a new job.
    running.status = "completed"
    mine.save(running)
    assert other.start(new_job("job_3")) is None
    assert [job.id for job in mine.recent(5)] == ["job_3", "job_1"]
    mine.close()
    other.close()


async def test_a_stop_another_server_asked_for_survives_the_owners_next_save(
    tmp_path: Path,
) -> None:
    owner, other = (
        JobJournal(tmp_path / "jobs.sqlite", "b"),
        JobJournal(tmp_path / "jobs.sqlite", "b"),
    )
    job = new_job("job_1")
    owner.save(job, fresh=True)
    other.request_cancel(job.id)
    job.done, job.message = 10, "imported 10 rows"  # progress it journals before it looks
    owner.save(job)
    assert owner.cancel_requested(job.id)
    # Started afresh (resumed on request, say), it is not stopped by that old request.
    owner.save(job, fresh=True)
    assert not owner.cancel_requested(job.id)
    owner.close()
    other.close()


async def test_the_same_work_of_two_callers_is_two_jobs_each_seen_by_its_caller_only(
    tmp_path: Path,
) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite", "b")
    alice, bob = new_job("job_a"), new_job("job_b")
    alice.caller, bob.caller = "alice", "bob"
    assert journal.start(alice) is None
    assert journal.start(bob) is None  # Alice's running job is not Bob's to join
    assert [job.id for job in journal.recent(5, "bob")] == ["job_b"]
    assert [job.id for job in journal.recent(5, None)] == ["job_b", "job_a"]
    found = journal.latest_for(alice.key, "alice")
    assert found is not None
    assert found[0].caller == "alice"
    journal.close()


async def test_a_journal_from_before_callers_reads_its_jobs_as_local(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "jobs.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, backend TEXT NOT NULL, kind TEXT NOT NULL, "
        "key TEXT NOT NULL, arguments TEXT NOT NULL, status TEXT NOT NULL, done REAL NOT NULL, "
        "total REAL, message TEXT NOT NULL, result TEXT, error TEXT, created REAL NOT NULL, "
        "updated REAL NOT NULL, owner TEXT NOT NULL, heartbeat REAL NOT NULL, "
        "cancel INTEGER NOT NULL DEFAULT 0);"
    )
    old.execute(
        "INSERT INTO jobs VALUES ('job_old', 'b', 'import', 'k', '{}', 'completed', 3, 3, "
        "'done', NULL, NULL, ?, ?, '', 0, 0)",
        (time.time(), time.time()),
    )
    old.commit()
    old.close()
    journal = JobJournal(path, "b")
    [job] = journal.recent(5, "local")
    assert (job.id, job.caller, job.shared) == ("job_old", "local", False)
    assert journal.recent(5, "alice") == []
    journal.close()
