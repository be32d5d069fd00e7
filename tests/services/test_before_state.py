"""The journal of what a bulk run changed (`services.before_state`) and the undo's plan
for each contact (`services.undo.plan_restore`)."""

from dataclasses import replace
from pathlib import Path

import pytest

from contacts_mcp.services.before_state import (
    Facts,
    JournalAppender,
    Recorded,
    journal_files,
    read_journal,
    write_journal,
)
from contacts_mcp.services.erasure import Matcher, erase_local
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.personal import find_held
from contacts_mcp.services.undo import plan_restore

BEFORE = Facts(
    unsubscribed=False,
    properties={"plan": "=free", "seats": 3, "note": None},
    segments={"seg-vip": False},
    topics={"top-news": "opt_in"},
)
AFTER = Facts(
    unsubscribed=True,
    properties={"plan": "pro", "seats": 10.5, "note": "x"},
    segments={"seg-vip": True},
    topics={"top-news": "opt_out"},
)


def journal(folder: Path, nonce: str, *emails: str) -> Path:
    path = folder / f"updated-20261203-000000-{nonce}-before.csv"
    records = [Recorded(email, f"id-{email}", BEFORE, AFTER) for email in emails]
    assert write_journal(path, records, None) == len(emails)
    return path


def test_the_journal_reads_back_exactly_oldest_record_first(tmp_path: Path) -> None:
    snapshots = tmp_path / "state" / "snapshots"
    first = journal(snapshots, "n1", "-ada@example.com", "ben@example.com")
    later = snapshots / "updated-20261203-000100-n1-before.csv"
    write_journal(later, [Recorded("ben@example.com", "id-ben@example.com", AFTER, AFTER)], None)
    assert journal_files(snapshots, "n1") == [first, later]
    assert journal_files(snapshots, "n2") == []
    records = read_journal(journal_files(snapshots, "n1"))
    # A formula-looking address and value come back exactly; the first attempt's record
    # of a contact is its true before-state.
    assert records == [
        Recorded("-ada@example.com", "id--ada@example.com", BEFORE, AFTER),
        Recorded("ben@example.com", "id-ben@example.com", BEFORE, AFTER),
    ]
    assert oct(first.stat().st_mode & 0o777) == "0o600"
    assert first.read_bytes().startswith(b"email,id,before,after\r\n'-ada@")


def test_an_erasure_removes_the_persons_record_and_the_rest_still_undoes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "state"
    path = journal(folder / "snapshots", "n1", "ada@example.com", "ben@example.com")
    ada = Matcher({"ada@example.com": "hmac:ada"})
    erase_local(folder, ada, apply=True, account="a")
    assert "ada@" not in path.read_text(encoding="utf-8")
    assert [r.email for r in read_journal([path])] == ["ben@example.com"]


def test_the_access_request_names_the_journal_for_what_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    path = journal(folder / "snapshots", "n1", "ada@example.com", "ben@example.com")
    [place] = find_held("Ada@Example.com", folder)
    assert (place.kind, place.where, place.count) == ("undo journal", str(path), 1)


def test_a_damaged_journal_is_refused_saying_which_line(tmp_path: Path) -> None:
    path = journal(tmp_path, "n1", "ada@example.com")
    path.write_text(path.read_text() + 'ben@example.com,id-b,"{""unsubscribed"": 3}",{}\r\n')
    with pytest.raises(
        UserFacingError, match=r"Line 3 of .* is damaged \(unsubscribed is not true or false\)"
    ):
        read_journal([path])
    other = tmp_path / "x-n2-before.csv"
    other.write_text("email,first_name\r\n")
    with pytest.raises(UserFacingError, match="is not a record of what a run changed"):
        read_journal([other])


NAMES = {"seg-vip": "VIP", "top-news": "News"}
RECORD = Recorded("ada@example.com", "id-ada", BEFORE, AFTER)


def test_what_the_run_left_is_put_back_but_never_an_opt_in() -> None:
    restore = plan_restore(RECORD, AFTER, NAMES)
    assert restore.changed is None
    assert restore.put_back == Facts(
        properties={"plan": "=free", "seats": 3, "note": None}, segments={"seg-vip": False}
    )
    assert restore.now == Facts(
        properties={"plan": "pro", "seats": 10.5, "note": "x"}, segments={"seg-vip": True}
    )
    assert restore.kept == [
        "stays unsubscribed (an undo never opts anyone back in)",
        "stays opted out of News (never opted back in)",
    ]


def test_what_is_as_before_needs_nothing_and_a_value_changed_since_leaves_it_alone() -> None:
    assert plan_restore(RECORD, BEFORE, NAMES).put_back == Facts()
    # "" and no value are one; 3 and 3.0 are one.
    same = Facts(False, {"plan": "=free", "seats": 3.0, "note": ""}, {"seg-vip": False},
                 {"top-news": "opt_in"})  # fmt: skip
    assert not plan_restore(RECORD, same, NAMES).put_back
    moved = Facts(True, {"plan": "enterprise", "seats": 10.5, "note": "x"}, {"seg-vip": True},
                  {"top-news": "opt_out"})  # fmt: skip
    left = plan_restore(RECORD, moved, NAMES)
    assert (left.changed, left.put_back) == ("plan changed since the run (now enterprise)", Facts())
    joined = Facts(True, AFTER.properties, {"seg-vip": True}, {"top-news": "opt_in"})
    # News back at opt_in (its before-state) is as before, not a change.
    assert plan_restore(RECORD, joined, NAMES).changed is None
    left_vip = Facts(True, AFTER.properties, {"seg-vip": False}, {"top-news": "opt_out"})
    assert plan_restore(RECORD, left_vip, NAMES).put_back.segments == {}
    cleared = Facts(True, {**AFTER.properties, "seats": None}, {"seg-vip": True}, {})
    assert (
        plan_restore(RECORD, cleared, NAMES).changed == "seats changed since the run (now no value)"
    )


CREATED = Recorded(
    "new@example.com",
    "id-new",
    Facts(exists=False),
    Facts(unsubscribed=False, names={"first_name": "Ada", "last_name": None},
          properties={"plan": "pro"}, segments={"seg-vip": True}),
)  # fmt: skip


def test_an_import_journals_as_it_goes_names_and_creations_included(tmp_path: Path) -> None:
    renamed = Recorded(
        "ben@example.com",
        "id-ben",
        Facts(names={"first_name": None}, properties={"plan": "free"}),
        Facts(names={"first_name": "Ben"}, properties={"plan": "pro"}),
    )
    path = tmp_path / "snapshots" / "imported-20261203-000000-job_1-before.csv"
    appender = JournalAppender(path, None)
    appender.add(CREATED)
    # On disk before the next request is sent: read back while the run goes on.
    assert read_journal([path]) == [CREATED]
    appender.add(renamed)
    appender.close()
    # A run resumed under the same name appends, without a second header.
    again = JournalAppender(path, None)
    again.add(renamed)
    again.close()
    assert path.read_text(encoding="utf-8").count("email,id,before,after") == 1
    assert read_journal(journal_files(tmp_path / "snapshots", "job_1")) == [CREATED, renamed]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    bad = tmp_path / "bad-n3-before.csv"
    bad.write_text('email,id,before,after\r\na@b.c,i,"{""names"": {""nick"": ""x""}}",{}\r\n')
    with pytest.raises(UserFacingError, match="names must map first_name or last_name"):
        read_journal([bad])


def test_a_created_contact_is_deleted_unless_anything_it_was_given_changed() -> None:
    assert plan_restore(CREATED, CREATED.after, NAMES).delete
    # A name is compared with "" and no name as one.
    as_listed = Facts(False, {"plan": "pro"}, {"seg-vip": True}, {},
                      {"first_name": "Ada", "last_name": ""})  # fmt: skip
    assert plan_restore(CREATED, as_listed, NAMES).delete
    for now, why in [
        (replace(CREATED.after, unsubscribed=True),
         "unsubscribed changed since the run (now true)"),
        (replace(CREATED.after, names={"first_name": "Adele"}),
         "first_name changed since the run (now Adele)"),
        (replace(CREATED.after, segments={"seg-vip": False}),
         "membership of VIP changed since the run (now false)"),
    ]:  # fmt: skip
        left = plan_restore(CREATED, now, NAMES)
        assert (left.delete, left.changed) == (False, why)


def test_a_name_the_run_set_is_put_back() -> None:
    record = Recorded(
        "a@b.c", "id", Facts(names={"last_name": None}), Facts(names={"last_name": "X"})
    )
    restore = plan_restore(record, Facts(names={"last_name": "X"}), NAMES)
    assert restore.put_back == Facts(names={"last_name": None})
    assert plan_restore(record, Facts(names={"last_name": "Y"}), NAMES).changed == (
        "last_name changed since the run (now Y)"
    )
