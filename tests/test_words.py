from contacts_mcp.text.words import counted


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert [counted(n, "contact") for n in (0, 1, 2)] == ["0 contacts", "1 contact", "2 contacts"]
    assert counted(1, "property") == "1 property"
    assert counted(3, "property") == "3 properties"
    assert counted(18.0, "row") == "18 rows"  # a float count reads as a whole number
