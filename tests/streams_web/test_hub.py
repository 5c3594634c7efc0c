"""The changelog tail reads only while a stream is open, and a stream reads its first row only once the tail reads.

The consumer is a recording stand-in for aiokafka's (pause, resume, seek_to_end, getmany): what is
checked is the order of those calls against the streams' subscriptions. That a real worker's
streams see its transitions through a real changelog is tests/integration/test_live_streams.py's part.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from app import direct
from streams_web import live
from streams_web.hub import Hub
from tables.interview import Interview

PARTITIONS = [TopicPartition("app-interviews-changelog", number) for number in range(3)]


class RecordingConsumer:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.paused = False
        self.batches: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.sought = asyncio.Event()

    def pause(self, *partitions: TopicPartition) -> None:
        assert list(partitions) == PARTITIONS
        self.paused = True
        self.calls.append("pause")

    def resume(self, *partitions: TopicPartition) -> None:
        assert list(partitions) == PARTITIONS
        self.paused = False
        self.calls.append("resume")

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        assert list(partitions) == PARTITIONS
        self.calls.append("seek_to_end")
        await self.sought.wait()  # the end offsets' round trip
        self.calls.append("at_end")

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0) -> Mapping[TopicPartition, Any]:
        assert not self.paused, "fetched while paused"
        self.calls.append("getmany")
        try:
            records = await asyncio.wait_for(self.batches.get(), 0.01)
        except TimeoutError:
            return {}
        return {PARTITIONS[0]: records}


def row_record(interview_id: str) -> Any:
    row = Interview.create(
        interview_id=interview_id, tenant_id="acme", run_id="run-1", event_id="e-1", actor="t", at="t"
    )
    return SimpleNamespace(key=interview_id.encode(), value=row.model_dump_json(by_alias=True).encode(), offset=0)


@pytest.fixture
async def tail() -> AsyncIterator[tuple[Hub, RecordingConsumer]]:
    hub, consumer = Hub(), RecordingConsumer()
    task = asyncio.create_task(hub.follow(consumer, PARTITIONS))
    await asyncio.sleep(0.05)
    yield hub, consumer
    task.cancel()


async def test_with_no_stream_open_the_tail_is_paused_and_fetches_nothing(
    tail: tuple[Hub, RecordingConsumer],
) -> None:
    _, consumer = tail
    await asyncio.sleep(0.1)
    assert consumer.calls == ["pause"]
    assert consumer.paused


async def test_a_stream_goes_on_only_once_the_tail_is_at_the_end_and_reading_then_gets_rows(
    tail: tuple[Hub, RecordingConsumer],
) -> None:
    hub, consumer = tail
    with hub.subscribe(hub.by_interview, "iv-1", "interview") as box:
        live = asyncio.create_task(hub.live())
        await asyncio.sleep(0.05)
        assert not live.done()  # the end offsets are not resolved yet: its first row would be too early
        consumer.sought.set()
        await asyncio.wait_for(live, 1.0)
        assert consumer.calls[:4] == ["pause", "seek_to_end", "at_end", "resume"]

        await consumer.batches.put([row_record("iv-2"), row_record("iv-1")])
        row = await asyncio.wait_for(box.take(), 1.0)
        assert row is not None and row.interview_id == "iv-1"


async def test_the_tail_pauses_again_once_the_last_stream_ends_and_resumes_from_the_end_for_the_next(
    tail: tuple[Hub, RecordingConsumer],
) -> None:
    hub, consumer = tail
    consumer.sought.set()
    with hub.subscribe(hub.by_interview, "iv-1", "interview"):
        await asyncio.wait_for(hub.live(), 1.0)
    await asyncio.sleep(0.1)  # the getmany under way returns, then the tail sees no stream
    assert consumer.paused and consumer.calls[-1] == "pause"
    fetches = consumer.calls.count("getmany")
    await asyncio.sleep(0.1)
    assert consumer.calls.count("getmany") == fetches

    before = len(consumer.calls)
    with hub.subscribe(hub.by_run, "run-1", "run"):
        await asyncio.wait_for(hub.live(), 1.0)
        # What was written meanwhile is skipped: the tail starts at the end again.
        assert consumer.calls[before : before + 3] == ["seek_to_end", "at_end", "resume"]


async def test_a_stream_that_subscribed_before_the_tail_started_is_not_left_waiting() -> None:
    hub, consumer = Hub(), RecordingConsumer()
    consumer.sought.set()
    with hub.subscribe(hub.by_interview, "iv-1", "interview"):
        live = asyncio.create_task(hub.live())
        await asyncio.sleep(0)
        task = asyncio.create_task(hub.follow(consumer, PARTITIONS))
        try:
            await asyncio.wait_for(live, 1.0)
            assert consumer.calls[:4] == ["pause", "seek_to_end", "at_end", "resume"]
        finally:
            task.cancel()


async def test_stopping_releases_streams_waiting_for_the_tail(tail: tuple[Hub, RecordingConsumer]) -> None:
    hub, _ = tail  # the end offsets never come (a broker that does not answer)
    with hub.subscribe(hub.by_interview, "iv-1", "interview"):
        live = asyncio.create_task(hub.live())
        await asyncio.sleep(0.05)
        assert not live.done()
        hub.stop()
        await asyncio.wait_for(live, 1.0)


def test_the_drain_loop_ends_its_runs_at_each_turn_while_a_live_stream_is_open() -> None:
    assert direct.sends_awaited == live.hub.has_streams  # a stream sees a row once its changelog record is sent
