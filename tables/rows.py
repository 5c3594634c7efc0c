"""Row reads and writes from the agents: the local store and the changelog, the row encoded once.

``read_row`` reads the partition of the event being processed, as Faust's table does inside a
stream; Faust's ``table.get`` outside one (the drain loop's handlers have no current event) looks
the key up twice (``in``, then ``[]``), in every partition's database it has no index entry for.

``table[key] = row`` is Faust's way. It encodes the row twice (for the changelog record and for
RocksDB) and sends the record through Faust's topic machinery (a FutureMessage, the producer
buffer, sensors, callbacks). ``write_row`` puts the same bytes in the same two places:

- the store first, with no await before it, so the caller's read-step-write stays atomic
  against the other agents of the partition;
- then the changelog record, straight to the worker's producer (``topics.send``), so a commit
  flushes it before the input's offset, as before. Records of one changelog partition go out in
  write order even when the producer makes a send wait (a full batch): a lock per partition,
  which an uncontended write takes without yielding;
- once the broker has the record, its offset is the store's persisted offset, as Faust's own
  ``_on_changelog_sent`` records it, so recovery reads on from there.

Skipped from Faust's path: the table sensors' counts and key expiry (no table here expires keys).
"""

from __future__ import annotations

import asyncio
import logging
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


def read_row(table: Table[str, Any], key: str, *, partition: int) -> Any | None:
    """The row under ``key`` in ``partition`` of ``table`` (the partition of the event being processed), or None."""
    store = table.data
    if not isinstance(store, BulkRestoringStore):
        return table.get(key)
    value = store.get_row(partition, cast(Codec, table.key_serializer).dumps(key))
    return None if value is None else cast(Codec, table.value_serializer).loads(value)


async def write_row(table: Table[str, Any], key: str, row: BaseModel, *, partition: int) -> None:
    """Write ``row`` under ``key`` in ``partition`` of ``table`` (the partition of the event being processed)."""
    store = table.data
    if not isinstance(store, BulkRestoringStore):  # the memory store keeps decoded rows: Faust's way
        table[key] = row
        return
    key_bytes = cast(Codec, table.key_serializer).dumps(key)
    value = cast(Codec, table.value_serializer).dumps(row)
    store.put_row(partition, key_bytes, value)
    tp = TP(table.changelog_topic.get_topic_name(), partition)
    lock = _ordering.get(tp)
    if lock is None:
        lock = _ordering[tp] = asyncio.Lock()
    async with lock:
        delivery = await topics.send(tp.topic, key_bytes, value, partition=partition)
    cast(asyncio.Future[Any], delivery).add_done_callback(partial(_persisted, store, tp))


def _persisted(store: BulkRestoringStore, tp: TP, delivery: asyncio.Future[Any]) -> None:
    if delivery.cancelled() or delivery.exception() is not None:
        # As on Faust's own path: the row stays in the store and the changelog lacks this version
        # until the row's next write (a commit may still pass the input that wrote it).
        log.error("changelog record for %s not written: %r", tp, None if delivery.cancelled() else delivery.exception())
        return
    store.set_persisted_offset(tp, delivery.result().offset)
