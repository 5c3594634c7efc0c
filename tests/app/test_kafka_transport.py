"""The worker's Kafka transport (app/kafka_transport.py): Faust's, with its consumer mended.

A record fetched but not handed out sends the worker back to its committed offsets instead of
being skipped (the fault suite's 1 -> 2 -> 1 workers case lost interviews that way); a fetch for
no partition returns nothing (aiokafka reads an empty set as every partition); and the fetch
long-poll is 100 ms (each offsets request of a quiet worker waited 1.5 s behind one).
"""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any, cast

from faust.transport import by_url
from faust.types import TP
from mode.utils.locks import Event

from app import kafka_transport
from app.main import app
from app.settings import settings

STREAM = [TP("skill.validation.requested", partition) for partition in range(2)]


class FetchingConsumer(kafka_transport.Consumer):
    """The consumer's ``getmany`` over one scripted fetch: no broker, no thread."""

    def __init__(self, batch: dict[TP, list[Any]], active: set[TP], *, rebalance_during_fetch: bool = False) -> None:
        # Faust's Consumer.__init__ needs a transport; getmany reads only what is set here.
        self.app = cast(Any, SimpleNamespace)(
            consumer_generation_id=1, monitor=SimpleNamespace(track_tp_end_offset=lambda tp, offset: None)
        )
        self.batch, self.active, self.rebalance_during_fetch = batch, active, rebalance_during_fetch
        self.flow_active = True
        self._buffered_partitions: set[TP] = set()
        self.scheduler = app.conf.ConsumerScheduler()  # type: ignore[operator]
        self._stopped, self._crashed = Event(), Event()
        self.rewinds = 0

    async def _wait_next_records(self, timeout: float) -> tuple[dict[TP, list[Any]], set[TP]]:
        if self.rebalance_during_fetch:
            self.app.consumer_generation_id = 2
        return self.batch, self.active

    def highwater(self, tp: TP) -> int:
        return 0

    def _to_message(self, tp: TP, record: Any) -> Any:
        return record.offset

    async def perform_seek(self) -> None:
        self.rewinds += 1


def _records(*offsets: int) -> list[Any]:
    return [SimpleNamespace(offset=offset) for offset in offsets]


async def _handed_out(consumer: FetchingConsumer) -> list[tuple[int, int]]:
    return [(tp.partition, int(offset)) async for tp, offset in consumer.getmany(timeout=1.0)]  # type: ignore[call-overload]


def test_a_batch_of_active_partitions_is_handed_out_whole_without_a_rewind() -> None:
    consumer = FetchingConsumer({STREAM[0]: _records(5, 6), STREAM[1]: _records(9)}, active=set(STREAM))

    assert sorted(asyncio.run(_handed_out(consumer))) == [(0, 5), (0, 6), (1, 9)]
    assert consumer.rewinds == 0


def test_a_batch_fetched_across_a_rebalance_is_not_handed_out_and_is_read_again() -> None:
    consumer = FetchingConsumer({STREAM[0]: _records(47, 48)}, active=set(STREAM), rebalance_during_fetch=True)

    assert asyncio.run(_handed_out(consumer)) == []
    assert consumer.rewinds == 1  # Faust skipped these records and its position was already past them


def test_records_of_a_partition_paused_meanwhile_are_read_again() -> None:
    consumer = FetchingConsumer({STREAM[0]: _records(47), STREAM[1]: _records(61)}, active={STREAM[1]})

    assert asyncio.run(_handed_out(consumer)) == [(1, 61)]
    assert consumer.rewinds == 1


def test_a_stopped_flow_hands_out_nothing_and_rewinds() -> None:
    consumer = FetchingConsumer({STREAM[0]: _records(3)}, active=set(STREAM))
    consumer.flow_active = False

    assert asyncio.run(_handed_out(consumer)) == []
    assert consumer.rewinds == 1


class RecordingFetcher:
    _closed = False

    def __init__(self, live: set[TP]) -> None:
        self.live = live
        self.asked: list[set[TP]] = []
        self._subscriptions = SimpleNamespace(fetch_context=threading.Lock)

    async def fetched_records(self, partitions: set[TP], timeout: float, max_records: int) -> dict[TP, list[Any]]:
        self.live.clear()  # a rebalance pauses everything while the fetch waits
        self.asked.append(set(partitions))
        return {}


def _thread_fetch(active: set[TP]) -> RecordingFetcher:
    fetcher = RecordingFetcher(active)
    thread = object.__new__(kafka_transport.WorkerConsumerThread)
    thread.consumer = cast(Any, SimpleNamespace(flow_active=True))
    aiokafka_consumer = cast(Any, SimpleNamespace(_fetcher=fetcher, _closed=False))
    asyncio.run(thread._fetch_records(aiokafka_consumer, active, timeout=1.0, max_records=10))
    return fetcher


def test_a_fetch_for_no_partition_asks_aiokafka_for_nothing() -> None:
    assert _thread_fetch(set()).asked == []  # aiokafka would have read it as every partition


def test_a_fetch_asks_for_the_partitions_active_when_it_began() -> None:
    assert _thread_fetch({STREAM[0]}).asked == [{STREAM[0]}]  # not the live set, emptied meanwhile


def test_the_app_names_the_transport_and_faust_resolves_it() -> None:
    assert all(url.startswith(f"{kafka_transport.SCHEME}://") for url in settings.broker_urls)
    assert by_url(settings.broker_urls[0]) is kafka_transport.Transport
    assert isinstance(app.transport, kafka_transport.Transport)


def test_the_worker_consumer_waits_at_most_100_ms_for_a_fetch() -> None:
    async def build() -> int:
        thread = app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(app.transport)
        wait: int = consumer._fetch_max_wait_ms
        await consumer.stop()  # never started: closes its client only
        return wait

    assert isinstance(app.consumer._thread, kafka_transport.WorkerConsumerThread)  # type: ignore[attr-defined]
    assert asyncio.run(build()) == kafka_transport.FETCH_MAX_WAIT_MS == 100
