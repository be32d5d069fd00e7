"""How an erasure finds a person and takes them out, file by file: an address is matched
in any case and never inside a longer one; a CSV loses exactly their rows, every other
byte kept (line endings, quoted cells across lines, a byte-order mark, bytes that are
not UTF-8); JSON loses their records; an audit line keeps its place with their reference."""

import json
from collections import Counter
from pathlib import Path

from contacts_mcp.services.erasure import Matcher, erase_local

ADA = "ada@example.com"
REF = "hmac:0123456789abcdef01234567"


def matcher() -> Matcher:
    return Matcher({ADA: REF})


def test_an_address_is_matched_in_any_case_and_never_inside_another() -> None:
    m = matcher()
    counts: Counter[str] = Counter()
    text = (
        "to ADA@Example.com, 'ada@example.com' and <ada@example.com>; not "
        "xada@example.com, ada@example.com.au, ada@example.community or ada.b@example.com"
    )
    assert m.text(text, counts) == (
        f"to {REF}, '{REF}' and <{REF}>; not "
        "xada@example.com, ada@example.com.au, ada@example.community or ada.b@example.com"
    )
    assert counts == {ADA: 3}
    assert m.cell(" 'Ada@Example.com ") == ADA  # as a spreadsheet-safe cell writes it
    assert m.cell("ada@example.com.au") is None
    assert m.cell("a" * 2000 + "@example.com") is None


def test_json_loses_their_records_and_keeps_everyone_elses() -> None:
    counts: Counter[str] = Counter()
    job = {
        "contacts": [ADA, "ben@example.com"],
        "rows": [
            {"email": "Ada@example.com", "first_name": "Ada", "plan": "pro"},
            {"email": "ben@example.com", "first_name": "Ben"},
        ],
        "csv_text": f"email,first_name\r\n{ADA},Ada\r\nben@example.com,Ben\r\n",
        "message": f"skipped {ADA}: already there",
    }
    assert matcher().json(job, counts) == {
        "contacts": [REF, "ben@example.com"],
        "rows": [REF, {"email": "ben@example.com", "first_name": "Ben"}],
        "csv_text": "email,first_name\r\nben@example.com,Ben\r\n",
        "message": f"skipped {REF}: already there",
    }
    assert counts == {ADA: 4}


def test_a_csv_loses_exactly_their_rows(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    snapshots = folder / "snapshots"
    snapshots.mkdir(parents=True)
    raw = (
        b"\xef\xbb\xbfemail,first_name,note\r\n"
        b'ben@example.com,Ben,"two\r\nlines"\r\n'
        b"'ADA@example.com,Ada,x\r\n"
        b'cy@example.com,Cy,"mentions ada@example.com"\r\n'
        b"dee@example.com,D\xe9e,latin-1 byte\r\n"
    )
    path = snapshots / "deleted-20261203-000000-abc.csv"
    path.write_bytes(raw)
    preview = erase_local(folder, matcher(), apply=False, account="a")
    assert path.read_bytes() == raw  # a preview changes nothing
    [place] = preview.found[ADA]
    assert (place.kind, place.records) == ("snapshot", 2)  # her row, and a mention
    done = erase_local(folder, matcher(), apply=True, account="a")
    assert done.found[ADA][0].records == 2
    assert path.read_bytes() == (
        b"\xef\xbb\xbfemail,first_name,note\r\n"
        b'ben@example.com,Ben,"two\r\nlines"\r\n'
        b'cy@example.com,Cy,"mentions ' + REF.encode() + b'"\r\n'
        b"dee@example.com,D\xe9e,latin-1 byte\r\n"
    )
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert erase_local(folder, matcher(), apply=True, account="a").found == {}
    assert list(snapshots.iterdir()) == [path]  # no file left from the rewrite


def test_audit_lines_keep_their_place_with_the_reference(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    lines = [
        {"time": "t1", "caller": "local", "tool": "update_contact", "target": "Ada@example.com"},
        {"time": "t2", "caller": "local", "tool": "update_contact", "target": "ben@example.com"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rotated = tmp_path / "audit.log.20260101T000000Z-1"
    rotated.write_text(json.dumps({**lines[0], "time": "t0"}) + "\n")
    places = erase_local(tmp_path / "state", matcher(), apply=True, account="a", audit_log=log)
    assert sorted(p.where for p in places.found[ADA]) == [str(log), str(rotated)]
    kept = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["target"] for line in kept] == [REF, "ben@example.com"]
    assert [line["time"] for line in kept] == ["t1", "t2"]
    assert json.loads(rotated.read_text())["target"] == REF
