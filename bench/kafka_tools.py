"""Kafka plumbing the throughput and latency scenarios share: topics, offsets, bulk produce, envelopes.

Scenarios run one after another on one broker and the workflow topics are shared, so a worker of a
fresh group would start from the earliest offset and replay what earlier scenarios left behind.
``start_group_at_end`` commits the group's offsets at the log end first: the worker then sees only
what the scenario produces next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from local_kafka import admin
from models.topics import Topic

# Every topic a worker subscribes to or writes; a bench group starts at their log end.
WORKER_TOPICS: tuple[str, ...] = tuple(topic.value for topic in Topic)

logging.getLogger("aiokafka").setLevel(logging.ERROR)


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        result: list[TopicPartition] = []
        for topic in topics:
            for _ in range(50):  # a topic just created may take a moment to show its partitions
                parts = consumer.partitions_for_topic(topic)
                if parts:
                    break
                await consumer._client.force_metadata_update()  # no public refresh
                await asyncio.sleep(0.1)
            result.extend(TopicPartition(topic, p) for p in sorted(parts or ()))
        return result
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(list(tps)))
    finally:
        await consumer.stop()


async def start_group_at_end(bootstrap: str, group_id: str, topics: Sequence[str] = WORKER_TOPICS) -> int:
    """Commit ``group_id``'s offsets at the current log end of ``topics`` (a fresh group starts there)."""
    return await admin.start_group_at_end(bootstrap, group_id, topics)


def producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    """A bulk producer: batches of up to 512 KiB, acks from the leader's log (acks=all, one replica)."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        **overrides,
    }
    return AIOKafkaProducer(**settings)


async def produce_all(bootstrap: str, topic: str, records: Iterable[tuple[str, bytes]]) -> int:
    """Send every (key, value) to ``topic`` with the default (murmur2) partitioner; the count sent."""
    client = producer(bootstrap)
    await client.start()
    sent = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for key, value in records:
            pending.append(await client.send(topic, value=value, key=key.encode()))
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await client.stop()
    return sent


def envelope(event_type: str, tenant_id: str, interview_id: str, payload: dict[str, Any], *, event_id: str) -> bytes:
    """A workflow envelope (SPEC section 3) as the bytes an outside producer would write."""
    return orjson.dumps(
        {
            "eventType": event_type,
            "eventId": event_id,
            "tenantId": tenant_id,
            "runId": f"run_bench_{interview_id}",
            "interviewId": interview_id,
            "timestamp": "2026-01-15T10:01:00.000Z",
            "payload": payload,
        }
    )


SKILLS = ["Kafka", "Python", "Faust", "RocksDB"]
JOB_DESCRIPTION = "Own the event backbone: design topics, run Faust workers, keep lag low, lose nothing."


def skill_validation(tenant_id: str, interview_id: str) -> bytes:
    payload = {"skills": SKILLS, "jobDescription": JOB_DESCRIPTION, "level": "SENIOR", "position": "Backend Engineer"}
    return envelope(Topic.SKILL_VALIDATION_REQUESTED, tenant_id, interview_id, payload, event_id=f"svr-{interview_id}")


def interview_requested(tenant_id: str, interview_id: str) -> bytes:
    payload = {
        "externalId": f"ext-{interview_id}",
        "candidateName": "Ada Lovelace",
        "candidateRef": f"cand-{interview_id}",
        "position": "Backend Engineer",
        "level": "SENIOR",
        "skills": SKILLS,
        "jobDescription": JOB_DESCRIPTION,
    }
    return envelope(Topic.INTERVIEW_REQUESTED, tenant_id, interview_id, payload, event_id=f"req-{interview_id}")
