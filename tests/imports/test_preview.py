"""The import preview and the mapped rows the import engine reads."""

from __future__ import annotations

import io
import re

import pytest

from contacts_mcp.api.models import PropertyType
from contacts_mcp.imports.csvio import CSVTable
from contacts_mcp.imports.models import PreviewReport, RowIssue
from contacts_mcp.imports.preview import FirstSeen, MappedRow, iter_mapped_rows, preview_table

EXISTING: dict[str, PropertyType] = {"plan": "string", "seats": "number"}

# A small file with one of each problem; the comments give each row's line.
KNOWN_PROBLEMS = "\r\n".join(
    [
        "Email,First Name,Last Name,Plan,Seats,Opted Out,Notes",  # 1
        "ann@example.com,Ann,Lee,pro,3,no,vip",  # 2
        "bob@example.com,Bob,,free,abc,yes,",  # 3 seats is not a number
        "not-an-email,Cy,,pro,1,no,",  # 4 invalid email
        ",Dee,,pro,1,no,",  # 5 missing email
        " ANN@Example.com,Ann,,pro,2,no,",  # 6 duplicate of 2
        'eve@example.com,Eve,"multi',  # 7 a value over two lines: no name may hold that
        'line",pro,5,yes,',  # 8
        "fay@example.com,Fay,Fox,pro,7,maybe,",  # 9 not yes/no
        "gus@example.com,Gus,Gray,pro",  # 10 too few fields
        "eve@example.com,Eve,,pro,1,no,",  # 11 first importable eve (7 had a problem)
        "bob@example.com,Bob,,free,4,yes,",  # 12 first importable bob (3 had a problem)
        "hal@example.com,Hal,,team,,,",  # 13 empty cells are left out
        "",
    ]
).encode()


NAME_WITH_A_BREAK = "last_name contains a line break or an invisible or control character"


def preview(data: bytes, **options: object) -> PreviewReport:
    with CSVTable(io.BytesIO(data)) as table:
        return preview_table(table, existing_properties=EXISTING, **options)  # type: ignore[arg-type]


def mapped(data: bytes, columns: dict[str, str], types: dict[str, PropertyType]) -> list[MappedRow]:
    with CSVTable(io.BytesIO(data)) as table:
        return list(iter_mapped_rows(table, columns, types))


def rows_of(examples: list[RowIssue]) -> list[tuple[int, str | None, str, str]]:
    return [(e.row, e.column, e.value, e.problem) for e in examples]


# -- the preview --------------------------------------------------------------------------


def test_a_preview_proposes_a_mapping_and_counts_each_problem_with_its_row() -> None:
    report = preview(KNOWN_PROBLEMS)
    assert report.format.model_dump() == {"encoding": "utf-8", "delimiter": ",", "has_header": True}
    assert report.column_map == {
        "Email": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Plan": "plan",
        "Seats": "seats",
        "Opted Out": "unsubscribed",
        "Notes": "notes",
    }
    assert report.new_properties == {"notes": "string"}
    assert report.rows == 11
    assert report.importable_rows == 4
    assert rows_of(report.invalid_emails.examples) == [
        (4, "Email", "not-an-email", "An email address must have an @-sign."),
        (5, "Email", "", "missing email address"),
    ]
    assert rows_of(report.duplicate_emails.examples) == [
        (6, "Email", "ANN@Example.com", "same as row 2"),
    ]
    assert rows_of(report.type_problems.examples) == [
        (3, "Seats", "abc", "the value 'abc' is not a number, but 'seats' is a number property"),
        (7, "Last Name", "multi line", NAME_WITH_A_BREAK),
        (9, "Opted Out", "maybe", "the value 'maybe' is not yes/no (or true/false, 1/0)"),
    ]
    assert rows_of(report.malformed_rows.examples) == [
        (10, None, "gus@example.com,Gus,Gray,pro", "the row has 4 fields; the header has 7")
    ]
    counts = [
        report.invalid_emails.count,
        report.duplicate_emails.count,
        report.type_problems.count,
        report.malformed_rows.count,
    ]
    assert counts == [2, 1, 3, 1]
    assert report.importable_rows + sum(counts) == report.rows
    assert report.notes == []


def test_the_sample_shows_importable_rows_as_they_would_be_sent() -> None:
    assert preview(KNOWN_PROBLEMS).sample == [
        {
            "email": "ann@example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "unsubscribed": False,
            "plan": "pro",
            "seats": 3,
            "notes": "vip",
        },
        {
            "email": "eve@example.com",
            "first_name": "Eve",
            "unsubscribed": False,
            "plan": "pro",
            "seats": 1,
        },
        {"email": "bob@example.com", "first_name": "Bob", "unsubscribed": True, "plan": "free"}
        | {"seats": 4},
        {"email": "hal@example.com", "first_name": "Hal", "plan": "team"},
    ]


def test_a_given_column_map_is_used_and_unmapped_columns_are_skipped() -> None:
    report = preview(
        KNOWN_PROBLEMS,
        column_map={"Email": "email", "Plan": "tier", "First Name": "first_name"},
        new_properties={"tier": "string", "unused": "number"},
    )
    assert report.column_map["Email"] == "email"
    assert report.column_map["Seats"] == "skip"
    assert report.new_properties == {"tier": "string"}
    assert report.type_problems.count == 0  # Seats and Opted Out are not imported
    assert report.importable_rows == 5  # row 12 now repeats row 3
    assert report.sample[0] == {"email": "ann@example.com", "first_name": "Ann", "tier": "pro"}
    tier = next(c for c in report.columns if c.column == "Plan")
    assert (tier.maps_to, tier.property_type, tier.new_property) == ("tier", "string", True)
    assert tier.samples == ["pro", "free", "team"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"column_map": {"Email": "email", "Plan": "tier"}}, "'Plan' maps to 'tier', which is"),
        ({"column_map": {"E-mail": "email"}}, "not columns of the file: 'E-mail'"),
        ({"column_map": {"Plan": "plan"}}, "no column maps to 'email'"),
        (
            {"column_map": {"Email": "email"}, "new_properties": {"bad key!": "string"}},
            "'bad key!' is not a valid key",
        ),
        (
            {"column_map": {"Email": "email"}, "new_properties": {"plan": "number"}},
            "'plan' already exists as a string property",
        ),
        (
            {"column_map": {"Email": "email"}, "new_properties": {"id": "string"}},
            "'id' is a built-in field or reserved name",
        ),
        ({"new_properties": {"tier": "string"}}, "only applies together with a column_map"),
    ],
)
def test_a_given_column_map_that_does_not_fit_is_refused(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        preview(KNOWN_PROBLEMS, **options)


def test_without_an_email_column_nothing_is_importable_and_a_note_says_why() -> None:
    report = preview(b"Name,City\nAnn,Oslo\nBob,Rome\n")
    assert report.importable_rows == 0
    assert report.invalid_emails.count == 2
    assert "No column looks like email addresses" in report.notes[0]


def test_a_header_only_file_previews_as_zero_rows() -> None:
    report = preview(b"email,name\n")
    assert (report.rows, report.importable_rows, report.sample) == (0, 0, [])
    assert report.notes == ["The file has a header row but no data rows."]


def test_a_headerless_file_previews_with_generated_column_names() -> None:
    report = preview(b"ann@example.com,Ann\nbob@example.com,Bob\n")
    assert report.column_map == {"column_1": "email", "column_2": "column_2"}
    assert report.importable_rows == 2


def test_progress_is_reported_every_ten_thousand_rows() -> None:
    data = b"email\n" + b"".join(b"u%d@example.com\n" % i for i in range(25_000))
    calls: list[int] = []
    report = preview(data, progress=calls.append)
    assert calls == [10_000, 20_000]
    assert report.rows == 25_000


def test_a_large_file_is_counted_exactly() -> None:
    # 200,000 rows: every 100th (from 50) has a bad address, every 100th (from 75) repeats
    # the address of the row 70 before it in upper case, every 1000th (from 999) has bad seats.
    lines = ["email,first_name,seats"]
    for i in range(200_000):
        email, seats = f"user{i}@example.com", str(i % 50)
        if i % 100 == 50:
            email = f"user{i}_at_example.com"
        elif i % 100 == 75:
            email = f"USER{i - 70}@EXAMPLE.COM"
        if i % 1000 == 999:
            seats = "n/a"
        lines.append(f"{email},Name {i},{seats}")
    report = preview("\n".join(lines).encode())
    assert report.rows == 200_000
    assert report.invalid_emails.count == 2_000
    assert report.duplicate_emails.count == 2_000
    assert report.type_problems.count == 200
    assert report.importable_rows == 195_800
    assert report.duplicate_emails.examples[0].row == 77
    assert report.duplicate_emails.examples[0].problem == "same as row 7"
    assert len(report.duplicate_emails.examples) == 10


# -- rows for the import engine -----------------------------------------------------------


def test_mapped_rows_carry_parsed_values_and_say_why_a_row_cannot_be_imported() -> None:
    columns = {
        "Email": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Plan": "plan",
        "Seats": "seats",
        "Opted Out": "unsubscribed",
    }
    rows = {row.row: row for row in mapped(KNOWN_PROBLEMS, columns, EXISTING)}
    assert list(rows) == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]
    assert rows[2] == MappedRow(
        2,
        "ann@example.com",
        {"first_name": "Ann", "last_name": "Lee", "unsubscribed": False},
        {"plan": "pro", "seats": 3},
        None,
    )
    assert rows[3].problem == "the value 'abc' is not a number, but 'seats' is a number property"
    assert rows[3].email == "bob@example.com"
    assert rows[4].email is None
    assert rows[4].problem is not None
    assert rows[4].problem.startswith("invalid email 'not-an-email': ")
    assert rows[5].problem == "missing email address"
    assert (rows[6].email, rows[6].problem) == ("ANN@example.com", None)  # engine dedupes
    assert (
        rows[9].problem
        == "column 'Opted Out': the value 'maybe' is not yes/no (or true/false, 1/0)"
    )
    assert rows[10] == MappedRow(10, None, {}, {}, "the row has 4 fields; the header has 7")
    assert rows[13] == MappedRow(
        13, "hal@example.com", {"first_name": "Hal"}, {"plan": "team"}, None
    )


def test_mapped_rows_check_the_column_map_before_reading() -> None:
    with CSVTable(io.BytesIO(KNOWN_PROBLEMS)) as table:
        with pytest.raises(ValueError, match="no column maps to 'email'"):
            iter_mapped_rows(table, {"Plan": "plan"}, EXISTING)
        assert sum(1 for _ in table.rows()) == 11  # nothing was consumed


# -- duplicate memory ---------------------------------------------------------------------


def test_first_seen_remembers_every_first_line_as_it_grows() -> None:
    seen = FirstSeen(capacity=8)
    keys = [f"user{i}@example.com" for i in range(300_000)]
    assert all(seen.add(key, line) == 0 for line, key in enumerate(keys, start=2))
    assert all(seen.add(key, 10**7) == line for line, key in enumerate(keys, start=2))
    assert seen.add("someone.new@example.com", 5) == 0
