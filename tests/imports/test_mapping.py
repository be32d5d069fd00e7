"""Column mapping proposals, value parsing, and the email check against email-validator."""

from __future__ import annotations

import itertools

import pytest
from email_validator import EmailNotValidError, validate_email

from contacts_mcp.api.models import PropertyType
from contacts_mcp.imports.mapping import (
    _fast_check,
    check_column_map,
    check_email,
    parse_number,
    parse_unsubscribed,
    propose_mapping,
)
from contacts_mcp.imports.models import ColumnProposal
from contacts_mcp.text.sanitize import formula_safe

FULLWIDTH = "\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25"  # EXAMPLE


def targets(proposals: list[ColumnProposal]) -> dict[str, str]:
    return {p.column: p.maps_to for p in proposals}


def by_column(proposals: list[ColumnProposal]) -> dict[str, ColumnProposal]:
    return {p.column: p for p in proposals}


ROW = ["ann@example.com", "Ann", "Lee", "yes"]

# -- proposals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Email", "email"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("mail", "email"),
        ("EMAIL_ADDRESS", "email"),
        ("First Name", "first_name"),
        ("firstname", "first_name"),
        ("Given name", "first_name"),
        ("fname", "first_name"),
        ("Forename", "first_name"),
        ("Prénom", "first_name"),
        ("Last Name", "last_name"),
        ("Surname", "last_name"),
        ("family_name", "last_name"),
        ("lname", "last_name"),
        ("Unsubscribed", "unsubscribed"),
        ("Opted Out", "unsubscribed"),
        ("opt-out", "unsubscribed"),
        ("Unsubscribe", "unsubscribed"),
        ("Do Not Email", "unsubscribed"),
    ],
)
def test_header_synonyms_map_to_contact_fields(header: str, target: str) -> None:
    values = {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}
    headers = ["Contact", header] if target != "email" else [header]
    row = ["ann@example.com", values.get(target, "yes")] if target != "email" else [ROW[0]]
    proposals = propose_mapping(headers, [row], {})
    assert by_column(proposals)[header].maps_to == target
    assert "means" in by_column(proposals)[header].reason


def test_a_column_of_addresses_is_the_email_column_whatever_its_header() -> None:
    rows = [["Ann", "ann@example.com"], ["Bob", "bob@example.org"], ["Cy", "not given"]]
    proposals = by_column(propose_mapping(["Who", "Contact"], rows, {}))
    assert proposals["Contact"].maps_to == "email"
    assert "67% of the sampled values" in proposals["Contact"].reason


def test_there_is_exactly_one_email_target() -> None:
    rows = [["a@example.com", "a.work@example.com"], ["b@example.com", "b.work@example.com"]]
    proposals = by_column(propose_mapping(["Email", "Work Email"], rows, {}))
    assert proposals["Email"].maps_to == "email"
    assert proposals["Work Email"].maps_to == "work_email"
    assert "is the email" in proposals["Work Email"].reason


def test_an_email_header_without_addresses_loses_to_a_column_of_addresses() -> None:
    rows = [["", "a@example.com"], ["", "b@example.com"]]
    assert targets(propose_mapping(["Email", "Login"], rows, {}))["Login"] == "email"


def test_no_email_column_is_proposed_when_nothing_looks_like_one() -> None:
    proposals = propose_mapping(["Name", "City"], [["Ann", "Oslo"]], {})
    assert "email" not in targets(proposals).values()


def test_existing_properties_match_ignoring_case_and_punctuation() -> None:
    existing: dict[str, PropertyType] = {
        "Company": "string",
        "planName": "string",
        "seats": "number",
    }
    rows = [["a@example.com", "Acme", "pro", "3"]]
    proposals = by_column(
        propose_mapping(["Email", "company", "Plan Name", "SEATS"], rows, existing)
    )
    assert proposals["company"].maps_to == "Company"  # the existing key's exact spelling
    assert proposals["Plan Name"].maps_to == "planName"
    assert proposals["SEATS"].maps_to == "seats"
    assert proposals["SEATS"].property_type == "number"
    assert not any(p.new_property for p in proposals.values())


def test_an_existing_number_property_with_text_values_says_so() -> None:
    proposal = propose_mapping(["Email", "Seats"], [["a@example.com", "many"]], {"seats": "number"})
    assert "not numbers" in proposal[1].reason


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Company", "company"),
        ("Signup Date", "signup_date"),
        ("  Plan (monthly) ", "plan_monthly"),
        ("Straße", "strasse"),
        ("2FA enabled", "col_2fa_enabled"),
        ("x" * 60, "x" * 50),
        ("名前", "column_2"),
    ],
)
def test_new_property_keys_are_derived_from_the_header(header: str, key: str) -> None:
    proposal = propose_mapping(["Email", header], [["a@example.com", "v"]], {})[1]
    assert (proposal.maps_to, proposal.new_property) == (key, True)


def test_new_property_keys_do_not_collide() -> None:
    rows = [["a@example.com", "x", "y", "z"]]
    proposals = propose_mapping(["Email", "Plan", "plan!", "Company"], rows, {"company": "string"})
    assert [p.maps_to for p in proposals] == ["email", "plan", "plan_2", "company"]


@pytest.mark.parametrize(
    ("values", "type_", "why"),
    [
        (["3", "10", "-2", "4.5", "1e3"], "number", "look like numbers"),
        (["3", "ten"], "string", "text values"),
        ([*map(str, range(9)), "many"], "number", "(1 of 10 sampled are not)"),
        (["02134", "10001"], "string", "leading zeros"),
        (["+4915112345678"], "string", "leading zeros or a '+'"),
        (["1234567890123456789"], "string", "more digits"),
        (["3", "", " 7 "], "number", "look like numbers"),
    ],
)
def test_new_property_types_are_inferred_from_the_values(
    values: list[str], type_: str, why: str
) -> None:
    rows = [["a@example.com", value] for value in values]
    proposal = propose_mapping(["Email", "Value"], rows, {})[1]
    assert proposal.property_type == type_
    assert why in proposal.reason


@pytest.mark.parametrize(
    "header", ["id", "ID", "uuid", "created_at", "Updated At", "row", "Unnamed: 0"]
)
def test_export_bookkeeping_columns_are_skipped(header: str) -> None:
    proposal = propose_mapping(["Email", header], [["a@example.com", "17"]], {})[1]
    assert proposal.maps_to == "skip"
    assert "not the contact" in proposal.reason


def test_reserved_names_are_skipped() -> None:
    proposal = propose_mapping(["Email", "unsubscribe_url"], [["a@example.com", "http://x"]], {})
    assert (proposal[1].maps_to, "reserved" in proposal[1].reason) == ("skip", True)


def test_empty_columns_are_skipped() -> None:
    proposal = propose_mapping(["Email", "Notes"], [["a@example.com", " "], ["b@x.io", ""]], {})
    assert proposal[1].maps_to == "skip"
    assert proposal[1].reason == "empty in the first 2 rows"


def test_an_unsubscribed_header_with_other_values_becomes_a_property() -> None:
    rows = [["a@example.com", "since 2021"], ["b@example.com", "never"]]
    proposal = propose_mapping(["Email", "Unsubscribed"], rows, {})[1]
    assert proposal.maps_to == "skip"  # "unsubscribed" is no name for a property either
    assert "not yes/no" in proposal.reason


def test_samples_are_three_distinct_values_cut_to_sixty_characters() -> None:
    rows = [
        ["a@example.com", "x" * 100],
        ["b@example.com", "x" * 100],
        ["c@x.io", "b"],
        ["d@x.io", "c"],
    ]
    proposal = propose_mapping(["Email", "Note"], rows, {})[1]
    assert proposal.samples == ["x" * 59 + "…", "b", "c"]


# -- column map checks --------------------------------------------------------------------


def test_a_sound_column_map_passes() -> None:
    check_column_map(
        ["Email", "Name", "Plan"], {"Email": "email", "Name": "first_name", "Plan": "plan"},
        {"plan": "string"},
    )  # fmt: skip


def test_a_column_map_lists_every_problem() -> None:
    with pytest.raises(ValueError, match="problems") as caught:
        check_column_map(
            ["Email", "Name", "Plan", "Other"],
            {"Emial": "last_name", "Name": "first_name", "Plan": "first_name", "Other": "tier"},
            {},
        )
    message = str(caught.value)
    assert "not columns of the file: 'Emial'" in message
    assert "no column maps to 'email'" in message
    assert "both map to 'first_name'" in message
    assert "'tier', which is neither" in message


def test_a_column_map_with_two_email_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="2 columns map to 'email'"):
        check_column_map(["A", "B"], {"A": "email", "B": "email"}, {})


# -- value parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        ("true", True), ("TRUE", True), ("yes", True), ("Y", True), ("1", True),
        ("unsubscribed", True), ("Opted Out", True), ("opt-out", True), (" yes ", True),
        ("false", False), ("No", False), ("n", False), ("0", False), ("subscribed", False),
        ("opted in", False), ("", None), ("   ", None),
    ],
)  # fmt: skip
def test_unsubscribed_values_parse(value: str, flag: bool | None) -> None:
    assert parse_unsubscribed(value) is flag


@pytest.mark.parametrize("value", ["maybe", "2", "yes please", "☑"])
def test_other_unsubscribed_values_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not yes/no"):
        parse_unsubscribed(value)


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("", None), ("  ", None), ("42", 42), ("-7", -7), ("+3", 3), ("4.5", 4.5),
        (" 1e3 ", 1000.0), (".5", 0.5), ("4.", 4.0), ("1E-2", 0.01), ("007", 7),
    ],
)  # fmt: skip
def test_numbers_parse(value: str, number: float | None) -> None:
    parsed = parse_number(value)
    assert parsed == number
    assert type(parsed) is type(number)


@pytest.mark.parametrize(
    "value", ["nan", "inf", "-Infinity", "1,234", "4,5", "1_000", "0x10", "abc", "1e999", "--1"]
)
def test_other_numbers_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="number"):
        parse_number(value)


def test_a_decimal_comma_gets_a_hint() -> None:
    with pytest.raises(ValueError, match="use a dot for decimals"):
        parse_number("4,5")


# -- email check --------------------------------------------------------------------------

# fmt: off
LOCALS = [
    "alice", "Alice", "a", "a.b", "first.last", "a..b", ".a", "a.", "a+tag", "o'brien",
    "xxx+!", "=1+1", "-x", "+cmd", "=cmd|x", "a_b", "a-b", "INFO", "Postmaster", "Sales",
    "x" * 64, "x" * 65, '"quoted"', '"a b"', "a b", "a\u00a0b", "ツ", "josé", "a\\b", "{x}",
    "~", "#!$%&'*+/=?^_`{|}~-", "a\u200bb", "a,b", "a;b", "a(b)", "a[b]", "a:b", "",
]
DOMAINS = [
    "example.com", "EXAMPLE.COM", "Example.Co.Uk", "sub.example.io", "a.b.c.d.example.org",
    "x.co", "example", "localhost", "example.test", "x.invalid", "x.local", "x.onion",
    "1.0.0.127.in-addr.arpa", "x.TEST", "exam_ple.com", "-example.com", "example-.com",
    "ex--ample.com", "ab--cd.com", "a-b.com", "xn--bcher-kva.de", "XN--BCHER-KVA.DE",
    "bücher.de", f"{FULLWIDTH}.com", "example.com.", ".example.com", "example..com",
    "example.c", "example.123", "123.com", "example.xn--p1ai", "[192.0.2.1]",
    "l" * 63 + ".com", "l" * 64 + ".com", "example.museum", "ex ample.com", "example.com\u200b",
]
WHOLE = [
    " alice@example.com", "alice@example.com\t", "\u00a0alice@example.com",
    "\ufeffalice@example.com", "Alice <alice@example.com>", "mailto:alice@example.com",
    "a@x.com;b@y.com", "alice@@example.com", "alice", "@example.com", "alice@", "a@b@c.com",
    "alice@example.com\u202e",
    "a" * 64 + "@" + ".".join(["d" * 63] * 2) + "." + "e" * 57 + ".com",  # 254 characters
    "a" * 64 + "@" + ".".join(["d" * 63] * 2) + "." + "e" * 58 + ".com",  # 255 characters
    "a" * 10 + "@" + ".".join(["d" * 63] * 3) + "." + "e" * 57 + ".com",  # domain of 253
]
# fmt: on
CORPUS = [f"{local}@{domain}" for local, domain in itertools.product(LOCALS, DOMAINS)] + WHOLE


def validator(address: str) -> str | None:
    """email-validator's verdict under the import policy (surrounding ASCII space trimmed)."""
    try:
        return validate_email(
            address.strip(" \t\r\n\f\v"),
            check_deliverability=False,
            allow_smtputf8=False,
            strict=True,
        ).normalized
    except EmailNotValidError:
        return None


def ours(address: str) -> str | None:
    try:
        return check_email(address)
    except ValueError:
        return None


def test_the_corpus_is_big_and_tricky() -> None:
    verdicts = [validator(address) for address in CORPUS]
    assert len(CORPUS) >= 200
    assert sum(v is None for v in verdicts) >= 200
    assert sum(v is not None for v in verdicts) >= 200


def test_check_email_agrees_with_email_validator_on_every_address() -> None:
    disagreements = {
        address: (ours(address), validator(address))
        for address in CORPUS
        if ours(address) != validator(address)
    }
    assert disagreements == {}


def test_the_fast_path_accepts_only_what_email_validator_accepts_and_normalizes_alike() -> None:
    accepted = 0
    for address in CORPUS:
        fast = _fast_check(address.strip(" \t\r\n\f\v"))
        if fast is not None:
            accepted += 1
            assert fast == validator(address), address
    assert accepted >= 100  # the fast path does the work for ordinary addresses


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("Alice@Example.COM", "Alice@example.com"),  # the local part keeps its case
        (" alice@example.com\t", "alice@example.com"),
        ("INFO@example.com", "info@example.com"),  # RFC 2142 names are case-insensitive
        ("alice@xn--bcher-kva.de", "alice@bücher.de"),
        (f"alice@{FULLWIDTH}.com", "alice@example.com"),
    ],
)
def test_addresses_are_normalized(address: str, normalized: str) -> None:
    assert check_email(address) == normalized


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "missing email address"),
        ("   ", "missing email address"),
        ("alice@example.test", "special-use or reserved"),
        ("alice@example", "should have a period"),
        ("a" * 65 + "@example.com", "too long before the @-sign"),
        ("alice\u200b@example.com", "ZERO WIDTH SPACE"),
        ("josé@example.com", "Internationalized characters"),
    ],
)
def test_invalid_addresses_say_why(address: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_email(address)


def test_a_header_with_filler_words_or_a_plural_matches_the_existing_property() -> None:
    existing: dict[str, PropertyType] = {"plan": "string", "seats": "number", "company": "string"}
    headers = ["Email", "Plan Type", "# of seats", "Company Name", "Notes"]
    rows = [["a@x.com", "pro", "5", "Acme", "hi"], ["b@x.com", "free", "3", "Globex", "yo"]]
    proposals = by_column(propose_mapping(headers, rows, existing))
    assert {c: p.maps_to for c, p in proposals.items()} == {
        "Email": "email",
        "Plan Type": "plan",
        "# of seats": "seats",
        "Company Name": "company",
        "Notes": "notes",
    }
    assert "(the header without 'type')" in proposals["Plan Type"].reason
    assert not proposals["# of seats"].new_property


def test_two_properties_a_loose_header_could_mean_are_not_guessed_between() -> None:
    # "seat" and "seats_total" both read as "seat" once filler and plural go.
    existing: dict[str, PropertyType] = {"seat": "number", "seats_total": "number"}
    proposals = targets(propose_mapping(["Email", "# of Seats"], [["a@x.com", "5"]], existing))
    assert proposals["# of Seats"] == "of_seats"
    ambiguous: dict[str, PropertyType] = {"plan": "string", "plans": "string"}
    proposals = targets(propose_mapping(["Email", "Plan Type"], [["a@x.com", "x"]], ambiguous))
    assert proposals["Plan Type"] == "plan_type"  # a new property, not a guess


@pytest.mark.parametrize("header", ["Subscribed?", "Opted in", "Marketing consent", "opt-in"])
def test_a_yes_no_column_meaning_subscribed_is_flagged_as_inverted_and_skipped(
    header: str,
) -> None:
    rows = [["a@x.com", "yes"], ["b@x.com", "no"]]
    proposal = by_column(propose_mapping(["Email", header], rows, {}))[header]
    assert proposal.maps_to == "skip"
    assert "the opposite of unsubscribed" in proposal.reason


def test_a_value_problem_starts_with_a_word_so_a_report_cell_needs_no_escape() -> None:
    for parse, value in ((parse_number, "many"), (parse_unsubscribed, "maybe")):
        with pytest.raises(ValueError, match=r"^the value '") as caught:
            parse(value)
        assert formula_safe(str(caught.value)) == str(caught.value)
