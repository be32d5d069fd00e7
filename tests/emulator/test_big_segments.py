"""A segment's contacts page correctly however big it is (two query plans, one answer)."""

from contacts_mcp.emulator.store import Store
from contacts_mcp.emulator.store.contacts import WALK_SEGMENTS_ABOVE
from contacts_mcp.emulator.store.sqlite import PageRequest


def all_pages(store: Store, segment_id: str, limit: int) -> list[str]:
    found: list[str] = []
    after = None
    while True:
        page = store.list_contacts(PageRequest(limit=limit, after=after), segment_id=segment_id)
        found.extend(contact.id for contact in page.items)
        if not page.has_more:
            return found
        after = found[-1]


def test_big_and_small_segments_list_every_member_once_newest_first() -> None:
    store = Store(":memory:")
    big = store.create_segment("Big").id
    small = store.create_segment("Small").id
    members: dict[str, list[str]] = {big: [], small: []}
    for i in range(WALK_SEGMENTS_ABOVE * 3 // 2 + 600):
        # Every third contact in no segment, every 50th in the small one too.
        chosen = [] if i % 3 == 0 else [big] + ([small] if i % 50 == 1 else [])
        contact_id, _ = store.create_contact(
            email=f"u{i}@example.com", first_name=None, last_name=None, unsubscribed=False,
            values={}, segment_ids=chosen, subscriptions={},
        )  # fmt: skip
        for segment_id in chosen:
            members[segment_id].append(contact_id)
    assert len(members[big]) > WALK_SEGMENTS_ABOVE  # the walking plan
    assert len(members[small]) <= WALK_SEGMENTS_ABOVE  # the sorting plan
    for segment_id, ids in members.items():
        assert all_pages(store, segment_id, 100) == ids[::-1]
        assert all_pages(store, segment_id, 997) == ids[::-1]
    store.close()
