"""One rule for how much of a stored value reaches the model (`text.caps`)."""

from contacts_mcp.text.caps import (
    MAX_SHOWN_FIELD_CHARS,
    MAX_SHOWN_ITEMS,
    MAX_SHOWN_PROPERTIES,
    MAX_SHOWN_VALUE_CHARS,
    MORE_KEY,
    shown,
    shown_data,
    shown_properties,
    some_of,
)


def test_text_within_the_cap_is_shown_whole() -> None:
    assert shown("a" * MAX_SHOWN_FIELD_CHARS) == "a" * MAX_SHOWN_FIELD_CHARS
    assert shown("") == ""


def test_longer_text_is_cut_to_the_cap_with_a_marker_saying_how_much_was_cut() -> None:
    for length in (MAX_SHOWN_FIELD_CHARS + 1, 10_000, 1_000_000):
        cut = shown("a" * length)
        assert len(cut) == MAX_SHOWN_FIELD_CHARS
        kept = cut.index("…")
        assert cut[kept:] == f"… [{length - kept:,} more characters]"


def test_property_values_have_the_longer_cap_and_other_values_pass() -> None:
    values = {"bio": "b" * (MAX_SHOWN_VALUE_CHARS + 5), "seats": 3, "vip": True, "none": None}
    capped = shown_properties(values)
    assert len(str(capped["bio"])) == MAX_SHOWN_VALUE_CHARS
    assert str(capped["bio"]).endswith("more characters]")
    assert (capped["seats"], capped["vip"], capped["none"]) == (3, True, None)


def test_past_the_limit_properties_end_with_a_count_of_the_rest() -> None:
    values = {f"p{i}": i for i in range(MAX_SHOWN_PROPERTIES + 7)}
    capped = shown_properties(values)
    assert list(capped)[:-1] == [f"p{i}" for i in range(MAX_SHOWN_PROPERTIES)]
    assert capped[MORE_KEY] == "7 more properties not shown"
    assert shown_properties({"p": 1}) == {"p": 1}  # nothing left out, nothing said


def test_keys_that_cut_to_the_same_text_count_as_left_out() -> None:
    long = "k" * (MAX_SHOWN_FIELD_CHARS * 2)
    capped = shown_properties({long + "1": 1, long + "2": 2, MORE_KEY: "forged"})
    assert list(capped.values()) == [1, "2 more properties not shown"]


def test_data_of_no_fixed_shape_follows_the_same_rule() -> None:
    data = {"segments": ["s" * 5000] * (MAX_SHOWN_ITEMS + 3), "note": "n" * 5000}
    capped = shown_data(data)
    assert isinstance(capped, dict)
    assert len(capped["segments"]) == MAX_SHOWN_ITEMS + 1
    assert capped["segments"][-1] == "3 more items not shown"
    assert len(capped["segments"][0]) == MAX_SHOWN_VALUE_CHARS
    assert len(capped["note"]) == MAX_SHOWN_VALUE_CHARS


def test_names_in_prose_are_a_few_and_a_count() -> None:
    assert some_of(["plan", "seats"]) == "plan, seats"
    assert some_of([f"p{i}" for i in range(25)], 3) == "p0, p1, p2 and 22 more"
    assert some_of([]) == ""
