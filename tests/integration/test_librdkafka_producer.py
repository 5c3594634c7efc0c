"""The worker's producer (app/librdkafka_producer.py) against the real broker.

What Faust and the tables rely on from a producer: a keyed record lands where the app's
partitioner (Java's murmur2) puts it, the send's future tells where it landed, headers and
values arrive whole, and a record the broker refuses fails its future and the next flush, so
a commit never passes it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.exceptions import ProducerSendError

from app import kafka_transport
from app.librdkafka_producer import LibrdkafkaProducer, librdkafka_config
from app.partitioning import partition_for
from local_kafka.admin import ensure_topics

PARTITIONS = 7


async def _create_topic(bootstrap: str, partitions: int, **config: str) -> str:
    name = f"producer-test-{uuid.uuid4().hex[:12]}"
    await ensure_topics(bootstrap, [name], partitions, config)
    return name


@pytest.fixture
async def producer(bootstrap: str) -> AsyncIterator[LibrdkafkaProducer]:
    app = faust.App(
        f"producer-test-{uuid.uuid4().hex[:8]}",
        broker=f"{kafka_transport.SCHEME}://{bootstrap}",
        producer_linger=0.005,
        producer_compression_type="zstd",
    )
    started = app.producer
    assert isinstance(started, LibrdkafkaProducer)  # the transport's producer, as the worker gets it
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


async def test_records_land_where_the_partitioner_puts_them_and_arrive_whole(
    producer: LibrdkafkaProducer, bootstrap: str
) -> None:
    topic = await _create_topic(bootstrap, PARTITIONS)
    keys = [f"interview-{index}-{uuid.uuid4()}" for index in range(300)]
    sent = {
        key: await producer.send(topic, key.encode(), f"value of {key}".encode(), None, None, [("h", key.encode())])
        for key in keys
    }
    await producer.flush()
    landed = {key: future.result() for key, future in sent.items()}
    placed = {key: partition_for(key, PARTITIONS) for key in keys}
    assert {key: meta.partition for key, meta in landed.items()} == placed

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, partition) for partition in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        read: dict[str, tuple[int, int, bytes | None, list[tuple[str, bytes]]]] = {}
        while len(read) < len(keys):
            for records in (await consumer.getmany(timeout_ms=5000)).values():
                for record in records:
                    assert record.key is not None
                    read[record.key.decode()] = (record.partition, record.offset, record.value, list(record.headers))
    finally:
        await consumer.stop()
    for key, meta in landed.items():
        assert meta.topic == topic and meta.topic_partition == TopicPartition(topic, meta.partition)
        assert read[key] == (meta.partition, meta.offset, f"value of {key}".encode(), [("h", key.encode())])


async def test_a_record_the_broker_refuses_fails_its_send_and_the_next_flush(
    producer: LibrdkafkaProducer, bootstrap: str
) -> None:
    topic = await _create_topic(bootstrap, 1, **{"max.message.bytes": "1024"})
    taken = await producer.send_and_wait(topic, b"small", b"fits", None, None, None)  # a batch of its own
    refused = await producer.send(topic, b"big", os.urandom(8192), None, None, None)  # incompressible
    with pytest.raises(ProducerSendError, match=topic):
        await producer.flush()
    assert taken.offset == 0
    with pytest.raises(ProducerSendError, match=r"MSG_SIZE_TOO_LARGE|too large"):
        refused.result()
    await producer.flush()  # reported once: the failure stopped the commit it came before


async def test_send_and_wait_returns_where_the_record_landed(producer: LibrdkafkaProducer, bootstrap: str) -> None:
    topic = await _create_topic(bootstrap, 1)
    first = await producer.send_and_wait(topic, b"k", b"1", None, None, None)
    second = await producer.send_and_wait(topic, b"k", b"2", 0, 1_700_000_000.0, None)
    assert (first.partition, first.offset, second.offset) == (0, 0, 1)
    assert second.timestamp == 1_700_000_000_000  # the timestamp asked for, in milliseconds


def test_faust_settings_map_to_librdkafka() -> None:
    settings = {
        "bootstrap_servers": ["127.0.0.1:9092", "127.0.0.1:9093"],
        "client_id": "worker-1",
        "acks": -1,
        "linger_ms": 5,
        "max_batch_size": 1024 * 1024,
        "max_request_size": 8 * 1024 * 1024,
        "compression_type": None,
        "request_timeout_ms": 30000,
    }
    config = librdkafka_config(settings)
    assert config["bootstrap.servers"] == "127.0.0.1:9092,127.0.0.1:9093"
    assert (config["acks"], config["enable.idempotence"], config["compression.type"]) == ("all", True, "none")
    assert (config["linger.ms"], config["batch.size"], config["message.max.bytes"]) == (5, 1048576, 8388608)
    assert config["message.timeout.ms"] == 30000
    leader_only = librdkafka_config({**settings, "acks": 1, "compression_type": "zstd"})
    assert (leader_only["acks"], leader_only["enable.idempotence"], leader_only["compression.type"]) == (
        "1",
        False,
        "zstd",
    )
