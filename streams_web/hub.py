"""Who listens for which row, and the changelog tail that feeds them, reading only while someone listens.

Every worker tails the interviews table's changelog (a plain consumer, no group, every partition)
so that a stream can be opened on any worker. With no stream open the tail reads nothing: its
partitions are paused, so the worker spends no fetches, decompression or parsing on rows nobody
watches (about 5% of a busy worker's CPU), nor the broker on serving them. A stream subscribes
first, then waits in ``live()`` until the tail is reading again, and only then reads its first row:
a write the row does not show has its changelog record past the tail's position, so it reaches
the stream. Rows are full snapshots and the streams skip history they already told, so a write
seen both ways is told once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from aiokafka import TopicPartition

from app.metrics import SSE_STREAMS, labelled
from tables.interview import Interview

log = logging.getLogger(__name__)

FETCH_WAIT_MS = 500  # a getmany with nothing to return comes back after this, to notice no stream is left


class Latest:
    """One subscriber's mailbox: only the newest row is kept."""

    def __init__(self) -> None:
        self.row: Interview | None = None
        self.changed = asyncio.Event()

    def put(self, row: Interview) -> None:
        self.row = row
        self.changed.set()

    def wake(self) -> None:
        """Wake the subscriber without a row: its connection ended or the worker stops."""
        self.changed.set()

    async def take(self) -> Interview | None:
        await self.changed.wait()
        self.changed.clear()
        row, self.row = self.row, None
        return row


class ChangelogConsumer(Protocol):
    """The part of aiokafka's consumer the tail uses (assigned the changelog's partitions)."""

    def pause(self, *partitions: TopicPartition) -> None: ...

    def resume(self, *partitions: TopicPartition) -> None: ...

    async def seek_to_end(self, *partitions: TopicPartition) -> Any: ...

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = ...) -> Mapping[TopicPartition, Any]: ...


class Hub:
    def __init__(self) -> None:
        self.by_interview: dict[str, set[Latest]] = defaultdict(set)
        self.by_run: dict[str, set[Latest]] = defaultdict(set)
        self.stopping = asyncio.Event()
        self._wanted = asyncio.Event()  # a stream subscribed while the tail was paused
        self._reading = asyncio.Event()  # the tail reads every write from its position on

    def has_streams(self) -> bool:
        return bool(self.by_interview or self.by_run)

    def wants(self, key: bytes | None) -> bool:
        """Whether a changelog record with this key (an interviewId) could interest an open stream."""
        if self.by_run:  # run streams are found by the row's runId: every row must be read
            return True
        return key is not None and key.decode(errors="replace") in self.by_interview

    def stop(self) -> None:
        self.stopping.set()
        self._reading.set()  # streams waiting in live() go on, and end as stopping says
        for index in (self.by_interview, self.by_run):
            for boxes in index.values():
                for box in boxes:
                    box.wake()

    def publish(self, row: Interview) -> None:
        for box in self.by_interview.get(row.interview_id, ()):
            box.put(row)
        for box in self.by_run.get(row.run_id, ()):
            box.put(row)

    @contextlib.contextmanager
    def subscribe(self, index: dict[str, set[Latest]], key: str, kind: str) -> Iterator[Latest]:
        box = Latest()
        index[key].add(box)
        labelled(SSE_STREAMS, kind).inc()
        try:
            yield box
        finally:
            labelled(SSE_STREAMS, kind).dec()
            index[key].discard(box)
            if not index[key]:
                del index[key]

    async def live(self) -> None:
        """Return once the tail reads every row write made from now on; call it after ``subscribe``."""
        self._wanted.set()
        await self._reading.wait()

    async def follow(self, consumer: ChangelogConsumer, partitions: Sequence[TopicPartition]) -> None:
        """Feed the subscribers from ``consumer``, reading only while a stream is open (module docstring)."""
        self._reading.clear()
        consumer.pause(*partitions)
        while True:
            if not self.has_streams():
                self._wanted.clear()  # set by a stream that has gone again: nobody waits
                await self._wanted.wait()
            await consumer.seek_to_end(*partitions)  # resolves the end offsets before it returns
            consumer.resume(*partitions)
            self._reading.set()
            while self.has_streams():
                batches = await consumer.getmany(timeout_ms=FETCH_WAIT_MS)
                for records in batches.values():
                    self._publish_records(records)
            self._reading.clear()
            consumer.pause(*partitions)

    def _publish_records(self, records: Sequence[Any]) -> None:
        for record in records:
            if record.value is None or not self.wants(record.key):
                continue
            try:
                self.publish(Interview.model_validate_json(record.value))
            except ValueError:
                log.warning("unreadable interview row at %s[%s]@%s", record.topic, record.partition, record.offset)
