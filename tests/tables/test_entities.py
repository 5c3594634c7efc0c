"""The entities row: counts, recent events, entities by id, redelivery; and decoding the topic."""

from __future__ import annotations

import pytest

from models.codec import BadMessage, Reason
from models.entities import EntityEvent, decode_entity_event
from tables.entities import RECENT_KEPT, EntityTypeSummary


def test_a_seed_message_decodes() -> None:
    event = decode_entity_event(b'{"event_type": "wells_scraped", "data": {"id": "42-329-40003", "operator": "Devon"}}')
    assert event.event_type == "wells_scraped"
    assert event.entity_id() == "42-329-40003"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", Reason.NOT_JSON),
        (b"[1]", Reason.SCHEMA),
        (b'{"data": {}}', Reason.SCHEMA),
        (b'{"event_type": "  ", "data": {}}', Reason.SCHEMA),
        (b'{"event_type": "x", "data": [1]}', Reason.SCHEMA),
        (None, Reason.NOT_JSON),
    ],
)
def test_bad_messages_name_their_reason(raw: bytes | None, reason: Reason) -> None:
    with pytest.raises(BadMessage) as caught:
        decode_entity_event(raw)
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    ("data", "expected"),
    [({"id": 7}, "7"), ({"entity_id": "e-1"}, "e-1"), ({"entityId": "E"}, "E"), ({"id": True}, None), ({}, None)],
)
def test_entity_id_comes_from_the_data(data: dict[str, object], expected: str | None) -> None:
    assert EntityEvent(event_type="t", data=data).entity_id() == expected


def test_record_counts_keeps_recent_and_latest_by_id_and_ignores_redelivery() -> None:
    summary = EntityTypeSummary(event_type="wells_scraped")
    assert summary.record(EntityEvent(event_type="wells_scraped", data={"id": "a", "v": 1}), at="t1", source="s@1")
    assert summary.record(EntityEvent(event_type="wells_scraped", data={"id": "b"}), at="t2", source="s@2")
    assert summary.record(EntityEvent(event_type="wells_scraped", data={"id": "a", "v": 2}), at="t3", source="s@3")
    assert not summary.record(EntityEvent(event_type="wells_scraped", data={"id": "a", "v": 9}), at="t4", source="s@3")

    assert summary.count == 3
    assert (summary.first_seen_at, summary.last_seen_at) == ("t1", "t3")
    assert [r.source for r in summary.recent] == ["s@1", "s@2", "s@3"]
    assert list(summary.entities) == ["b", "a"]  # least recently seen first
    assert summary.entities["a"].data == {"id": "a", "v": 2}


def test_recent_is_bounded() -> None:
    summary = EntityTypeSummary(event_type="t")
    for n in range(RECENT_KEPT + 5):
        summary.record(EntityEvent(event_type="t", data={"n": n}), at=str(n), source=f"s@{n}")
    assert summary.count == RECENT_KEPT + 5
    assert len(summary.recent) == RECENT_KEPT
    assert summary.recent[-1].data == {"n": RECENT_KEPT + 4}
