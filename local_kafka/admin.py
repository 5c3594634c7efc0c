"""Kafka admin chores the test suite and the benchmark share.

Topic names are not per consumer group, and a fresh group reads from the earliest offset: a worker
of a new group on a broker that already carries traffic would first replay all of it.
``start_group_at_end`` commits such a group's offsets at the log end before its first worker joins.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def existing_partitions(bootstrap: str, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of those ``topics`` that exist (a fresh broker may have none of them yet)."""
    wanted = set(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # All topics, filtered here: naming them in the metadata request would auto-create the
        # missing ones (auto.create.topics.enable) with the broker's default partition count.
        described = await admin.describe_topics()
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["topic"] in wanted and topic["error_code"] == 0
        for partition in topic["partitions"]
    ]


async def start_group_at_end(bootstrap: str, group_id: str, topics: Iterable[str]) -> int:
    """Commit ``group_id``'s offsets at the log end of ``topics``; the messages it thereby skips."""
    partitions = await existing_partitions(bootstrap, topics)
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        await consumer.commit(ends)
    finally:
        await consumer.stop()
    return sum(ends.values())


async def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, config: Mapping[str, str] | None = None
) -> None:
    """Create the topics that do not exist yet (with ``partitions`` and topic ``config``), as the worker would."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, 1, topic_configs=dict(config or {})) for name in names if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def committed_offsets(bootstrap: str, group_id: str, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
    """``group_id``'s committed offsets of ``tps``; a partition with none committed is left out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        answer = await admin.list_consumer_group_offsets(group_id, partitions=list(tps))
        return {tp: meta.offset for tp, meta in answer.items() if meta.offset >= 0}
    finally:
        await admin.close()
