"""GET /api/v1/admin/deadletters: the most recent dead letters, read from the topic itself.

Any worker can answer: it reads the tail of every partition of ``events.deadletter`` with a
plain consumer (no group), so nothing is kept in memory between requests.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.web import View

from app.main import app
from app.settings import settings
from models.topics import Topic
from streams_web.http import ApiError, api, authenticate_admin, json_response

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
READ_SECONDS = 5.0


async def recent_dead_letters(limit: int) -> list[dict[str, object]]:
    """Up to ``limit`` records from the end of each partition, newest first."""
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
            consumer.seek(tp, max(starts[tp], ends[tp] - limit))
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


@app.page("/api/v1/admin/deadletters")
class DeadLetters(View):
    @api
    async def get(self, request: web.Request) -> web.Response:
        """?limit= (default 50), and optionally ?reason=, ?topic= (source topic), ?interviewId=."""
        authenticate_admin(request)
        raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 0 < int(raw_limit) <= MAX_LIMIT:
            raise ApiError(400, f"limit must be 1..{MAX_LIMIT}", fields=[{"field": "limit", "message": "1..500"}])
        limit = int(raw_limit)
        filters = {
            "reason": request.query.get("reason"),
            "sourceTopic": request.query.get("topic"),
            "interviewId": request.query.get("interviewId"),
        }
        letters = [
            letter
            for letter in await recent_dead_letters(limit)
            if all(value is None or letter.get(key) == value for key, value in filters.items())
        ]
        return json_response({"deadLetters": letters[:limit], "count": len(letters[:limit])})
