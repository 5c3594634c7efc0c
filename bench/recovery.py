"""Recovery: a worker that lost its data directory rebuilds 100,000 interview rows from the changelog.

A worker of a fresh group plans one interview over HTTP; its row (PENDING, with a plan, history and
the messages it sent) is read from the worker and stops being a sample: 100,000 rows (quick 20,000)
are written straight to the interviews table's changelog topic, each that row under a new
interviewId (every other id in it new too), with the worker's own key and value encoding (UTF-8 key,
the row's camelCase JSON) and compression, into the partition Kafka's default partitioner picks for
the key, as the worker's own writes land.
The worker is stopped, its data directory deleted, and a new one started on an empty directory.

Figures: restart-to-ready (process start until /health/ready answers 200: boot, group join,
recovery), the recovery phase alone (from the first /health/ready answer that reports partitions
assigned until ready) and changelog records restored per second over that phase. One row is read
back afterwards to show the restore produced real rows.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import uuid
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, codec

from app.settings import settings
from bench import kafka_tools
from bench.common import (
    ADMIN_KEY,
    TENANT_ID,
    TENANT_KEY,
    BenchEnv,
    Figure,
    WorkerProcess,
    cpu_seconds,
    start_profile,
    stop_profile,
)
from bench.sse_fanout import (
    HEADERS,
    interview_request,
    wait_state,
)
from local_kafka.admin import existing_partitions

SCENARIO = "recovery"
TABLES = ("interviews", "webhook-queues", "notifications", "entities")
READY_TIMEOUT_SECONDS = 600.0


async def template_row(session: aiohttp.ClientSession, worker: WorkerProcess) -> tuple[str, bytes]:
    async with session.post(
        f"{worker.base_url}/api/v1/interviews", json=interview_request(0), headers=HEADERS
    ) as response:
        interview_id = str((await response.json())["interviewId"])
    await wait_state(session, worker.base_url, interview_id, "PENDING")
    async with session.get(
        f"{worker.base_url}/api/v1/admin/rows/{interview_id}", headers={"X-API-Key": ADMIN_KEY}
    ) as response:
        return interview_id, await response.read()


# Every id in a row: a copy of the template gets new ones, so the rows differ as distinct interviews'
# rows do and compress on the changelog as the worker's own do (not as identical copies would).
ROW_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def row_copy(template: bytes, template_id: bytes, interview_id: bytes) -> bytes:
    """The template row as interview ``interview_id``'s, every other id in it replaced as well."""

    def new_id(match: re.Match[bytes]) -> bytes:
        old = match.group()
        if old == interview_id:
            return old
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{interview_id.decode()}/{old.decode()}")).encode()

    return ROW_ID.sub(new_id, template.replace(template_id, interview_id))


async def write_rows(
    bootstrap: str, topic: str, template_id: str, template: bytes, count: int
) -> tuple[list[str], int, float]:
    """``count`` copies of the template row, each under a new interviewId, onto the changelog, compressed
    as the worker compresses its own; the ids, the rows' total size in bytes and their compression ratio."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
        compression_type=settings.compression,
    )
    await producer.start()
    ids: list[str] = []
    size = 0
    sample: list[bytes] = []
    try:
        pending: list[asyncio.Future[Any]] = []
        marker = template_id.encode()
        for n in range(count):
            interview_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-recovery/{topic}/{n}"))
            ids.append(interview_id)
            key = interview_id.encode()
            row = row_copy(template, marker, key)
            size += len(row)
            if n < SAMPLE_ROWS:
                sample.append(row)
            pending.append(await producer.send(topic, key=key, value=row))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return ids, size, compression_ratio(b"".join(sample))


SAMPLE_ROWS = 200  # about a producer batch (linger 20 ms, one partition's share)
CODECS = {"lz4": codec.lz4_encode, "zstd": codec.zstd_encode, "snappy": codec.snappy_encode, "gzip": codec.gzip_encode}


def compression_ratio(rows: bytes) -> float:
    """How many times smaller the worker's codec makes a batch of these rows (1 uncompressed)."""
    return len(rows) / len(CODECS[settings.compression](rows)) if settings.compression else 1.0


async def changelog_records(bootstrap: str, group_id: str) -> int:
    """Records in the group's table changelogs (every table: the restore reads them all)."""
    partitions = await existing_partitions(bootstrap, [f"{group_id}-{table}-changelog" for table in TABLES])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return sum(ends[tp] - starts[tp] for tp in partitions)


async def watch_assigned(env: BenchEnv, known: int, seen: list[float], done: asyncio.Event) -> None:
    """When the new worker's /health/ready first says its partitions are assigned (recovery starts)."""
    profiler: subprocess.Popen[bytes] | None = None
    profiling = False
    async with aiohttp.ClientSession() as session:
        while not done.is_set():
            if len(env.workers) > known:
                if not profiling:
                    profiling, profiler = True, start_profile(env.workers[known].pid, SCENARIO)
                try:
                    async with session.get(f"{env.workers[known].base_url}/health/ready") as response:
                        body = await response.json()
                        if body.get("assigned") and not seen:
                            seen.append(time.monotonic())
                            seen.append(cpu_seconds(env.workers[known].pid))
                except (aiohttp.ClientError, ValueError):
                    pass
            await asyncio.sleep(0.2)
    stop_profile(profiler)


async def run(env: BenchEnv) -> list[Figure]:
    rows = 20_000 if env.quick else 100_000
    group = env.new_group(SCENARIO)
    await kafka_tools.start_group_at_end(env.bootstrap, group)
    first = await env.start_worker("recovery-1", group)
    async with aiohttp.ClientSession() as session:
        template_id, template = await template_row(session, first)
    first.stop()
    env.workers.remove(first)

    topic = f"{group}-interviews-changelog"
    wrote = time.monotonic()
    ids, size, ratio = await write_rows(env.bootstrap, topic, template_id, template, rows)
    write_seconds = time.monotonic() - wrote
    records = await changelog_records(env.bootstrap, group)
    shutil.rmtree(first.datadir, ignore_errors=True)

    known = len(env.workers)
    seen: list[float] = []
    done = asyncio.Event()
    watcher = asyncio.create_task(watch_assigned(env, known, seen, done))
    started = time.monotonic()
    try:
        second = await env.start_worker("recovery-2", group, ready_timeout=READY_TIMEOUT_SECONDS)
        ready_seconds = time.monotonic() - started
        restore_cpu = cpu_seconds(second.pid) - seen[1] if seen else cpu_seconds(second.pid)
        done.set()
        await watcher
        recovery_seconds = ready_seconds - (seen[0] - started) if seen else ready_seconds
        async with aiohttp.ClientSession() as session:
            probe = ids[len(ids) // 2]
            async with session.get(
                f"{second.base_url}/api/v1/interviews/{probe}",
                headers={"X-Tenant-ID": TENANT_ID, "X-API-Key": TENANT_KEY},
            ) as response:
                probe_state = (await response.json()).get("state") if response.status == 200 else response.status
    finally:
        done.set()
        env.stop_all()
    note = (
        f"{rows} rows of about {size // rows} bytes ({size / 2**20:.0f} MiB; {settings.compression or 'no'} "
        f"compression on the changelog, {ratio:.1f}x for {SAMPLE_ROWS} rows) written in "
        f"{write_seconds:.1f}s; {records} changelog records; a restored row reads back as {probe_state}; "
        f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    return [
        Figure(SCENARIO, "restart to ready", ready_seconds, "s", better="lower", note=note),
        Figure(SCENARIO, "recovery phase", recovery_seconds, "s", better="lower"),
        Figure(SCENARIO, "records restored", records / recovery_seconds, "records/s", target=50_000.0),
        Figure(SCENARIO, "restored bytes", size / 2**20 / recovery_seconds, "MiB/s"),
        Figure(
            SCENARIO,
            "worker CPU per record",
            restore_cpu / max(records, 1) * 1e6,
            "us",
            better="lower",
            note=f"{restore_cpu:.1f}s worker CPU in the recovery phase (also the consumer thread)",
        ),
    ]
