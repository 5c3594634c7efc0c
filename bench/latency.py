"""End-to-end latency: skill.validation.requested produced -> plan.generated consumed, at a fixed rate.

One worker of a fresh group (starting at the log end) runs; this process produces envelopes for
fresh interviews at the offered rate, stamping each interviewId's send time, and a separate consumer
on plan.generated stamps its arrival. A warm-up second is not counted.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import kafka_tools
from bench.common import TENANT_ID, BenchEnv, Figure, percentile
from models.topics import Topic

SCENARIO = "latency"
RATE = 1000  # events/s offered
TICK = 0.005  # wake up every 5 ms and send what is due by then
PARTITIONS = 3


async def _offer(producer: AIOKafkaProducer, prefix: str, seconds: float, sent: dict[bytes, float]) -> int:
    """Produce RATE envelopes a second for ``seconds``; each key's send time goes into ``sent``."""
    began = time.monotonic()
    index = 0
    while (now := time.monotonic()) - began < seconds:
        due = int((now - began) * RATE) + 1
        while index < due:
            key = f"{prefix}-{index}"
            sent[key.encode()] = time.monotonic()
            await producer.send(Topic.SKILL_VALIDATION_REQUESTED, key=key.encode(), value=_value(key))
            index += 1
        await asyncio.sleep(TICK)
    return index


def _value(interview_id: str) -> bytes:
    return kafka_tools.skill_validation(TENANT_ID, interview_id)


async def _collect(
    consumer: AIOKafkaConsumer, sent: dict[bytes, float], received: dict[bytes, float], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=50)
        arrived = time.monotonic()
        for records in batches.values():
            for record in records:
                if record.key in sent and record.key not in received:
                    received[record.key] = arrived


async def run(env: BenchEnv) -> list[Figure]:
    seconds = 5.0 if env.quick else 20.0
    warmup = 1.0 if env.quick else 2.0
    group = env.new_group(SCENARIO)
    await kafka_tools.ensure_topics(env.bootstrap, kafka_tools.WORKER_TOPICS, PARTITIONS)
    await kafka_tools.start_group_at_end(env.bootstrap, group)
    await env.start_worker("latency", group)
    outputs = await kafka_tools.partitions_of(env.bootstrap, [Topic.PLAN_GENERATED])
    consumer = AIOKafkaConsumer(bootstrap_servers=env.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    producer = kafka_tools.producer(env.bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    warm: dict[bytes, float] = {}
    sent: dict[bytes, float] = {}
    received: dict[bytes, float] = {}
    stop = asyncio.Event()
    try:
        consumer.assign(outputs)
        await consumer.seek_to_end(*outputs)
        for tp in outputs:
            await consumer.position(tp)  # resolve the end now, before anything is produced
        collector = asyncio.create_task(_collect(consumer, sent, received, stop))
        prefix = uuid.uuid4().hex[:6]
        await _offer(producer, f"lat-warm-{prefix}", warmup, warm)
        await asyncio.sleep(1.0)
        offered_since = time.monotonic()
        offered = await _offer(producer, f"lat-{prefix}", seconds, sent)
        offered_seconds = time.monotonic() - offered_since
        deadline = time.monotonic() + 30.0
        while len(received) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await collector
    finally:
        await producer.stop()
        await consumer.stop()
        env.stop_all()
    latencies = [(received[key] - sent[key]) * 1000 for key in received]
    lost = len(sent) - len(received)
    note = f"{offered} offered in {offered_seconds:.1f}s; {lost} not seen within 30 s" if lost else ""
    if not latencies:
        return [Figure(SCENARIO, "plan.generated received", 0, "events", target=offered, note=note)]
    return [
        Figure(SCENARIO, "offered rate", round(offered / offered_seconds), "events/s", note=note),
        Figure(SCENARIO, "end-to-end p50", round(percentile(latencies, 50), 1), "ms", better="lower"),
        Figure(SCENARIO, "end-to-end p95", round(percentile(latencies, 95), 1), "ms", better="lower"),
        Figure(SCENARIO, f"end-to-end p99 at {RATE}/s", round(percentile(latencies, 99), 1), "ms", 50, "lower"),
        Figure(SCENARIO, "end-to-end max", round(max(latencies), 1), "ms", better="lower"),
    ]
