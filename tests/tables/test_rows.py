"""write_row: one encoding in the store and the changelog, in write order, the persisted offset once delivered;
read_row: the row back from the partition given.

The store is a real RocksDB one (BulkRestoringStore in a temporary directory); the producer is the
seam ``topics.send``, recorded here. That the records reach a real changelog and a rebuilt worker
serves them is the fault suite's and tests/integration/test_restore_in_bulk.py's part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from store_support import CODECS, open_store

from app import topics
from tables import rows
from tables.rows import read_row, write_row
from tables.webhook_queue import WebhookQueue

CHANGELOG = "app-webhook-queues-changelog"


class RecordingProducer:
    """``topics.send``: records each record, returns its delivery; ``hold`` makes the next send wait."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, int | None]] = []
        self.deliveries: list[asyncio.Future[Any]] = []
        self.hold: asyncio.Event | None = None

    async def send(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        if self.hold is not None:
            hold, self.hold = self.hold, None
            await hold.wait()  # as aiokafka waits for a full batch to drain
        assert isinstance(key, bytes) and value is not None
        self.sent.append((topic, key, value, partition))
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> RecordingProducer:
    recording = RecordingProducer()
    monkeypatch.setattr(topics, "send", recording.send)
    monkeypatch.setattr(rows, "_ordering", {})
    monkeypatch.setattr(rows, "_unsent", {})
    return recording


@pytest.fixture
def table(tmp_path: Path) -> Any:
    changelog = SimpleNamespace(get_topic_name=lambda: CHANGELOG)
    return SimpleNamespace(data=open_store(tmp_path), changelog_topic=changelog, **CODECS)


def stored(table: Any, partition: int, key: str) -> bytes | None:
    value: bytes | None = table.data._db_for_partition(partition).get(key.encode())
    return value


def queue(sequence: int) -> WebhookQueue:
    """Rows that differ in their bytes, so the order they were sent in shows."""
    return WebhookQueue(last_sequence=sequence)


async def test_the_row_is_in_the_store_before_the_first_await_and_the_changelog_gets_the_same_bytes(
    table: Any, producer: RecordingProducer
) -> None:
    writing = asyncio.ensure_future(write_row(table, "iv-1", queue(1), partition=2))
    await asyncio.sleep(0)  # the write ran up to its first suspension

    assert stored(table, 2, "iv-1") == queue(1).model_dump_json(by_alias=True).encode()
    await writing
    assert producer.sent == [(CHANGELOG, b"iv-1", stored(table, 2, "iv-1"), 2)]


async def test_the_persisted_offset_moves_only_once_the_broker_has_the_record(
    table: Any, producer: RecordingProducer
) -> None:
    tp = TP(CHANGELOG, 0)
    await write_row(table, "iv-1", queue(1), partition=0)
    assert table.data.persisted_offset(tp) is None

    producer.deliveries[0].set_result(SimpleNamespace(offset=41))
    await asyncio.sleep(0)  # done callbacks run on the next loop turn

    assert table.data.persisted_offset(tp) == 41


async def test_a_failed_delivery_leaves_the_persisted_offset_and_says_so(
    table: Any, producer: RecordingProducer, caplog: pytest.LogCaptureFixture
) -> None:
    tp = TP(CHANGELOG, 0)
    await write_row(table, "iv-1", queue(1), partition=0)
    producer.deliveries[0].set_result(SimpleNamespace(offset=7))
    await write_row(table, "iv-1", queue(2), partition=0)

    with caplog.at_level(logging.ERROR, logger=rows.__name__):
        producer.deliveries[1].set_exception(TimeoutError("no leader"))
        await asyncio.sleep(0)

    assert table.data.persisted_offset(tp) == 7
    assert "not written" in caplog.text and "no leader" in caplog.text


async def test_records_of_one_partition_leave_in_write_order_when_a_send_waits(
    table: Any, producer: RecordingProducer
) -> None:
    producer.hold = release = asyncio.Event()
    first = asyncio.ensure_future(write_row(table, "iv-1", queue(1), partition=0))
    await asyncio.sleep(0)  # the first write's send is waiting
    second = asyncio.ensure_future(write_row(table, "iv-1", queue(2), partition=0))
    other = asyncio.ensure_future(write_row(table, "iv-9", queue(9), partition=1))
    await asyncio.sleep(0)

    assert stored(table, 0, "iv-1") == queue(2).model_dump_json(by_alias=True).encode()
    assert [(key, partition) for _, key, _, partition in producer.sent] == [(b"iv-9", 1)]  # not held up
    release.set()
    await asyncio.gather(first, second, other)

    in_partition_0 = [value for _, _, value, partition in producer.sent if partition == 0]
    assert in_partition_0 == [
        queue(1).model_dump_json(by_alias=True).encode(),
        queue(2).model_dump_json(by_alias=True).encode(),
    ]


async def test_a_row_reads_back_decoded_from_the_partition_it_was_written_in(
    table: Any, producer: RecordingProducer
) -> None:
    await write_row(table, "iv-1", queue(3), partition=1)

    assert read_row(table, "iv-1", partition=1) == queue(3)
    assert read_row(table, "iv-2", partition=1) is None
    # The event's partition only, as Faust's table reads inside a stream: rows live where their events do.
    assert read_row(table, "iv-1", partition=0) is None


async def test_a_staged_row_is_in_the_store_at_once_and_its_record_goes_out_before_any_put_after_it(
    table: Any, producer: RecordingProducer
) -> None:
    first = rows.stage_row(table, "iv-1", queue(1), partition=0)  # a drain-loop handler's put
    assert stored(table, 0, "iv-1") == queue(1).model_dump_json(by_alias=True).encode()
    assert producer.sent == []

    await write_row(table, "iv-1", queue(2), partition=0)  # another agent writes before the run's sends
    assert first is not None
    await rows.send_staged(first)  # already sent, in put order, by the write after it

    assert [value for _, _, value, _ in producer.sent] == [
        queue(1).model_dump_json(by_alias=True).encode(),
        queue(2).model_dump_json(by_alias=True).encode(),
    ]


async def test_a_dropped_staged_record_is_never_sent(table: Any, producer: RecordingProducer) -> None:
    dropped = rows.stage_row(table, "iv-1", queue(1), partition=0)
    assert dropped is not None
    rows.drop_staged(dropped)  # its input is read again, and rewrites the row

    await write_row(table, "iv-2", queue(2), partition=0)

    assert [key for _, key, _, _ in producer.sent] == [b"iv-2"]
