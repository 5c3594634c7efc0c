"""Fetch sessions (app/fetch_sessions.py): what each request tells the broker and how an answer is taken in.

The broker's side (a session that returns new records of a partition the request did not name, and
ends on a bad epoch) is tested against the real broker in tests/integration/test_fetch_sessions_on_broker.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.protocol.fetch import FetchRequest_v6, FetchRequest_v11
from aiokafka.structs import TopicPartition

from app.fetch_sessions import (
    MAX_EPOCH,
    NO_SESSION,
    OPEN_EPOCH,
    SESSIONLESS_EPOCH,
    FetchSession,
    SessionFetchRequest,
)

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)
PARTITION_BYTES = 1024
FETCHER = SimpleNamespace(
    _fetch_max_wait_ms=100,
    _fetch_min_bytes=1,
    _fetch_max_bytes=52428800,
    _isolation_level=0,
    _client_rack=None,
    _max_partition_fetch_bytes=PARTITION_BYTES,
)


class Assignment:
    def __init__(self, *tps: TopicPartition) -> None:
        self.states = {tp: SimpleNamespace(timestamp=None) for tp in tps}

    def state_value(self, tp: TopicPartition) -> Any:
        return self.states.get(tp)


def response(session_id: int, *answered: TopicPartition, error_code: int = 0, version: int = 11) -> Any:
    topics: dict[str, list[tuple[object, ...]]] = {}
    for tp in answered:
        topics.setdefault(tp.topic, []).append((tp.partition, 0, 100, 100, 0, [], -1, b""))
    return SimpleNamespace(
        API_VERSION=version, error_code=error_code, session_id=session_id, topics=list(topics.items())
    )


def sent(request: SessionFetchRequest) -> dict[TopicPartition, int]:
    return {TopicPartition(topic, p): offset for topic, parts in request._topics for p, offset, _ in parts}


def forgotten(request: SessionFetchRequest) -> set[TopicPartition]:
    return {TopicPartition(topic, p) for topic, parts in request.forgotten for p in parts}


def opened(session: FetchSession, positions: list[tuple[TopicPartition, int]], session_id: int = 7) -> None:
    request = session.request(FETCHER, list(positions))
    assert session.answered(request, response(session_id, *dict(positions)))


def test_the_first_request_names_every_partition_and_opens_a_session() -> None:
    session = FetchSession(Assignment(A0, A1, B0))
    request = session.request(FETCHER, [(A0, 5), (A1, 9), (B0, 0)])
    assert (request.session_id, request.epoch) == (NO_SESSION, OPEN_EPOCH)
    assert sent(request) == {A0: 5, A1: 9, B0: 0}
    assert forgotten(request) == set()
    assert session.answered(request, response(42, A0, A1, B0))
    assert (session.session_id, session.epoch) == (42, OPEN_EPOCH)
    assert session.offsets == {A0: 5, A1: 9, B0: 0}


def test_a_request_in_the_session_names_only_what_moved_and_what_to_forget() -> None:
    session = FetchSession(Assignment(A0, A1, B0))
    opened(session, [(A0, 5), (A1, 9), (B0, 0)])
    # A0's records were handed out (its position moved), A1 still has records to hand out (left out).
    request = session.request(FETCHER, [(A0, 8), (B0, 0)])
    assert (request.session_id, request.epoch) == (7, 1)
    assert sent(request) == {A0: 8}
    assert forgotten(request) == {A1}
    assert session.answered(request, response(7, A0))
    assert session.offsets == {A0: 8, B0: 0}
    # A1 back, at its position: named again; nothing else moved.
    again = session.request(FETCHER, [(A0, 8), (A1, 12), (B0, 0)])
    assert (sent(again), forgotten(again), again.epoch) == ({A1: 12}, set(), 2)


def test_a_request_where_nothing_moved_names_no_partition() -> None:
    session = FetchSession(Assignment(A0, B0))
    opened(session, [(A0, 5), (B0, 0)])
    request = session.request(FETCHER, [(A0, 5), (B0, 0)])
    assert (sent(request), forgotten(request)) == ({}, set())


def test_aiokafka_reads_an_answer_against_the_session_offsets_of_the_partitions_it_names() -> None:
    session = FetchSession(Assignment(A0, A1, B0))
    opened(session, [(A0, 5), (A1, 9), (B0, 0)])
    request = session.request(FETCHER, [(A0, 5), (A1, 9), (B0, 3)])  # only B0 sent
    assert session.answered(request, response(7, A1, B0))  # A1 got new records though not named
    assert request.topics == [("a", [(1, 9, PARTITION_BYTES)]), ("b", [(0, 3, PARTITION_BYTES)])]


def test_every_partition_of_the_session_counts_as_fetched_when_the_broker_answers() -> None:
    assignment = Assignment(A0, A1)
    session = FetchSession(assignment)
    opened(session, [(A0, 5), (A1, 9)])
    for state in assignment.states.values():
        state.timestamp = None
    request = session.request(FETCHER, [(A0, 5), (A1, 9)])
    assert session.answered(request, response(7))  # nothing new anywhere
    assert all(state.timestamp is not None for state in assignment.states.values())


@pytest.mark.parametrize("error_code", [70, 71])  # FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH
def test_a_session_error_ends_the_session_and_the_next_request_is_full(error_code: int) -> None:
    session = FetchSession(Assignment(A0, B0))
    opened(session, [(A0, 5), (B0, 0)])
    request = session.request(FETCHER, [(A0, 6), (B0, 0)])
    assert not session.answered(request, response(0, error_code=error_code))
    assert (session.session_id, session.offsets) == (NO_SESSION, {})
    full = session.request(FETCHER, [(A0, 6), (B0, 0)])
    assert (full.session_id, full.epoch, sent(full)) == (NO_SESSION, OPEN_EPOCH, {A0: 6, B0: 0})


def test_an_answer_for_a_partition_outside_the_session_is_not_read() -> None:
    session = FetchSession(Assignment(A0, A1))
    opened(session, [(A0, 5)])
    request = session.request(FETCHER, [(A0, 6)])
    assert not session.answered(request, response(7, A1))
    assert session.session_id == NO_SESSION


def test_a_broker_without_room_for_a_session_is_fetched_from_in_full() -> None:
    session = FetchSession(Assignment(A0))
    opened(session, [(A0, 5)], session_id=NO_SESSION)
    request = session.request(FETCHER, [(A0, 6)])
    assert (request.session_id, request.epoch, sent(request)) == (NO_SESSION, OPEN_EPOCH, {A0: 6})


def test_a_broker_older_than_sessions_is_fetched_from_without_one() -> None:
    session = FetchSession(Assignment(A0))
    request = session.request(FETCHER, [(A0, 5)])
    assert session.answered(request, response(0, A0, version=6))
    assert not session.supported
    assert session.request(FETCHER, [(A0, 6)]).epoch == SESSIONLESS_EPOCH


def test_the_epoch_wraps_to_one() -> None:
    session = FetchSession(Assignment(A0), session_id=7, epoch=MAX_EPOCH, offsets={A0: 5})
    assert session.request(FETCHER, [(A0, 6)]).epoch == 1


def test_the_wire_request_carries_the_session() -> None:
    session = FetchSession(Assignment(A0, A1))
    opened(session, [(A0, 5), (A1, 9)])
    request = session.request(FETCHER, [(A0, 8)])
    struct = request.build(FetchRequest_v11)
    assert (struct.session_id, struct.session_epoch) == (7, 1)
    assert struct.topics == [("a", [(0, -1, 8, -1, PARTITION_BYTES)])]
    assert struct.forgotten_topics_data == [("a", [1])]
    decoded = FetchRequest_v11.decode(struct.encode())
    assert (decoded.session_id, decoded.session_epoch, decoded.forgotten_topics_data) == (7, 1, [("a", [1])])


def test_a_request_in_a_session_is_not_sent_to_a_broker_older_than_sessions() -> None:
    session = FetchSession(Assignment(A0))
    first = session.request(FETCHER, [(A0, 5)])
    assert first.build(FetchRequest_v6).topics == [("a", [(0, 5, -1, PARTITION_BYTES)])]  # full: fine
    opened(session, [(A0, 5)])
    with pytest.raises(IncompatibleBrokerVersion):
        session.request(FETCHER, [(A0, 6)]).build(FetchRequest_v6)
