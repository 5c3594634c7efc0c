"""End-to-end latency: skill.validation.requested produced -> plan.generated consumed, at a fixed rate.

One worker of a fresh group (starting at the log end) runs; this process produces envelopes for
fresh interviews at the offered rate, stamping each interviewId's send time, and a separate consumer
on plan.generated stamps its arrival. A warm-up second is not counted. The worker's CPU (user +
system, as a share of one core) is measured over each rate's offering. BENCH_PROFILE=<dir> samples
the worker with py-spy while each rate is offered (which then costs the worker some of its CPU).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import kafka_tools
from bench.common import TENANT_ID, BenchEnv, Figure, cpu_seconds, percentile, start_profile, stop_profile
from local_kafka.admin import ensure_topics
from models.topics import Topic

SCENARIO = "latency"
RATE = 1000  # events/s offered
# A rate well under one worker's capacity first: what a message takes when nothing queues.
LOW_RATE = 20
TICK = 0.005  # wake up every 5 ms and send what is due by then
PARTITIONS = 3


async def _offer(
    producer: AIOKafkaProducer, prefix: str, rate: int, seconds: float, sent_at: dict[bytes, float]
) -> list[bytes]:
    """Produce ``rate`` envelopes a second for ``seconds``; each key's send time goes into ``sent_at``."""
    began = time.monotonic()
    keys: list[bytes] = []
    while (now := time.monotonic()) - began < seconds:
        due = int((now - began) * rate) + 1
        while len(keys) < due:
            key = f"{prefix}-{len(keys)}"
            sent_at[key.encode()] = time.monotonic()
            await producer.send(Topic.SKILL_VALIDATION_REQUESTED, key=key.encode(), value=_value(key))
            keys.append(key.encode())
        await asyncio.sleep(TICK)
    return keys


def _value(interview_id: str) -> bytes:
    return kafka_tools.skill_validation(TENANT_ID, interview_id)


async def _collect(
    consumer: AIOKafkaConsumer, sent_at: dict[bytes, float], received: dict[bytes, float], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=50)
        arrived = time.monotonic()
        for records in batches.values():
            for record in records:
                if record.key in sent_at and record.key not in received:
                    received[record.key] = arrived


async def _drain(received: dict[bytes, float], keys: list[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(key not in received for key in keys) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def _figures(
    label: str,
    keys: list[bytes],
    sent_at: dict[bytes, float],
    received: dict[bytes, float],
    gave_up: float,
    target: float | None,
    note: str,
) -> list[Figure]:
    # A message never seen counts as seen when the wait ended: the percentiles are then lower bounds.
    latencies = [(received.get(key, gave_up) - sent_at[key]) * 1000 for key in keys]
    if not latencies:
        return [Figure(SCENARIO, f"messages offered {label}", 0, "events", note=note)]
    return [
        Figure(SCENARIO, f"end-to-end p50 {label}", round(percentile(latencies, 50), 1), "ms", better="lower"),
        Figure(SCENARIO, f"end-to-end p95 {label}", round(percentile(latencies, 95), 1), "ms", better="lower"),
        Figure(SCENARIO, f"end-to-end p99 {label}", round(percentile(latencies, 99), 1), "ms", target, "lower", note),
    ]


async def run(env: BenchEnv) -> list[Figure]:
    seconds = 5.0 if env.quick else 20.0
    warmup = 1.0 if env.quick else 2.0
    group = env.new_group(SCENARIO)
    await ensure_topics(env.bootstrap, kafka_tools.WORKER_TOPICS, PARTITIONS)
    await kafka_tools.start_group_at_end(env.bootstrap, group)
    worker = await env.start_worker("latency", group)
    outputs = await kafka_tools.partitions_of(env.bootstrap, [Topic.PLAN_GENERATED])
    consumer = AIOKafkaConsumer(bootstrap_servers=env.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    producer = kafka_tools.producer(env.bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    sent_at: dict[bytes, float] = {}
    received: dict[bytes, float] = {}
    stop = asyncio.Event()
    try:
        consumer.assign(outputs)
        await consumer.seek_to_end(*outputs)
        for tp in outputs:
            await consumer.position(tp)  # resolve the end now, before anything is produced
        collector = asyncio.create_task(_collect(consumer, sent_at, received, stop))
        prefix = uuid.uuid4().hex[:6]
        warm = await _offer(producer, f"lat-warm-{prefix}", LOW_RATE, warmup, sent_at)
        await _drain(received, warm, 10.0)
        low_since, cpu_since = time.monotonic(), cpu_seconds(worker.pid)
        profiler = start_profile(worker.pid, f"latency-worker-{LOW_RATE}")
        low = await _offer(producer, f"lat-low-{prefix}", LOW_RATE, seconds, sent_at)
        stop_profile(profiler)
        low_busy = (cpu_seconds(worker.pid) - cpu_since) / (time.monotonic() - low_since)
        await _drain(received, low, 10.0)
        low_done = time.monotonic()
        offered_since, cpu_since = time.monotonic(), cpu_seconds(worker.pid)
        profiler = start_profile(worker.pid, f"latency-worker-{RATE}")
        high = await _offer(producer, f"lat-{prefix}", RATE, seconds, sent_at)
        offered_seconds = time.monotonic() - offered_since
        stop_profile(profiler)
        busy = (cpu_seconds(worker.pid) - cpu_since) / offered_seconds
        await _drain(received, high, 30.0)
        high_done = time.monotonic()
        stop.set()
        await collector
    finally:
        await producer.stop()
        await consumer.stop()
        env.stop_all()

    def unseen(keys: list[bytes]) -> str:
        lost = sum(1 for key in keys if key not in received)
        return f"{lost} of {len(keys)} not seen in time (counted at the end of the wait: a lower bound)" if lost else ""

    return [
        *_figures(f"at {LOW_RATE}/s", low, sent_at, received, low_done, None, unseen(low)),
        Figure(SCENARIO, "offered rate", round(len(high) / offered_seconds), "events/s"),
        Figure(SCENARIO, f"worker CPU at {LOW_RATE}/s", round(100 * low_busy), "% of a core", better="lower"),
        Figure(SCENARIO, f"worker CPU at {RATE}/s", round(100 * busy), "% of a core", better="lower"),
        *_figures(f"at {RATE}/s", high, sent_at, received, high_done, 50, unseen(high)),
    ]
