"""app.bus against the real broker: ensure_topic, publish/consume round trips, max_messages, bad values.

Every test uses its own uuid topics and consumer groups; the typed helper's event goes to a throwaway
topic (same encoding path, ``topic=``), never to a workflow topic a worker of the session might read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from app.bus import BusError, ConsumedMessage, KafkaConsumerManager, KafkaProducerManager, publish_event
from models.codec import complete_envelope, decode_event
from models.topics import Topic

T = TypeVar("T")


def _unique(prefix: str) -> str:
    return f"bus-test-{prefix}-{uuid.uuid4().hex[:12]}"


def _in_own_loop(make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
    """Run a coroutine on a fresh loop in another thread (these tests are synchronous, like the bus)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout)


async def _partitions(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
        assert description["error_code"] == 0, description
        return len(description["partitions"])
    finally:
        await admin.close()


def _collect(
    bootstrap: str, topics: list[str], *, max_messages: int | None = None, group: str | None = None
) -> list[ConsumedMessage]:
    received: list[ConsumedMessage] = []
    consumer = KafkaConsumerManager(group or _unique("group"), bootstrap)
    consumer.connect(topics)
    try:
        count = consumer.consume(received.append, max_messages=max_messages, timeout=3.0, with_metadata=True)
    finally:
        consumer.disconnect()
    assert count == len(received)
    return received


def test_ensure_topic_creates_three_partitions_once(bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    topic = _unique("ensure")
    assert KafkaProducerManager.ensure_topic(topic, bootstrap_servers=bootstrap) is True
    assert KafkaProducerManager.ensure_topic(topic, bootstrap_servers=bootstrap) is False
    with KafkaProducerManager(bootstrap) as producer:
        assert producer.connected and not producer.logging_only
        assert producer.ensure_topic(topic) is False  # the manager's broker, not the environment's
        assert producer.ensure_topic(_unique("ensure-bound"), partitions=1) is True
    assert _in_own_loop(lambda: _partitions(bootstrap, topic)) == 3
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "app.bus"] == []


def test_ensure_topic_reports_a_refused_topic(bootstrap: str) -> None:
    with pytest.raises(BusError, match="InvalidReplicationFactor"):
        KafkaProducerManager.ensure_topic(_unique("rf"), replication_factor=3, bootstrap_servers=bootstrap)


def test_publish_then_consume_round_trip_with_key_and_headers(bootstrap: str) -> None:
    topic = _unique("roundtrip")
    KafkaProducerManager.ensure_topic(topic, bootstrap_servers=bootstrap)
    value = {"event_type": "wells_scraped", "data": {"wells": [{"api": "42-329-40003", "depth": 10_250.5}]}}
    with KafkaProducerManager(bootstrap) as producer:
        producer.publish(topic, value, key="wells_scraped", headers={"source": "ingestion", "trace": b"\x00\x01"})
        assert producer.flush() == 0
        assert producer.failed_deliveries == 0

    [message] = _collect(bootstrap, [topic])
    assert message.value == value
    assert message.key == b"wells_scraped" and message.key_text == "wells_scraped"
    assert message.headers_dict == {"source": b"ingestion", "trace": b"\x00\x01"}
    assert message.topic == topic and message.offset == 0

    plain: list[dict[str, Any]] = []  # without metadata the handler gets the bare dict
    consumer = KafkaConsumerManager(_unique("group"), bootstrap)
    consumer.connect([topic])
    assert consumer.consume(plain.append, timeout=2.0) == 1
    consumer.disconnect()
    assert plain == [value]


def test_publish_keeps_the_order_of_each_key(bootstrap: str) -> None:
    topic = _unique("order")
    KafkaProducerManager.ensure_topic(topic, bootstrap_servers=bootstrap)
    with KafkaProducerManager(bootstrap) as producer:
        for number in range(600):  # publish returns at once; a drain task sends in publish order
            producer.publish(topic, {"n": number}, key=f"interview-{number % 4}")
        assert producer.flush() == 0

    received = _collect(bootstrap, [topic])
    assert len(received) == 600
    for key in range(4):
        numbers = [m.value["n"] for m in received if m.key_text == f"interview-{key}"]
        assert numbers == list(range(key, 600, 4))


def test_max_messages_is_honoured_and_nothing_unhandled_is_committed(bootstrap: str) -> None:
    topic = _unique("max")
    KafkaProducerManager.ensure_topic(topic, bootstrap_servers=bootstrap)
    with KafkaProducerManager(bootstrap) as producer:
        for number in range(7):
            producer.publish(topic, {"n": number}, key=f"k{number % 3}")
    group = _unique("group")

    first = _collect(bootstrap, [topic], max_messages=2, group=group)
    assert len(first) == 2
    rest = _collect(bootstrap, [topic], group=group)  # same group: resumes from the committed offsets
    assert sorted(m.value["n"] for m in first + rest) == list(range(7))
    assert _collect(bootstrap, [topic], group=group) == []


def test_bad_values_are_skipped_and_handler_errors_do_not_stop_consumption(
    bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = _unique("bad")
    KafkaProducerManager.ensure_topic(topic, partitions=1, bootstrap_servers=bootstrap)
    with KafkaProducerManager(bootstrap) as producer:
        producer.publish(topic, {"n": 1})
        producer.publish_raw(topic, b"this is not json")
        producer.publish_raw(topic, b"[1, 2]")
        producer.publish(topic, {"n": 2, "boom": True})
        producer.publish(topic, {"n": 3})

    seen: list[int] = []

    def handler(value: dict[str, Any]) -> None:
        seen.append(value["n"])
        if value.get("boom"):
            raise RuntimeError("handler broke")

    consumer = KafkaConsumerManager(_unique("group"), bootstrap)
    consumer.connect([topic])
    handled = consumer.consume(handler, timeout=2.0)
    consumer.disconnect()
    assert handled == 3 and seen == [1, 2, 3]
    messages = [r.getMessage() for r in caplog.records if r.name == "app.bus"]
    assert any("not JSON" in m and f"{topic}[0]@1" in m for m in messages)
    assert any("not an object" in m and f"{topic}[0]@2" in m for m in messages)
    assert any("handler failed" in m and f"{topic}[0]@3" in m for m in messages)


def test_typed_event_decodes_with_the_workers_codec(bootstrap: str) -> None:
    topic = _unique("typed")  # a throwaway topic: no worker of the session reads it
    KafkaProducerManager.ensure_topic(topic, bootstrap_servers=bootstrap)
    interview_id = f"iv-{uuid.uuid4().hex[:8]}"
    with KafkaProducerManager(bootstrap) as producer:
        sent = publish_event(
            producer,
            Topic.SKILL_VALIDATION_REQUESTED,
            tenant_id="tenant-uuid",
            interview_id=interview_id,
            payload={"skills": ["TypeScript", "React"], "jobDescription": "Build services.", "level": "SENIOR"},
            topic=topic,
        )
    [message] = _collect(bootstrap, [topic])
    decoded = decode_event(message.raw, Topic.SKILL_VALIDATION_REQUESTED)
    complete_envelope(
        decoded, key=message.key, topic=message.topic, partition=message.partition, offset=message.offset
    )  # the key is the interviewId
    assert decoded == sent
    assert message.key_text == interview_id
    assert decoded.payload.skills == ["TypeScript", "React"]
