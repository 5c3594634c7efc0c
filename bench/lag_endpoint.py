"""Lag endpoint: GET /api/v1/admin/kafka/status latency with ~100 partitions across the workflow topics.

Topics are shared by name on a broker and a topic's partition count only grows, so when the
workflow topics of the benchmark broker add up to fewer than ``WANTED_PARTITIONS`` this scenario
starts a broker of its own (``local_kafka``, a spare port, a scratch data directory) and stops it
afterwards; there the worker creates every workflow topic with ``TOPIC_PARTITIONS`` partitions. The
partition count actually measured is reported either way.

Traffic: messages on every partition of every workflow topic (the worker reads and dead-letters
them), and ``OTHER_GROUPS`` consumer groups that committed half of each partition and have no members
(lag > 0, status STOP), so the report covers several groups times every partition. Then the endpoint
is asked ``REQUESTS`` times, one after another with a short pause, across several background polls;
``?refresh=1`` (a broker round trip first) is timed too, for comparison.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import kafka_tools
from bench.common import ADMIN_KEY, BenchEnv, Figure, percentile
from local_kafka.admin import existing_partitions
from local_kafka.broker import LocalBroker
from models.topics import WORKFLOW_TOPICS

SCENARIO = "lag_endpoint"
WANTED_PARTITIONS = 100
MESSAGES_PER_PARTITION = 10
OTHER_GROUPS = 4
PAUSE_SECONDS = 0.02


def partitions_each() -> int:
    """Partitions per workflow topic so that they add up to at least WANTED_PARTITIONS."""
    return -(-WANTED_PARTITIONS // len(WORKFLOW_TOPICS))


async def workflow_partitions(bootstrap: str) -> list[TopicPartition]:
    return await existing_partitions(bootstrap, WORKFLOW_TOPICS)


async def make_traffic(bootstrap: str, partitions: list[TopicPartition]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10)
    await producer.start()
    try:
        sends = [
            await producer.send(tp.topic, key=f"lag-{n}".encode(), value=b'{"bench":"lag"}', partition=tp.partition)
            for tp in partitions
            for n in range(MESSAGES_PER_PARTITION)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    for n in range(OTHER_GROUPS):  # groups that consumed half and left: lag > 0, no members
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"bench-lag-reader-{n}")
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.commit({tp: end // 2 for tp, end in ends.items()})
        finally:
            await consumer.stop()


async def timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    async with session.get(url, headers={"X-API-Key": ADMIN_KEY}) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {body[:200]!r}")
    return (time.perf_counter() - started) * 1000, orjson.loads(body)


async def measure(env: BenchEnv, bootstrap: str) -> list[Figure]:
    requests = 100 if env.quick else 400
    group = env.new_group(SCENARIO)
    await kafka_tools.start_group_at_end(bootstrap, group)
    worker = await env.start_worker("lag", group, KAFKA_BROKER=bootstrap, TOPIC_PARTITIONS=str(partitions_each()))
    try:
        partitions = await workflow_partitions(bootstrap)
        await make_traffic(bootstrap, partitions)
        url = f"{worker.base_url}/api/v1/admin/kafka/status"
        async with aiohttp.ClientSession() as session:
            # Wait until a background poll reports every group on every partition.
            deadline = time.monotonic() + 120
            while True:
                _, report = await timed_get(session, url)
                groups = report["groups"]
                assert isinstance(groups, list)
                reported = sum(len(g["partitions"]) for g in groups)
                if len(groups) >= OTHER_GROUPS + 1 and reported >= (OTHER_GROUPS + 1) * len(partitions):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"lag report incomplete after 120 s: {len(groups)} groups, {reported} rows")
                await asyncio.sleep(0.5)
            cached: list[float] = []
            size = 0
            for _ in range(requests):
                took, body = await timed_get(session, url)
                cached.append(took)
                size = len(orjson.dumps(body))
                await asyncio.sleep(PAUSE_SECONDS)
            refreshed = [(await timed_get(session, url + "?refresh=1"))[0] for _ in range(10 if env.quick else 30)]
    finally:
        env.stop_all()
    lagging = sum(1 for g in groups for p in g["partitions"] if (p.get("lagMessages") or 0) > 0)
    note = (
        f"{len(partitions)} workflow partitions ({len(WORKFLOW_TOPICS)} topics), {len(groups)} groups, "
        f"{reported} partition rows ({lagging} lagging), {size / 1024:.0f} KiB body; {requests} requests "
        f"{PAUSE_SECONDS * 1000:.0f} ms apart over {sum(cached) / 1000 + requests * PAUSE_SECONDS:.1f}s "
        f"(LAG_POLL_SECONDS 5)"
    )
    return [
        Figure(
            SCENARIO, "partitions", float(len(partitions)), "partitions", target=float(WANTED_PARTITIONS), note=note
        ),
        Figure(SCENARIO, "status p50", percentile(cached, 50), "ms", better="lower"),
        Figure(SCENARIO, "status p95", percentile(cached, 95), "ms", better="lower"),
        Figure(SCENARIO, "status p99", percentile(cached, 99), "ms", target=50.0, better="lower"),
        Figure(SCENARIO, "status max", max(cached), "ms", better="lower"),
        Figure(
            SCENARIO, "refresh=1 p50", percentile(refreshed, 50), "ms", better="lower", note="polls the broker first"
        ),
    ]


async def run(env: BenchEnv) -> list[Figure]:
    if len(await workflow_partitions(env.bootstrap)) >= WANTED_PARTITIONS:
        return await measure(env, env.bootstrap)
    # More partitions than the run's broker has: a broker of this scenario's own.
    broker = LocalBroker.on_free_ports(env.workdir / "lag-broker")
    try:
        await asyncio.to_thread(broker.start)  # it checks the broker with asyncio.run: not on this loop
        return await measure(env, broker.bootstrap)
    finally:
        await asyncio.to_thread(broker.stop)
