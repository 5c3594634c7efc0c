"""Reading ``events.deadletter`` back: for the HTTP listing and the replay command.

A plain consumer (no group) reads the tail, or all, of every partition, so nothing is kept in
memory between uses and any worker (or a CLI) can answer.
"""

from __future__ import annotations

import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from app.settings import settings
from models.topics import Topic

READ_SECONDS = 10.0


async def read_dead_letters(limit: int | None = None) -> list[dict[str, object]]:
    """Up to ``limit`` records from the end of each partition (all when None), newest first."""
    partitions = [TopicPartition(Topic.DEADLETTER, p) for p in range(settings.partitions)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=8 << 20
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, starts[tp] if limit is None else max(starts[tp], ends[tp] - limit))
        records: list[dict[str, object]] = []
        deadline = time.monotonic() + READ_SECONDS
        while time.monotonic() < deadline and await _behind(consumer, ends):
            batches = await consumer.getmany(*partitions, timeout_ms=200)
            for batch in batches.values():
                for record in batch:
                    if record.offset < ends[TopicPartition(record.topic, record.partition)] and record.value:
                        document = orjson.loads(record.value)
                        if isinstance(document, dict):
                            records.append(document)
    finally:
        await consumer.stop()
    records.sort(key=lambda r: str(r.get("failedAt", "")), reverse=True)
    return records


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    positions = [await consumer.position(tp) for tp in ends]
    return any(position < end for position, end in zip(positions, ends.values(), strict=True))
