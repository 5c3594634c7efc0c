"""Fetch sessions (app/fetch_sessions.py) against the real broker.

A consumer of a group, its fetcher in sessions as the worker's is, reads every record of several
partitions once and in order: while the session names only what moved, after a pause and a
resume, after a seek back, and after the broker ends the session. And once the session is open
its requests name only the partitions that moved, which is what it is for.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from app.fetch_sessions import NO_SESSION, SessionFetcher, SessionFetchRequest
from local_kafka.admin import ensure_topics

PARTITIONS = 4
TOPICS = 3

Records = dict[TopicPartition, list[tuple[int, bytes]]]  # partition -> (offset, value) in order


class Reader:
    """The consumer of ``every`` partition; what was sent to them and what it read, per partition
    (offset, value); and the partitions each fetch named."""

    def __init__(self, consumer: AIOKafkaConsumer, every: list[TopicPartition]) -> None:
        self.consumer = consumer
        self.every = every
        self.sent: Records = defaultdict(list)
        self.fetcher: Any = consumer._fetcher
        self.read: Records = defaultdict(list)
        self.requests: list[tuple[int, int]] = []  # (session id, partitions named) of each fetch
        client = self.fetcher._client
        send = client.send

        async def counting_send(node_id: int, request: Any, **kwargs: Any) -> Any:
            if isinstance(request, SessionFetchRequest):
                named = sum(len(partitions) for _, partitions in request._topics)
                self.requests.append((request.session_id, named))
            return await send(node_id, request, **kwargs)

        client.send = counting_send

    async def produce(self, producer: AIOKafkaProducer, tps: list[TopicPartition], count: int) -> None:
        """``count`` records, over ``tps`` in turn."""
        for index in range(count):
            tp = tps[index % len(tps)]
            value = f"{tp.topic}/{tp.partition}/{len(self.sent[tp])}".encode()
            metadata = await producer.send_and_wait(tp.topic, value, partition=tp.partition)
            self.sent[tp].append((metadata.offset, value))

    async def read_until(self, expected: Records | None = None, timeout: float = 30) -> None:
        """Read until ``expected`` (all that was sent) has been read, in order."""
        expected = self.sent if expected is None else expected
        async with asyncio.timeout(timeout):
            # A partition read short of what is expected has a prefix shorter than it, so unequal too.
            while any(self.read[tp][: len(records)] != records for tp, records in expected.items()):
                for tp, records in (await self.consumer.getmany(timeout_ms=200)).items():
                    self.read[tp].extend((record.offset, record.value) for record in records)

    def session(self) -> Any:
        (session,) = self.fetcher._sessions.values()
        return session


@pytest.fixture
async def topics(bootstrap: str) -> list[str]:
    names = [f"fetch-session-{uuid.uuid4().hex[:10]}" for _ in range(TOPICS)]
    await ensure_topics(bootstrap, names, PARTITIONS)
    return names


@pytest.fixture
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@pytest.fixture
async def reader(bootstrap: str, topics: list[str]) -> AsyncIterator[Reader]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"fetch-session-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    SessionFetcher.adopt(consumer._fetcher)
    consumer.subscribe(topics)
    try:
        yield Reader(
            consumer, [TopicPartition(topic, partition) for topic in topics for partition in range(PARTITIONS)]
        )
    finally:
        await consumer.stop()


async def test_every_record_is_read_once_in_order_and_requests_name_only_what_moved(
    reader: Reader, producer: AIOKafkaProducer
) -> None:
    await reader.produce(producer, reader.every, 120)
    await reader.read_until()
    assert reader.session().session_id != NO_SESSION

    # Records on a few partitions, produced in waves while the session is open. The first request after
    # the records above were handed out names all their partitions (they moved): let it go first.
    await asyncio.sleep(0.5)
    busy = reader.every[:2]
    reader.requests.clear()
    for _ in range(5):
        await reader.produce(producer, busy, 10)
        await reader.read_until()
    assert dict(reader.read) == dict(reader.sent)
    incremental = [named for session_id, named in reader.requests if session_id != NO_SESSION]
    assert incremental and max(incremental) <= len(busy) < len(reader.every)

    # A partition no request has named since the session opened still gets its new records.
    quiet = reader.every[-1]
    await reader.produce(producer, [quiet], 3)
    await reader.read_until()
    assert reader.read[quiet] == reader.sent[quiet]


async def test_pause_resume_and_seek_back_in_a_session(reader: Reader, producer: AIOKafkaProducer) -> None:
    await reader.produce(producer, reader.every, 24)
    await reader.read_until()

    paused, running = reader.every[0], reader.every[1]
    reader.consumer.pause(paused)
    await reader.produce(producer, [paused, running], 10)
    await reader.read_until({running: reader.sent[running]})
    await asyncio.sleep(0.5)  # several fetches while paused
    assert len(reader.read[paused]) == len(reader.sent[paused]) - 5  # nothing of the paused partition
    reader.consumer.resume(paused)
    await reader.read_until()

    reader.consumer.seek(running, 0)  # read it all again
    twice = reader.sent[running] * 2
    await reader.read_until({**reader.sent, running: twice})
    assert reader.read[running] == twice
    others = [tp for tp in reader.every if tp != running]
    assert [reader.read[tp] for tp in others] == [reader.sent[tp] for tp in others]


async def test_a_session_the_broker_no_longer_knows_is_opened_again_and_nothing_is_lost(
    reader: Reader, producer: AIOKafkaProducer
) -> None:
    await reader.produce(producer, reader.every, 24)
    await reader.read_until()
    session = reader.session()
    lost_id = session.session_id
    session.session_id = lost_id + 1_000_000  # as if the broker had evicted it: FETCH_SESSION_ID_NOT_FOUND
    await reader.produce(producer, reader.every, 24)
    await reader.read_until()
    assert dict(reader.read) == dict(reader.sent)
    assert session.session_id not in (NO_SESSION, lost_id + 1_000_000)
