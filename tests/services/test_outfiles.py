"""OutFile and WrittenFiles on a real folder: a name taken while the file was written is
never replaced, and nothing half-written is left behind."""

import os
import time
from pathlib import Path

import pytest

from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.outfiles import OutFile, WrittenFiles


def partials(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".partial"))


def test_a_name_taken_while_writing_is_not_replaced(tmp_path: Path) -> None:
    written = WrittenFiles(None)
    out = OutFile(tmp_path / "a.csv", kind="export", replace=False, written=written)
    out.text().write("ours\n")
    (tmp_path / "a.csv").write_text("theirs")  # meanwhile, by someone else
    with pytest.raises(UserFacingError, match="exists now"):
        out.publish(1)
    assert (tmp_path / "a.csv").read_text() == "theirs"
    assert partials(tmp_path) == []
    assert not written.owns(tmp_path / "a.csv")


def test_a_published_file_is_private_recorded_and_replaceable_only_unchanged(
    tmp_path: Path,
) -> None:
    written = WrittenFiles(tmp_path / "state" / "written.sqlite")
    out = OutFile(tmp_path / "a.csv", kind="export", replace=False, written=written)
    out.text().write("first\n")
    out.publish(1)
    target = tmp_path / "a.csv"
    assert (target.read_text(), os.stat(target).st_mode & 0o777) == ("first\n", 0o600)
    assert written.owns(target)
    assert [(e.path, e.kind, e.rows) for e in written.entries()] == [(str(target), "export", 1)]
    again = OutFile(target, kind="export", replace=True, written=written)
    again.text().write("second\n")
    again.publish(1)
    assert target.read_text() == "second\n"
    third = OutFile(target, kind="export", replace=True, written=written)
    third.text().write("third\n")
    target.write_text("edited by a person")
    with pytest.raises(UserFacingError, match="changed since"):
        third.publish(1)
    assert target.read_text() == "edited by a person"
    assert partials(tmp_path) == []


def test_abandoned_writes_leave_nothing_and_old_crashed_ones_are_cleared(tmp_path: Path) -> None:
    crashed = tmp_path / ".a.csv.0123456789abcdef.partial"
    recent = tmp_path / ".a.csv.fedcba9876543210.partial"  # maybe another process's
    crashed.write_text("half")
    recent.write_text("half")
    hour_ago = time.time() - 2 * 3600
    os.utime(crashed, (hour_ago, hour_ago))
    out = OutFile(tmp_path / "a.csv", kind="export", replace=False, written=None)
    out.text().write("rows\n")
    out.abandon()
    assert partials(tmp_path) == [recent.name]
    assert not (tmp_path / "a.csv").exists()
