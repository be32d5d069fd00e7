"""Files served to their caller (`WrittenFiles.serve`, `.page`) on a real folder: pages of
at most PAGE_BYTES that join to the exact file, one id per file and caller across
processes, and nothing served that is not the file as it was written."""

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from contacts_mcp.services.explain import NothingFoundError, UserFacingError
from contacts_mcp.services.outfiles import PAGE_BYTES, WrittenFiles


def write_csv(path: Path, rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    path.write_text(text.getvalue(), encoding="utf-8", newline="")
    return path.read_bytes()


def pages(written: WrittenFiles, file_id: str, caller: str) -> list[bytes]:
    first = written.page(file_id, caller, 1)
    return [
        written.page(file_id, caller, n).text.encode("utf-8")
        for n in range(1, first.file.pages + 1)
    ]


def test_pages_join_to_the_exact_file_and_end_at_rows_unless_a_row_is_longer(
    tmp_path: Path,
) -> None:
    quoted = 'first line\r\nsecond, with a quote " and é'
    rows = [["email", "note"]]
    rows += [[f"p{i}@example.com", quoted + "日" * 20_000] for i in range(30)]
    rows.append(["long@example.com", "é" * PAGE_BYTES])  # longer than a page
    rows += [[f"q{i}@example.com", quoted] for i in range(3)]
    data = write_csv(tmp_path / "a.csv", rows)
    written = WrittenFiles(None)
    served = written.serve(tmp_path / "a.csv", "local", "export")
    assert served is not None
    got = pages(written, served.id, "local")
    assert b"".join(got) == data
    assert all(len(page) <= PAGE_BYTES for page in got)
    # Whole rows, quoted line breaks kept inside: until the long row, each page reads alone.
    long_starts = next(n for n, page in enumerate(got) if b"long@example.com" in page)
    assert long_starts >= 2
    for page in got[:long_starts]:
        assert page.endswith(b"\r\n")
        assert all(len(row) == 2 for row in csv.reader(io.StringIO(page.decode(), newline="")))


def test_one_id_per_file_and_caller_across_processes_and_none_for_others(tmp_path: Path) -> None:
    path = tmp_path / "state" / "written.sqlite"
    path.parent.mkdir()
    # A ledger from before files were served: only the `written` table.
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE written (path TEXT PRIMARY KEY, kind TEXT NOT NULL, dev INTEGER NOT "
            "NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, "
            "rows INTEGER NOT NULL, written_at REAL NOT NULL)"
        )
    one, two = WrittenFiles(path), WrittenFiles(path)  # two server processes
    write_csv(tmp_path / "f.csv", [["email", "reason"], ["a@example.com", "gone"]])
    mine = one.serve(tmp_path / "f.csv", "alice", "failures")
    assert mine is not None
    again = two.serve(tmp_path / "f.csv", "alice", "failures")
    assert again is not None
    assert again.id == mine.id
    theirs = two.serve(tmp_path / "f.csv", "bob", "failures")
    assert theirs is not None
    assert theirs.id != mine.id
    with pytest.raises(NothingFoundError) as foreign:
        one.page(mine.id, "bob", 1)
    with pytest.raises(NothingFoundError) as unknown:
        one.page("A" * 22, "bob", 1)
    assert str(foreign.value) == str(unknown.value)
    for made_up in ("../f.csv", str(tmp_path / "f.csv"), "", "A" * 23):
        with pytest.raises(NothingFoundError):
            one.page(made_up, "alice", 1)


def test_a_file_replaced_by_a_link_or_changed_is_not_served(tmp_path: Path) -> None:
    written = WrittenFiles(None)
    data = write_csv(tmp_path / "f.csv", [["email"], ["a@example.com"]])
    served = written.serve(tmp_path / "f.csv", "local", "export")
    assert served is not None
    assert pages(written, served.id, "local") == [data]
    (tmp_path / "elsewhere.csv").write_bytes(data)
    (tmp_path / "f.csv").unlink()
    (tmp_path / "f.csv").symlink_to(tmp_path / "elsewhere.csv")  # the same bytes, by a link
    with pytest.raises(UserFacingError, match="changed on the server"):
        written.page(served.id, "local", 1)
    assert written.serve(tmp_path / "f.csv", "local", "export") is None
