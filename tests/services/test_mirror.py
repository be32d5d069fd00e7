"""The contacts mirror: searches agree with a brute-force filter; full syncs swap atomically."""

from __future__ import annotations

import operator
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contacts_mcp.services.mirror import Filter, Mirror, MirroredContact, SyncCheckpoint

Members = dict[str, set[str]]

SEGMENTS = {"seg-a": 0.5, "seg-b": 0.2, "seg-c": 0.05, "seg-empty": 0.0}
DOMAINS = ["acme.com", "sub.acme.com", "notacme.com", "example.org", "Mixed.CASE.io"]
FIRST = ["Ada", "ada", "Émile", "Zoë", "", "O'Brien", "100%", "a_b", "ÅSA", 'Quo"te']
LAST = ["Lovelace", "LOVELACE", "", "Straße", "50%_off", "Ñandú"]
PLANS = ["free", "Pro", "pro", "enterprise", "", "100%"]
CITIES = ["Paris", "paris", "São Paulo", "Zürich", "New_York", "it's"]
START = datetime(2025, 11, 28, tzinfo=UTC)


def api_time(moment: datetime) -> str:
    # As Resend sends it: Postgres text, trailing zeros of the fraction dropped.
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".") + "+00"


def contact(
    rng: random.Random, i: int, *, moment: datetime, properties: bool = True
) -> MirroredContact:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    props: dict[str, str | int | float | bool] | None = None
    if properties and rng.random() < 0.8:
        props = {}
        if rng.random() < 0.9:
            props["plan"] = rng.choice(PLANS)
        if rng.random() < 0.8:
            props["score"] = rng.choice([rng.randint(0, 100), round(rng.random() * 100, 2)])
        if rng.random() < 0.7:
            props["city"] = rng.choice(CITIES)
        if rng.random() < 0.3:
            props["vip"] = rng.random() < 0.5
    return MirroredContact(
        id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        email=f"{(first or 'x').replace(' ', '')}.User{i}@{rng.choice(DOMAINS)}",
        first_name=first,
        last_name=last,
        unsubscribed=rng.random() < 0.2,
        created_at=api_time(moment),
        properties=props,
    )


def make_account(size: int = 500, seed: int = 1) -> tuple[list[MirroredContact], Members]:
    """Contacts newest first, as the API lists them, and each segment's members."""
    rng = random.Random(seed)
    contacts = []
    for i in range(size):
        # Whole minutes, often repeated: ties in created_at are broken by id.
        moment = START + timedelta(
            minutes=rng.randrange(6 * 24 * 60) // 7 * 7,
            microseconds=rng.choice([0, 0, 5, 840_000, 842_160]),
        )
        contacts.append(contact(rng, i, moment=moment))
    contacts.sort(key=age, reverse=True)
    members = {
        sid: {c.id for c in contacts if rng.random() < share} for sid, share in SEGMENTS.items()
    }
    return contacts, members


def age(c: MirroredContact) -> tuple[datetime, str]:
    return datetime.fromisoformat(c.created_at), c.id


def full_sync(
    mirror: Mirror,
    contacts: Sequence[MirroredContact],
    members: Members,
    *,
    page: int = 100,
    now: float = 1000.0,
) -> None:
    mirror.begin_full_sync()
    for at in range(0, len(contacts), page):
        chunk = contacts[at : at + page]
        mirror.stage_contacts(chunk, cursor=chunk[-1].id)
    mirror.start_segments([(sid, sid.upper()) for sid in members])
    for sid, ids in members.items():
        ordered = sorted(ids)
        mirror.stage_members(sid, ordered[:10], cursor=None, segment_done=False)
        mirror.stage_members(sid, ordered[10:], cursor=None, segment_done=True)
    mirror.finish_full_sync(now)


def listed(c: MirroredContact) -> MirroredContact:
    """The contact as a list page gives it: without properties."""
    return replace(c, properties=None)


# -- the brute-force reference ----------------------------------------------------------

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def moment_of(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def matches(c: MirroredContact, f: Filter, members: Members) -> bool:
    value = f.value
    if f.field in ("email", "domain", "first_name", "last_name"):
        text = {
            "email": c.email,
            "domain": c.email.rsplit("@", 1)[1],
            "first_name": c.first_name,
            "last_name": c.last_name,
        }[f.field].lower()
        if f.op == "empty":
            return text == ""
        if f.op == "not_empty":
            return text != ""
        assert isinstance(value, str)
        if f.op == "contains":
            return value.lower() in text
        # "@acme.com" is read as "acme.com".
        return text == (value.lower().removeprefix("@") if f.field == "domain" else value.lower())
    if f.field == "unsubscribed":
        return c.unsubscribed == value
    if f.field == "created_at":
        assert isinstance(value, str)
        return COMPARE[f.op](moment_of(c.created_at), moment_of(value))
    if f.field == "segment":
        inside = c.id in members.get(str(value), set())
        return inside if f.op == "in" else not inside
    assert f.key is not None
    if c.properties is None:
        return False
    found = c.properties.get(f.key)
    if f.op == "empty":
        return found is None or found == ""
    if f.op == "not_empty":
        return found is not None and found != ""
    if found is None:
        return False
    if f.op == "contains":
        return isinstance(found, str) and str(value).lower() in found.lower()
    if f.op in COMPARE:
        return is_number(found) and COMPARE[f.op](found, value)
    if isinstance(value, bool):
        return isinstance(found, bool) and found == value
    if is_number(value):
        return is_number(found) and found == value
    return isinstance(found, str) and found.lower() == str(value).lower()


def expected(
    contacts: Sequence[MirroredContact], members: Members, filters: Sequence[Filter]
) -> list[MirroredContact]:
    found = [c for c in contacts if all(matches(c, f, members) for f in filters)]
    return sorted(found, key=age, reverse=True)


# -- a generated account, every filter against the reference ------------------------------

CONTACTS, MEMBERS = make_account()
SOME = CONTACTS[37]
WHOLE_SCORE = next(
    c.properties["score"]
    for c in CONTACTS
    if c.properties and isinstance(c.properties.get("score"), int)
)
POOL = [
    Filter("email", "eq", SOME.email.upper()),
    Filter("email", "contains", "user1"),
    Filter("email", "contains", "%"),
    Filter("email", "contains", "_"),
    Filter("domain", "eq", "acme.com"),
    Filter("domain", "eq", "@ACME.com"),
    Filter("domain", "eq", "mixed.case.IO"),
    Filter("domain", "contains", "acme"),
    Filter("first_name", "eq", "ADA"),
    Filter("first_name", "eq", ""),
    Filter("first_name", "contains", "É"),
    Filter("first_name", "contains", "%"),
    Filter("first_name", "contains", "_"),
    Filter("first_name", "contains", "'"),
    Filter("first_name", "contains", '"'),
    Filter("first_name", "empty"),
    Filter("first_name", "not_empty"),
    Filter("last_name", "eq", "straße"),
    Filter("last_name", "contains", "%_"),
    Filter("last_name", "empty"),
    Filter("last_name", "not_empty"),
    Filter("unsubscribed", "eq", True),
    Filter("unsubscribed", "eq", False),
    Filter("created_at", "lt", "2025-11-30"),
    Filter("created_at", "gte", "2025-11-30"),
    Filter("created_at", "gt", "2025-11-30T12:00:00Z"),
    Filter("created_at", "lte", "2025-12-01T01:00:00+02:00"),
    Filter("created_at", "lte", SOME.created_at),
    Filter("created_at", "gt", SOME.created_at),
    Filter("segment", "in", "seg-a"),
    Filter("segment", "in", "seg-c"),
    Filter("segment", "not_in", "seg-b"),
    Filter("segment", "in", "seg-empty"),
    Filter("segment", "not_in", "seg-unknown"),
    Filter("property", "eq", "pro", key="plan"),
    Filter("property", "eq", "", key="plan"),
    Filter("property", "contains", "ar", key="city"),
    Filter("property", "contains", "_", key="city"),
    Filter("property", "contains", "%", key="plan"),
    Filter("property", "contains", "'", key="city"),
    Filter("property", "contains", "ü", key="city"),
    Filter("property", "gt", 50, key="score"),
    Filter("property", "gte", 50.5, key="score"),
    Filter("property", "lt", 10, key="score"),
    Filter("property", "lte", 0, key="score"),
    Filter("property", "eq", WHOLE_SCORE, key="score"),
    Filter("property", "eq", float(WHOLE_SCORE), key="score"),
    Filter("property", "eq", True, key="vip"),
    Filter("property", "eq", False, key="vip"),
    Filter("property", "empty", key="plan"),
    Filter("property", "not_empty", key="plan"),
    Filter("property", "empty", key="absent"),
    Filter("property", "eq", "x", key="absent"),
]
COMBINATIONS = [
    [Filter("domain", "eq", "acme.com"), Filter("property", "eq", "pro", key="plan")],
    [
        Filter("domain", "eq", "acme.com"),
        Filter("property", "eq", "pro", key="plan"),
        Filter("segment", "not_in", "seg-a"),
    ],
    [Filter("segment", "in", "seg-a"), Filter("segment", "not_in", "seg-b")],
    *(random.Random(3).sample(POOL, k) for k in (2, 2, 2, 3, 3, 3, 4) for _ in range(6)),
]


def label(filters: Sequence[Filter]) -> str:
    return " & ".join(f"{f.key or f.field} {f.op} {f.value!r}" for f in filters) or "none"


@pytest.fixture(scope="module")
def mirror() -> Iterator[Mirror]:
    mirror = Mirror(":memory:")
    full_sync(mirror, CONTACTS, MEMBERS)
    yield mirror
    mirror.close()


@pytest.mark.parametrize("filters", [[], *([f] for f in POOL), *COMBINATIONS], ids=label)
def test_a_search_finds_what_a_brute_force_filter_finds(
    mirror: Mirror, filters: list[Filter]
) -> None:
    want = expected(CONTACTS, MEMBERS, filters)

    whole = mirror.search(filters, limit=1000)
    assert whole.count == len(want)
    assert whole.contacts == want
    assert whole.next_after is None
    assert mirror.search(filters, limit=1, count_only=True).count == len(want)

    pages, after = [], None
    while True:
        page = mirror.search(filters, limit=7, after=after)
        assert page.count == len(want)
        pages.extend(page.contacts)
        after = page.next_after
        if after is None:
            break
    assert [c.id for c in pages] == [c.id for c in want]


def test_the_account_exercises_every_filter() -> None:
    # Guards the generator: a filter that matches nothing or everything proves little.
    trivial = [
        label([f])
        for f in POOL
        if len(expected(CONTACTS, MEMBERS, [f])) in (0, len(CONTACTS))
        and f.value not in ("seg-empty", "seg-unknown", "x", "%")
        and f.key != "absent"
    ]
    assert trivial == []


def test_search_returns_properties_only_when_known(mirror: Mirror) -> None:
    unknown = next(c for c in CONTACTS if c.properties is None)
    known = next(c for c in CONTACTS if c.properties)
    for c in (unknown, known):
        found = mirror.search([Filter("email", "eq", c.email)], limit=5).contacts
        assert found == [c]
    assert mirror.state().properties_known == sum(c.properties is not None for c in CONTACTS)


def test_hostile_values_are_plain_text(mirror: Mirror) -> None:
    for value in ("'; DROP TABLE contacts; --", "%' OR 1=1 --", "\\", "\x00", "🙂"):
        assert mirror.search([Filter("email", "contains", value)], limit=5).count == 0
        assert mirror.search([Filter("property", "eq", value, key=value)], limit=5).count == 0
    assert mirror.state().contacts == len(CONTACTS)


def test_an_unknown_cursor_is_an_error(mirror: Mirror) -> None:
    with pytest.raises(ValueError, match="unknown cursor"):
        mirror.search([], limit=5, after="not-an-id")


@pytest.mark.parametrize(
    "bad",
    [
        Filter("email", "gt", "a"),
        Filter("email", "empty"),
        Filter("email", "eq", 3),
        Filter("domain", "in", "acme.com"),
        Filter("first_name", "lt", "b"),
        Filter("unsubscribed", "eq", "yes"),
        Filter("unsubscribed", "contains", "t"),
        Filter("created_at", "eq", "2025-11-30"),
        Filter("created_at", "lt", "yesterday"),
        Filter("created_at", "lt", 20251130),
        Filter("segment", "eq", "seg-a"),
        Filter("segment", "in", None),
        Filter("property", "eq", "pro"),
        Filter("property", "gt", "10", key="score"),
        Filter("property", "gt", True, key="score"),
        Filter("property", "in", "pro", key="plan"),
        Filter("property", "contains", 3, key="plan"),
        Filter("email", "eq", "a@b.c", key="plan"),
    ],
    ids=lambda f: f"{f.field} {f.op} {f.value!r} key={f.key}",
)
def test_an_impossible_filter_is_an_error(mirror: Mirror, bad: Filter) -> None:
    with pytest.raises(ValueError, match=r"."):
        mirror.search([bad], limit=5)


def test_a_bare_date_means_midnight_utc(mirror: Mirror) -> None:
    before = mirror.search([Filter("created_at", "lt", "2025-11-30")], limit=1, count_only=True)
    at_midnight = [Filter("created_at", "lt", "2025-11-30T00:00:00Z")]
    assert mirror.search(at_midnight, limit=1, count_only=True).count == before.count


# -- full sync: staging, swap, resume ---------------------------------------------------


@pytest.fixture
def small() -> tuple[list[MirroredContact], Members]:
    return make_account(size=60, seed=2)


def ids_of(mirror: Mirror, filters: Sequence[Filter] = ()) -> list[str]:
    return [c.id for c in mirror.search(filters, limit=1000).contacts]


def test_searches_see_the_live_data_until_a_staged_sync_finishes(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, contacts, members)
    gone, renamed = contacts[5], replace(contacts[6], first_name="Renamed")
    rng = random.Random(9)
    newcomer = contact(rng, 999, moment=START + timedelta(days=30), properties=False)
    fresh = [newcomer] + [renamed if c is contacts[6] else c for c in contacts if c is not gone]

    mirror.begin_full_sync()
    mirror.stage_contacts(fresh, cursor=fresh[-1].id)
    mirror.start_segments([("seg-new", "New")])
    mirror.stage_members("seg-new", [newcomer.id, "unknown-id"], cursor=None, segment_done=True)
    assert mirror.state().sync_in_progress
    assert ids_of(mirror) == [c.id for c in contacts]
    assert mirror.search([Filter("first_name", "eq", "Renamed")], limit=5).count == 0
    assert mirror.search([Filter("segment", "in", "seg-a")], limit=5).count == len(members["seg-a"])

    mirror.finish_full_sync(2000.0)
    assert ids_of(mirror) == [c.id for c in fresh]
    assert mirror.find_id(gone.email) is None
    assert mirror.search([Filter("first_name", "eq", "Renamed")], limit=5).contacts[0].id == (
        renamed.id
    )
    # The old segments are gone with the old sync; the unknown member was dropped.
    assert mirror.search([Filter("segment", "in", "seg-a")], limit=5).count == 0
    assert ids_of(mirror, [Filter("segment", "in", "seg-new")]) == [newcomer.id]
    state = mirror.state()
    assert (state.contacts, state.segments, state.sync_in_progress) == (len(fresh), 1, False)
    assert state.synced_at == state.full_synced_at == 2000.0
    mirror.close()


def test_known_properties_survive_a_list_only_resync(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, contacts, members)
    changed = next(c for c in contacts if c.properties)
    relisted = [
        replace(c, properties={"plan": "changed"}) if c is changed else listed(c) for c in contacts
    ]
    full_sync(mirror, relisted, members)

    assert mirror.search([], limit=1000).contacts == [
        replace(c, properties={"plan": "changed"}) if c is changed else c for c in contacts
    ]
    assert mirror.state().properties_known == sum(c.properties is not None for c in contacts)
    mirror.close()


def test_a_crashed_sync_resumes_from_its_checkpoint(
    tmp_path: Path, small: tuple[list[MirroredContact], Members]
) -> None:
    contacts, members = small
    path = tmp_path / "account" / "mirror.sqlite3"
    mirror = Mirror(path)
    assert mirror.begin_full_sync() == SyncCheckpoint("contacts", None, 0, 0)
    mirror.stage_contacts(contacts[:20], cursor=contacts[19].id)
    mirror.stage_contacts(contacts[20:40], cursor=contacts[39].id)
    mirror.close()

    mirror = Mirror(path)
    assert mirror.state().sync_in_progress
    assert mirror.state().contacts == 0
    assert mirror.begin_full_sync() == SyncCheckpoint("contacts", contacts[39].id, 0, 40)
    mirror.stage_contacts(contacts[40:], cursor=contacts[-1].id)
    mirror.start_segments([("seg-a", "A"), ("seg-b", "B")])
    mirror.stage_members("seg-a", sorted(members["seg-a"]), cursor=None, segment_done=True)
    some_b = sorted(members["seg-b"])
    mirror.stage_members("seg-b", some_b[:2], cursor=some_b[1], segment_done=False)
    mirror.close()

    mirror = Mirror(path)
    assert mirror.begin_full_sync() == SyncCheckpoint("segments", some_b[1], 1, len(contacts))
    assert mirror.staged_segments() == [("seg-a", "A"), ("seg-b", "B")]
    mirror.stage_members("seg-b", some_b[2:], cursor=None, segment_done=True)
    assert mirror.begin_full_sync() == SyncCheckpoint("done", None, 2, len(contacts))
    mirror.finish_full_sync(3000.0)
    mirror.close()

    mirror = Mirror(path)
    assert ids_of(mirror) == [c.id for c in contacts]
    assert set(ids_of(mirror, [Filter("segment", "in", "seg-b")])) == members["seg-b"]
    assert not mirror.state().sync_in_progress
    mirror.close()


def test_writes_during_a_staged_sync_survive_its_finish(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, contacts, members)
    removed, merged = contacts[3], next(c for c in contacts if c.properties)
    unknown = next(c for c in contacts if c.properties is None)
    created = contact(random.Random(5), 1000, moment=START + timedelta(days=40))
    created = replace(created, properties={"plan": "pro"})

    mirror.begin_full_sync()
    mirror.stage_contacts([listed(c) for c in contacts], cursor=contacts[-1].id)
    mirror.upsert(created)
    mirror.remove(removed.id)
    assert merged.properties is not None
    changed = {**{k: v for k, v in merged.properties.items() if k != "city"}, "plan": "enterprise"}
    mirror.upsert(replace(merged, properties=changed))  # an update read back, as written
    mirror.upsert(unknown)  # read from a list: its properties stay unknown
    mirror.start_segments([("seg-a", "A")])
    mirror.stage_members("seg-a", sorted(members["seg-a"]), cursor=None, segment_done=True)
    mirror.set_member(created.id, "seg-a", True)
    assert mirror.state().changed_here == 5
    mirror.finish_full_sync(4000.0)

    assert mirror.state().changed_here == 0
    assert mirror.find_id(removed.email) is None
    assert mirror.find_id(created.email.upper()) == created.id
    [found] = mirror.search([Filter("email", "eq", created.email)], limit=5).contacts
    assert found == created
    assert created.id in ids_of(mirror, [Filter("segment", "in", "seg-a")])
    [after_merge] = mirror.search([Filter("email", "eq", merged.email)], limit=5).contacts
    assert after_merge.properties == changed
    [still_unknown] = mirror.search([Filter("email", "eq", unknown.email)], limit=5).contacts
    assert still_unknown.properties is None
    mirror.close()


def test_memberships_follow_write_through(small: tuple[list[MirroredContact], Members]) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, contacts, members)
    outsider = next(c for c in contacts if c.id not in members["seg-c"])
    insider = next(iter(members["seg-c"]))
    mirror.set_member(outsider.id, "seg-c", True)
    mirror.set_member(insider, "seg-c", False)
    mirror.set_member("no-such-contact", "seg-c", True)
    assert set(ids_of(mirror, [Filter("segment", "in", "seg-c")])) == (
        members["seg-c"] - {insider}
    ) | {outsider.id}
    mirror.remove(outsider.id)
    assert outsider.id not in ids_of(mirror, [Filter("segment", "in", "seg-c")])
    assert mirror.state().changed_here == 4
    mirror.close()


def test_a_contacts_segments_as_read_replace_the_mirrored_ones(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, contacts, members)
    target = next(c for c in contacts if c.id in members["seg-a"])
    mirror.begin_full_sync()
    mirror.stage_contacts(contacts, cursor=None)
    mirror.start_segments([("seg-a", "A"), ("seg-b", "B")])
    mirror.stage_members("seg-a", sorted(members["seg-a"]), cursor=None, segment_done=True)
    mirror.set_memberships(target.id, ["seg-b"])
    assert target.id not in ids_of(mirror, [Filter("segment", "in", "seg-a")])
    assert target.id in ids_of(mirror, [Filter("segment", "in", "seg-b")])
    mirror.finish_full_sync(6000.0)

    assert target.id not in ids_of(mirror, [Filter("segment", "in", "seg-a")])
    assert target.id in ids_of(mirror, [Filter("segment", "in", "seg-b")])
    assert mirror.state().changed_here == 0
    mirror.close()


# -- incremental refresh and the properties pass ------------------------------------------


def test_new_contacts_are_added_and_become_the_newest(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, contacts, members, now=1000.0)
    assert mirror.newest_ids(3) == {c.id for c in contacts[:3]}
    rng = random.Random(4)
    newer = [
        contact(rng, 2000 + i, moment=START + timedelta(days=50, seconds=i), properties=False)
        for i in range(3)
    ]
    mirror.add_contacts(newer[::-1], now=5000.0)

    assert mirror.newest_ids(3) == {c.id for c in newer}
    assert ids_of(mirror)[:4] == [newer[2].id, newer[1].id, newer[0].id, contacts[0].id]
    state = mirror.state()
    assert (state.synced_at, state.full_synced_at) == (5000.0, 1000.0)
    assert state.contacts == len(contacts) + 3
    mirror.close()


def test_the_properties_pass_reads_unknown_values_first_then_those_past_a_horizon(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    assert mirror.state().properties_known == 0
    assert mirror.search([Filter("property", "empty", key="plan")], limit=5).count == 0

    todo = mirror.properties_to_read(5)
    assert len(set(todo)) == 5
    for moment, cid in enumerate(todo, 100):
        mirror.set_properties(cid, {"plan": "pro", "score": 7}, at=float(moment))
    assert mirror.state().properties_known == 5
    assert mirror.state().properties_oldest == 100.0
    assert ids_of(mirror, [Filter("property", "eq", 7, key="score")]) == [
        c.id for c in contacts if c.id in todo
    ]
    assert mirror.state().changed_here == 0
    # Never-read values come before old ones; a horizon adds those read before it.
    unknown = len(contacts) - 5
    assert mirror.count_properties_to_read() == unknown
    assert mirror.count_properties_to_read(read_before=102.0) == unknown + 2
    everything = mirror.properties_to_read(len(contacts), read_before=102.0)
    assert everything[-2:] == todo[:2]
    assert set(everything[:-2]).isdisjoint(todo)
    mirror.close()


def test_a_written_value_is_known_on_its_own_and_a_doubted_contact_is_not_vouched_for(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    first, second = contacts[0].id, contacts[1].id
    mirror.write_values(first, {"plan": "pro"}, at=50.0)
    # The written key is searchable; the contact's other values stay unknown.
    assert ids_of(mirror, [Filter("property", "eq", "pro", key="plan")]) == [first]
    assert mirror.state().properties_known == 0
    mirror.set_properties(second, {"plan": "free"}, at=60.0)
    assert mirror.doubt([second, "not-mirrored"]) == 1
    state = mirror.state()
    assert (state.properties_known, state.fields_in_doubt) == (0, 1)
    [(doubted, _)] = mirror.contacts([second])
    assert (doubted.seen_at, doubted.properties, doubted.properties_at) == (None, None, None)
    assert ids_of(mirror, [Filter("property", "eq", "free", key="plan")]) == []
    # A later observation vouches for it again; an older one does not overwrite a newer.
    mirror.upsert(replace(contacts[1], first_name="Newer"), changed=False, at=80.0)
    mirror.upsert(replace(contacts[1], first_name="Older"), changed=False, at=70.0)
    [(seen, _)] = mirror.contacts([second])
    assert (seen.first_name, seen.seen_at) == ("Newer", 80.0)
    assert mirror.state().fields_in_doubt == 0
    mirror.close()


def test_a_segment_observed_whole_replaces_its_memberships_but_keeps_later_writes(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    segment = next(s for s, ids in members.items() if len(ids) >= 2)
    stayed, *_ = sorted(members[segment])
    joined = next(c.id for c in contacts if c.id not in members[segment])
    written = next(c.id for c in contacts if c.id not in members[segment] and c.id != joined)
    mirror.set_member(written, segment, True, at=200.0)  # written after the paging began
    mirror.begin_segment_observation(segment)
    mirror.observe_segment_page(segment, [stayed])
    mirror.observe_segment_page(segment, [joined, "not-mirrored"])
    changed = mirror.end_segment_observation(segment, at=100.0)
    found = set(ids_of(mirror, [Filter("segment", "in", segment)]))
    assert found == {stayed, joined, written}
    assert changed == len(members[segment]) - 1 + 1
    mirror.close()


def test_an_empty_mirror_answers_with_nothing() -> None:
    mirror = Mirror(":memory:")
    page = mirror.search([Filter("domain", "eq", "acme.com")], limit=10)
    assert (page.count, page.contacts, page.next_after) == (0, [], None)
    state = mirror.state()
    assert (state.synced_at, state.contacts, state.sync_in_progress) == (None, 0, False)
    assert mirror.newest_ids() == set()
    with pytest.raises(RuntimeError):
        mirror.stage_contacts([], cursor=None)
    mirror.close()


def test_properties_keep_their_types(small: tuple[list[MirroredContact], Members]) -> None:
    contacts, _ = small
    mirror = Mirror(":memory:")
    values: Mapping[str, str | int | float | bool] = {"s": "Text", "i": 3, "f": 2.5, "b": True}
    mirror.add_contacts([replace(contacts[0], properties=values)], now=1.0)
    [found] = mirror.search([], limit=5).contacts
    assert found.properties == values
    assert found.properties is not None
    assert {k: type(v) for k, v in found.properties.items()} == {
        k: type(v) for k, v in values.items()
    }
    mirror.close()


def test_webhook_events_apply_by_the_time_of_the_change_not_of_arrival(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    target = contacts[0]
    segment = next(iter(members))
    seen = replace(listed(target), first_name="Ten")
    later = replace(listed(target), first_name="Twenty")
    # Delivered out of order: the newer change first; the older one then changes nothing.
    assert mirror.apply_event(later, [segment], deleted=False, at=2e9 + 20)
    assert not mirror.apply_event(seen, [], deleted=False, at=2e9 + 10)
    # The same event again (a retry) leaves the mirror as it is.
    assert mirror.apply_event(later, [segment], deleted=False, at=2e9 + 20)
    [(now, segments)] = mirror.contacts([target.id])
    assert (now.first_name, segments) == ("Twenty", [segment])
    assert mirror.state().events_since is not None
    # A contact the mirror never saw arrives whole; a delete removes it for good, and a
    # late update from before the delete does not bring it back.
    stranger = replace(listed(target), id="new-contact", email="new@example.com")
    assert mirror.apply_event(stranger, None, deleted=False, at=2e9 + 30)
    assert mirror.find_id("new@example.com") == "new-contact"
    assert mirror.apply_event(stranger, None, deleted=True, at=2e9 + 40)
    assert mirror.find_id("new@example.com") is None
    assert not mirror.apply_event(stranger, None, deleted=False, at=2e9 + 35)
    assert mirror.find_id("new@example.com") is None
    # An unknown contact's delete changes nothing.
    assert not mirror.apply_event(replace(stranger, id="ghost"), None, deleted=True, at=2e9)
    mirror.close()


def test_an_import_is_expected_by_address_then_settled_once_its_contacts_are_listed(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    existing = contacts[0]
    mirror.set_properties(existing.id, {"plan": "free"}, at=10.0)
    mirror.expect_import(
        [(existing.email.upper(), ["seg-c"], {"plan": "pro"}), ("new@x.io", ["seg-c"], {})],
        upsert=True,
    )
    # The upsert's outcome is not reported: the existing contact is in doubt at once.
    assert mirror.state().fields_in_doubt == 1
    assert mirror.is_expected(["NEW@x.io", "other@x.io"]) == {"new@x.io"}
    new = replace(listed(contacts[1]), id="imported", email="new@x.io", created_at="2030-01-01")
    mirror.add_contacts([new], now=20.0)
    assert mirror.settle_import(30.0, upsert=True) == 1
    [(created, segments)] = mirror.contacts(["imported"])
    assert (created.properties, segments) == ({}, ["seg-c"])
    [(updated, joined)] = mirror.contacts([existing.id])
    assert updated.properties is None
    assert "seg-c" in joined
    assert mirror.is_expected(["new@x.io", existing.email]) == set()
    mirror.close()


def test_an_import_still_running_has_its_listed_new_contacts_settled_and_the_rest_expected(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    mirror.begin_import()
    rows = [("first@x.io", ["seg-c"], {"plan": "pro"}), ("second@x.io", ["seg-c"], {})]
    mirror.expect_import(rows, upsert=False)
    first = replace(listed(contacts[1]), id="first", email="first@x.io", created_at="2030-01-01")
    mirror.add_contacts([first], now=20.0)
    # A refresh found one while the import runs: it takes its segments now...
    assert mirror.settle_import(21.0, upsert=None) == 1
    assert mirror.contacts(["first"])[0][1] == ["seg-c"]
    # ...and the other is still expected, after the import ends too: a later refresh may
    # list it (and a new import does not forget it).
    assert mirror.is_expected(["second@x.io", "first@x.io"]) == {"second@x.io"}
    assert mirror.settle_import(22.0, upsert=False) == 0
    mirror.begin_import()
    assert mirror.is_expected(["second@x.io"]) == {"second@x.io"}
    assert mirror.state().imports_pending == 1
    mirror.close()


def test_the_counts_are_kept_between_writes_and_follow_another_connections_writes(
    small: tuple[list[MirroredContact], Members], tmp_path: Path
) -> None:
    contacts, members = small
    mine, other = Mirror(tmp_path / "m.sqlite"), Mirror(tmp_path / "m.sqlite")
    full_sync(mine, [listed(c) for c in contacts], members)
    assert other.state().contacts == len(contacts)
    assert mine.state() is mine.state()  # nothing written between: counted once
    mine.remove(contacts[0].id)
    assert mine.state().contacts == len(contacts) - 1
    assert other.state().contacts == len(contacts) - 1  # a second host window's write
    mine.close()
    other.close()


def test_an_address_shown_under_a_new_id_forgets_the_contact_that_held_it(
    small: tuple[list[MirroredContact], Members],
) -> None:
    # Resend gives an address to one contact at a time: the old one was deleted elsewhere.
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    old = contacts[0]
    again = replace(listed(old), id="created-again", email=old.email.upper())
    mirror.add_contacts([again], now=20.0)
    assert mirror.contacts([old.id]) == []
    assert mirror.find_id(old.email) == "created-again"
    # An older event cannot bring the deleted one back, and the count holds both facts.
    assert not mirror.apply_event(listed(old), None, deleted=False, at=19.0)
    assert mirror.state().contacts == len(contacts)
    # The same holds for a contact read or written, and for a list page observed.
    other = contacts[1]
    mirror.upsert(replace(listed(other), id="read-again"), changed=False, at=21.0)
    assert mirror.contacts([other.id]) == []
    third = contacts[2]
    mirror.observe_contacts([replace(listed(third), id="listed-again")], at=22.0)
    assert mirror.find_id(third.email) == "listed-again"
    assert mirror.state().contacts == len(contacts)
    # A webhook's contact too; and an event older than the address's new holder is stale.
    fourth = contacts[3]
    assert mirror.apply_event(replace(listed(fourth), id="evented"), [], deleted=False, at=2e9)
    assert mirror.find_id(fourth.email) == "evented"
    assert not mirror.apply_event(
        replace(listed(fourth), id="stale"), [], deleted=False, at=2e9 - 10
    )
    assert mirror.find_id(fourth.email) == "evented"
    mirror.close()


def test_an_import_that_created_more_than_expected_keeps_the_held_addresses_expected(
    small: tuple[list[MirroredContact], Members],
) -> None:
    # The mirror held an address deleted elsewhere since; the import created it again.
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    held, kept = contacts[0], contacts[1]
    mirror.begin_import()
    rows = [(held.email, ["seg-c"], {"plan": "pro"}), (kept.email, ["seg-c"], {})]
    mirror.expect_import(rows, upsert=True)
    assert mirror.state().imports_pending == 0
    # Resend reports 1 created, where the mirror expected none: both stay expected.
    assert mirror.settle_import(30.0, upsert=True, created_by_import=1) == 0
    assert mirror.state().imports_pending == 2
    again = replace(listed(held), id="created-again", created_at="2030-01-01")
    mirror.add_contacts([again], now=40.0)
    # The next listing settles the one created, with the file's values, and clears the other.
    assert mirror.settle_import(40.0, upsert=None) == 1
    [(created, segments)] = mirror.contacts(["created-again"])
    assert (created.properties, segments) == ({"plan": "pro"}, ["seg-c"])
    assert mirror.state().imports_pending == 0
    assert mirror.contacts([held.id]) == []
    mirror.close()


def test_an_import_that_created_what_it_expected_forgets_the_held_addresses(
    small: tuple[list[MirroredContact], Members],
) -> None:
    contacts, members = small
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    mirror.expect_import([(contacts[0].email, [], {}), ("new@x.io", [], {})], upsert=False)
    assert mirror.settle_import(30.0, upsert=False, created_by_import=1) == 0
    assert mirror.is_expected([contacts[0].email, "new@x.io"]) == {"new@x.io"}
    mirror.close()


def bits_hold(mirror: Mirror) -> None:
    """Every contact's segment bits are its memberships of the first 62 segments."""
    rows = mirror._db.execute(  # the invariant is the mirror's own: read it where it lives
        "SELECT c.id, c.segs, coalesce((SELECT sum(1 << s.position) FROM members m "
        "JOIN segments s ON s.id = m.segment_id WHERE m.n = c.n AND s.position < 62), 0) "
        "FROM contacts c"
    ).fetchall()
    assert [(cid, segs) for cid, segs, _ in rows] == [(cid, want) for cid, _, want in rows]


def test_segment_searches_agree_with_memberships_through_every_change(
    small: tuple[list[MirroredContact], Members],
) -> None:
    # 70 segments: the first 62 searched by bit, the rest (and one newer than the sync)
    # by member list; big and small ones, for both ways of counting.
    contacts, _ = small
    rng = random.Random(5)
    segments = [f"seg-{i:02}" for i in range(70)]
    members: Members = {
        sid: {c.id for c in contacts if rng.random() < (0.5 if i % 3 == 0 else 0.03)}
        for i, sid in enumerate(segments)
    }
    mirror = Mirror(":memory:")
    full_sync(mirror, [listed(c) for c in contacts], members)
    alive = [c.id for c in contacts]

    def agree() -> None:
        bits_hold(mirror)
        held = {c.id: set(s) for c, s in mirror.contacts(alive)}
        for sid in [*rng.sample(segments, 6), "seg-00", "seg-69", "seg-new"]:
            for op in ("in", "not_in"):
                want = {cid for cid, s in held.items() if (sid in s) == (op == "in")}
                assert set(ids_of(mirror, [Filter("segment", op, sid)])) == want, (sid, op)
                assert mirror.search([Filter("segment", op, sid)], limit=1).count == len(want)
                assert mirror.matching([Filter("segment", op, sid)], alive) == want

    agree()
    for step in range(60):
        contact_id, sid = rng.choice(alive), rng.choice([*segments, "seg-new"])
        match step % 6:
            case 0 | 1:
                mirror.set_member(contact_id, sid, rng.random() < 0.5)
            case 2:
                mirror.set_memberships(contact_id, rng.sample(segments, 3), at=2000.0 + step)
            case 3:
                mirror.begin_segment_observation(sid)
                mirror.observe_segment_page(sid, rng.sample(alive, 5))
                mirror.end_segment_observation(sid, 2000.0 + step)
            case 4:
                mirror.remove(contact_id)
                alive.remove(contact_id)
            case _:
                mirror.expect_import([(f"new{step}@x.io", [sid], {})], upsert=False)
                newcomer = replace(listed(contacts[0]), id=f"n{step}", email=f"new{step}@x.io")
                mirror.add_contacts([newcomer], now=2000.0 + step)
                mirror.settle_import(2000.0 + step, upsert=None)
                alive.append(newcomer.id)
        agree()
    # A full sync puts every bit back from the lists it read.
    full_sync(mirror, [listed(c) for c in contacts], members, now=5000.0)
    alive = [c.id for c in contacts]
    agree()
    mirror.close()
