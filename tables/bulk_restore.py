"""Restoring a long changelog backlog in bulk, before Faust's record-by-record recovery reads the rest.

Faust's recovery applies a changelog record by record through the worker's consumer thread: about
3,000 records/s here, while a plain aiokafka consumer reads the same topic at ~40,000/s. When an
actively assigned partition is more than ``BULK_THRESHOLD`` records behind its changelog (a new
host, a lost data directory, a long absence), ``restore_in_bulk`` reads the backlog with a consumer
of its own and the store writes it in RocksDB write batches, exactly as Faust's
``apply_changelog_batch`` does (raw bytes; a tombstone deletes), with the last offset in the same
batch. Faust's recovery then reads only what was written meanwhile, up to the highwater it measured,
and nothing is acked before it is done: the guarantees stay Faust's.

It runs in the recovery service (tables/recovery.py), not in the rebalance callback: aiokafka sends
no heartbeats while that callback runs, so a restore longer than the session timeout (10 s) there
had the coordinator drop the worker from its group, rebalance and start the recovery again.

The store is registered as ``bulkrocksdb`` (a ``faust.stores`` entry point in pyproject.toml).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, cast

import rocksdict
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.stores.rocksdb import Store
from faust.transport.drivers.aiokafka import server_list
from faust.types import TP, AppT

log = logging.getLogger(__name__)

SCHEME = "bulkrocksdb"
# Below this many records behind, Faust's own recovery is quick enough and costs no extra consumer.
BULK_THRESHOLD = 2_000
# Per partition and per fetch. Reading a 100,000-row changelog (529 MiB) with a plain consumer here:
# 1 MiB ~100,000 records/s, 16 MiB ~57,000/s (each response is copied whole, several times).
FETCH_BYTES = 1024 * 1024
# Records per RocksDB write batch. At 5,000 rows (a ~25 MiB batch) a put cost ~5.4 µs to build, at 1,000
# ~2.4 µs: the bigger buffers took fresh pages each time (270,000 page faults per 100,000 puts, against
# 43,000). In the recovery bench: 46,000-48,000 -> 55,000-68,000 records/s.
BATCH_RECORDS = 1_000
IDLE_FETCHES = 20  # empty fetches in a row (of 0.5 s) before a partition short of its end is left to Faust


def backlog(persisted: int | None, earliest: int, highwater: int) -> int:
    """Records between what the store holds (``persisted``: the last applied offset) and ``highwater``.

    The changelog may be compacted or trimmed: reading never starts before ``earliest``.
    """
    start = max(earliest, -1 if persisted is None else persisted + 1)
    return max(highwater - start, 0)


# No write of these stores goes through RocksDB's write-ahead log: a put of a ~4 KiB row cost 26-40 us
# of a busy worker's CPU with it (the log is a write(2) per put), 10-16 us standalone, and 2-12 us
# standalone without it. A crash then loses the writes since the last memtable flush, and only ever
# a prefix of them: a row is put before its changelog record is sent and the changelog offset after
# the broker has it, so the offset that survives never passes a lost row, and recovery replays the
# changelog from there (Kafka Streams' RocksDB stores do the same). Every write must skip the log for
# this to hold, Faust's own included (recovery, standbys): hence the option is the databases'
# default, set as each one opens. A clean stop flushes the memtables.
NO_WAL = rocksdict.WriteOptions()
NO_WAL.disable_wal = True  # type: ignore[method-assign,assignment]  # a property; the stub says method


class BulkRestoringStore(Store):
    """Faust's RocksDB store (rocksdict), plus the write batches of a bulk restore."""

    def get_row(self, partition: int, key: bytes) -> bytes | None:
        """What Faust's ``_get`` does inside a stream, with the partition given, not read from the current event."""
        value: bytes | None = self._db_for_partition(partition).get(key)
        return value

    def put_row(self, partition: int, key: bytes, value: bytes) -> None:
        """What Faust's ``_set`` does, with the partition given instead of read from the current event.

        Without Faust's key index entry: that index (an LRU cache under a lock, ~3-4 µs of a busy
        worker's CPU per put, timed inside one) only spares a read outside a stream a search of the
        partitions' bloom filters, and such a read fills it in itself; ``get_row`` never consults it.
        """
        self._db_for_partition(partition).put(key, value)

    def _open_for_partition(self, partition: int) -> rocksdict.Rdict:
        db = cast(rocksdict.Rdict, super()._open_for_partition(partition))
        db.set_write_options(NO_WAL)
        return db

    def write_changelog_records(self, partition: int, records: list[Any], end: int) -> int:
        """One write batch of changelog records (up to ``end``) and the last one's offset as persisted."""
        batch = rocksdict.WriteBatch(raw_mode=True)
        last, written = None, 0
        for record in records:
            if record.offset >= end:
                break
            last = record.offset
            if record.key is None:  # no row to put it in (Faust's own restore would fail on it)
                continue
            if record.value is None:
                batch.delete(record.key)
            else:
                batch.put(record.key, record.value)
            written += 1
        if last is None:
            return 0
        # In the same batch, so a crash never leaves the offset ahead of the rows (behind only re-applies).
        batch.put(self.offset_key, str(last).encode())
        self._db_for_partition(partition).write(batch)
        return written


async def restore_in_bulk(
    app: AppT, stores: Mapping[TP, BulkRestoringStore], ends: Mapping[TP, int], *, seconds: float
) -> int:
    """Changelog records written into ``stores`` (changelog partition -> its store) up to ``ends``.

    Reads for at most about ``seconds``; whatever is left then is Faust's recovery's to read.
    """
    # The store's offset says where a partition stands; an upper bound of its backlog (the log read
    # from offset 0) rules out most partitions of an ordinary rebalance without asking the broker.
    behind = {tp for tp, store in stores.items() if backlog(store.persisted_offset(tp), 0, ends[tp]) >= BULK_THRESHOLD}
    if not behind:
        return 0
    consumer = AIOKafkaConsumer(
        bootstrap_servers=server_list(app.conf.broker, 9092),
        client_id=f"{app.conf.broker_client_id}-bulk-restore",
        enable_auto_commit=False,
        max_partition_fetch_bytes=FETCH_BYTES,
        fetch_max_bytes=4 * FETCH_BYTES,
        isolation_level="read_committed" if app.in_transaction else "read_uncommitted",
    )
    await consumer.start()
    try:
        started = time.monotonic()
        restored, read = await _read_into_stores(consumer, {tp: stores[tp] for tp in behind}, ends, started + seconds)
        took = time.monotonic() - started
        if restored:
            log.info(
                "bulk-restored %d changelog records of %s in %.2fs (%.0f/s)",
                restored,
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(read)),
                took,
                restored / took if took else 0.0,
            )
        return restored
    finally:
        await consumer.stop()


async def _read_into_stores(
    consumer: AIOKafkaConsumer, stores: Mapping[TP, BulkRestoringStore], ends: Mapping[TP, int], deadline: float
) -> tuple[int, list[TP]]:
    """Records written, and the partitions read: those still at least ``BULK_THRESHOLD`` behind."""
    partitions = {TopicPartition(tp.topic, tp.partition): tp for tp in stores}
    firsts = await consumer.beginning_offsets(list(partitions))
    starts: dict[TopicPartition, int] = {}
    for kafka_tp, tp in partitions.items():
        persisted = stores[tp].persisted_offset(tp)
        if backlog(persisted, firsts[kafka_tp], ends[tp]) >= BULK_THRESHOLD:
            starts[kafka_tp] = max(firsts[kafka_tp], -1 if persisted is None else persisted + 1)
    if not starts:
        return 0, []
    consumer.assign(list(starts))
    for kafka_tp, start in starts.items():
        consumer.seek(kafka_tp, start)
    remaining = set(starts)
    restored = idle = 0
    while remaining and idle < IDLE_FETCHES and time.monotonic() < deadline:
        fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=BATCH_RECORDS)
        idle = 0 if fetched else idle + 1
        for kafka_tp, records in fetched.items():
            tp = partitions[kafka_tp]
            restored += stores[tp].write_changelog_records(tp.partition, records, ends[tp])
            if records and records[-1].offset + 1 >= ends[tp]:
                remaining.discard(kafka_tp)
        for kafka_tp in list(remaining):  # a compacted or transactional tail can end before the highwater
            if await consumer.position(kafka_tp) >= ends[partitions[kafka_tp]]:
                remaining.discard(kafka_tp)
    return restored, [partitions[kafka_tp] for kafka_tp in starts]
