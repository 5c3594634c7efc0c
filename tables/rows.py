"""Row reads and writes from the agents: the local store and the changelog, the row encoded once.

``read_row`` reads the partition of the event being processed, as Faust's table does inside a
stream; Faust's ``table.get`` outside one (the drain loop's handlers have no current event) looks
the key up twice (``in``, then ``[]``), in every partition's database it has no index entry for.

``table[key] = row`` is Faust's way. It encodes the row twice (for the changelog record and for
RocksDB) and sends the record through Faust's topic machinery (a FutureMessage, the producer
buffer, sensors, callbacks). ``write_row`` puts the same bytes in the same two places, in two
steps a drain-loop handler takes apart (``stage_row`` now, ``send_staged`` once a run of
messages has been stepped: agents/runtime.py):

- the store first, with no await before it, so the caller's read-step-write stays atomic
  against the other agents of the partition;
- then the changelog record, straight to the worker's producer (``topics.send``), so a commit
  flushes it before the input's offset, as before. Records of one changelog partition go out in
  the order their rows were put, whoever sends first and even when the producer makes a send wait
  (a full batch): a queue and a lock per partition, which an uncontended send takes without yielding;
- once the broker has the record, its offset is the store's persisted offset, as Faust's own
  ``_on_changelog_sent`` records it, so recovery reads on from there.

Skipped from Faust's path: the table sensors' counts and key expiry (no table here expires keys).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from functools import partial
from typing import Any, cast

from faust import Table
from faust.serializers.codecs import Codec
from faust.types import TP
from pydantic import BaseModel

from app import topics
from tables.bulk_restore import BulkRestoringStore

log = logging.getLogger(__name__)

_ordering: dict[TP, asyncio.Lock] = {}
_unsent: dict[TP, deque[ChangelogRecord]] = {}


def read_row(table: Table[str, Any], key: str, *, partition: int) -> Any | None:
    """The row under ``key`` in ``partition`` of ``table`` (the partition of the event being processed), or None."""
    store = table.data
    if not isinstance(store, BulkRestoringStore):
        return table.get(key)
    value = store.get_row(partition, cast(Codec, table.key_serializer).dumps(key))
    return None if value is None else cast(Codec, table.value_serializer).loads(value)


class ChangelogRecord:
    """A row put in the store, as its changelog record: sent once, after every record staged before it."""

    __slots__ = ("key", "sent", "store", "tp", "value")

    def __init__(self, store: BulkRestoringStore, tp: TP, key: bytes, value: bytes) -> None:
        self.store, self.tp, self.key, self.value = store, tp, key, value
        self.sent = False


def stage_row(table: Table[str, Any], key: str, row: BaseModel, *, partition: int) -> ChangelogRecord | None:
    """Put ``row`` under ``key`` in ``partition`` of ``table`` now; its changelog record waits for ``send_staged``.

    None for a store that is not RocksDB: Faust's own write (``table[key] = row``) sends its record.
    """
    store = table.data
    if not isinstance(store, BulkRestoringStore):  # the memory store keeps decoded rows: Faust's way
        table[key] = row
        return None
    key_bytes = cast(Codec, table.key_serializer).dumps(key)
    value = cast(Codec, table.value_serializer).dumps(row)
    store.put_row(partition, key_bytes, value)
    record = ChangelogRecord(store, TP(table.changelog_topic.get_topic_name(), partition), key_bytes, value)
    _unsent.setdefault(record.tp, deque()).append(record)
    return record


async def send_staged(record: ChangelogRecord) -> None:
    """Send ``record``, and first every record of its changelog partition staged before it (write order)."""
    lock = _ordering.get(record.tp)
    if lock is None:
        lock = _ordering[record.tp] = asyncio.Lock()
    async with lock:
        queue = _unsent[record.tp]
        while not record.sent and queue:
            head = queue[0]
            delivery = await topics.send(head.tp.topic, head.key, head.value, partition=head.tp.partition)
            if queue and queue[0] is head:  # else dropped while the send waited (and sent all the same)
                queue.popleft()
            head.sent = True
            cast(asyncio.Future[Any], delivery).add_done_callback(partial(_persisted, head.store, head.tp))


def drop_staged(record: ChangelogRecord) -> None:
    """Forget a staged record that will not be sent: its input is read again and rewrites the row.

    Left queued, it would go out with the next record of its partition, after whatever another
    worker wrote there meanwhile if the partition moved.
    """
    queue = _unsent.get(record.tp)
    if not record.sent and queue is not None and record in queue:
        queue.remove(record)


async def write_row(table: Table[str, Any], key: str, row: BaseModel, *, partition: int) -> None:
    """Write ``row`` under ``key`` in ``partition`` of ``table`` (the partition of the event being processed)."""
    record = stage_row(table, key, row, partition=partition)
    if record is not None:
        await send_staged(record)


def _persisted(store: BulkRestoringStore, tp: TP, delivery: asyncio.Future[Any]) -> None:
    if delivery.cancelled() or delivery.exception() is not None:
        # As on Faust's own path: the row stays in the store and the changelog lacks this version
        # until the row's next write (a commit may still pass the input that wrote it).
        log.error("changelog record for %s not written: %r", tp, None if delivery.cancelled() else delivery.exception())
        return
    store.set_persisted_offset(tp, delivery.result().offset)
