"""SSE fan-out: N concurrent subscribers on interview event streams, delivery latency and worker RSS.

One worker; ``INTERVIEWS`` interviews are created over HTTP and planned (PENDING). N subscribers
(5,000; quick 500) open ``/api/v1/interviews/{id}/events`` from this process, spread evenly over the
interviews, with Last-Event-ID at the current history so nothing is replayed. Each round revises every
plan (PENDING -> GENERATING_PLAN -> PENDING: two transitions per interview) and waits until every
subscriber got both. A subscriber's delivery latency is the time it read an event minus the history
entry's ``at`` (when the worker applied the transition; milliseconds, same clock). The worker's RSS is
sampled throughout; the peak is reported.

The subscribers are bare asyncio sockets in this process (commands go through one aiohttp session)
that only split frames and read the ``"at"`` field, so the figure is mostly the worker's; on 2 shared
cores the 5,000 client connections still cost CPU (the client's CPU seconds are in the note).
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import psutil
from yarl import URL

from bench import kafka_tools
from bench.common import (
    TENANT_ID,
    TENANT_KEY,
    BenchEnv,
    Figure,
    WorkerProcess,
    cpu_seconds,
    percentile,
    start_profile,
    stop_profile,
)

SCENARIO = "sse_fanout"
HEADERS = {"X-Tenant-ID": TENANT_ID, "X-API-Key": TENANT_KEY}
INTERVIEWS = 50
ROUND_TIMEOUT_SECONDS = 120.0
STATE_TIMEOUT_SECONDS = 180.0  # a fresh group on a busy 2-core machine takes a while to plan 50 interviews
AT = re.compile(rb'"at":"([^"]+)"')
FRAME_END = re.compile(rb"\r\n\r\n|\n\n")


def interview_request(index: int) -> dict[str, Any]:
    return {
        "externalId": f"sse-{index}-{time.time_ns()}",
        "candidateName": "Ada Lovelace",
        "candidateRef": f"cand-{index}",
        "position": "Backend Engineer",
        "level": "SENIOR",
        "skills": ["Kafka", "Python", "Faust"],
        "jobDescription": "Own the event backbone: design topics, run Faust workers, keep lag low, lose nothing.",
    }


def raise_open_files(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE (the worker subprocesses inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Subscriber:
    interview_id: str
    received: int = 0
    latencies: list[float] = field(default_factory=list)
    buffer: bytes = b""
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    status: int | None = None

    def feed(self, chunk: bytes, now: float) -> None:
        """Count transition frames and keep each one's latency; only the ``at`` field is read."""
        self.buffer += chunk
        frames = FRAME_END.split(self.buffer)
        self.buffer = frames.pop()
        for frame in frames:
            match = AT.search(frame)
            if match is None:  # a keepalive comment
                continue
            self.received += 1
            applied = datetime.fromisoformat(match.group(1).decode()).timestamp()
            self.latencies.append(now - applied)


class StreamProtocol(asyncio.Protocol):
    """One subscriber on a bare socket: 5,000 aiohttp client streams cost this process more CPU per
    event than the worker spends, on the same two cores. Frames are found in the raw (chunked) bytes:
    chunk-size lines never hold an ``"at"`` field, so counting frames with one still counts events."""

    def __init__(self, sub: Subscriber) -> None:
        self.sub = sub
        self.head = b""
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self.sub.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.sub.status = int(self.head.split(b" ", 2)[1])
            data = self.head[end + 4 :]
            self.sub.connected.set()
        if data:
            self.sub.feed(data, now)

    def connection_lost(self, exc: Exception | None) -> None:
        self.sub.connected.set()
        if not self.closed.done():
            self.closed.set_result(None)


async def subscribe(base: str, sub: Subscriber, last_id: int) -> None:
    url = URL(base)
    host, port = url.host or "127.0.0.1", url.port or 80
    request = (
        f"GET /api/v1/interviews/{sub.interview_id}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"X-Tenant-ID: {TENANT_ID}\r\nX-API-Key: {TENANT_KEY}\r\nLast-Event-ID: {last_id}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    )
    transport: asyncio.BaseTransport | None = None
    try:
        transport, protocol = await asyncio.get_running_loop().create_connection(
            lambda: StreamProtocol(sub), host, port
        )
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(request.encode())
        await protocol.closed
    finally:
        if transport is not None:
            transport.close()
        sub.connected.set()  # a failed subscriber must not hold up the start


async def wait_state(session: aiohttp.ClientSession, base: str, interview_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + STATE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        async with session.get(f"{base}/api/v1/interviews/{interview_id}", headers=HEADERS) as response:
            if response.status == 200:
                body: dict[str, Any] = await response.json()
                if body["state"] == state:
                    return body
        await asyncio.sleep(0.2)
    raise RuntimeError(f"interview {interview_id} not {state} within {STATE_TIMEOUT_SECONDS:.0f} s")


async def history_length(session: aiohttp.ClientSession, base: str, interview_id: str) -> int:
    async with session.get(f"{base}/api/v1/interviews/{interview_id}/history", headers=HEADERS) as response:
        body = await response.json()
    entries = body["history"] if isinstance(body, dict) else body
    return len(entries)


async def sample_rss(worker: WorkerProcess, peak: list[int], stop: asyncio.Event) -> None:
    process = psutil.Process(worker.pid)
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        await asyncio.sleep(0.25)


async def run(env: BenchEnv) -> list[Figure]:
    subscribers_wanted = 500 if env.quick else 5000
    rounds = 2 if env.quick else 5
    interviews_count = min(INTERVIEWS, subscribers_wanted)
    limit = raise_open_files(2 * subscribers_wanted + 2048)
    group = env.new_group(SCENARIO)
    await kafka_tools.start_group_at_end(env.bootstrap, group)
    worker = await env.start_worker("sse", group)
    base = worker.base_url
    cpu_before = time.process_time()
    peak = [0]
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    tasks: list[asyncio.Task[None]] = []
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            sampler = asyncio.create_task(sample_rss(worker, peak, stop))
            ids: list[str] = []
            for index in range(interviews_count):
                async with session.post(
                    f"{base}/api/v1/interviews", json=interview_request(index), headers=HEADERS
                ) as response:
                    if response.status != 202:
                        raise RuntimeError(f"create answered {response.status}: {await response.text()}")
                    ids.append((await response.json())["interviewId"])
            await asyncio.gather(*(wait_state(session, base, i, "PENDING") for i in ids))
            lengths = dict(
                zip(ids, await asyncio.gather(*(history_length(session, base, i) for i in ids)), strict=True)
            )

            subs = [Subscriber(ids[n % len(ids)]) for n in range(subscribers_wanted)]
            opened = time.monotonic()
            for start in range(0, len(subs), 500):  # in batches: 5,000 at once only measures the accept queue
                batch = subs[start : start + 500]
                for sub in batch:
                    tasks.append(asyncio.create_task(subscribe(base, sub, lengths[sub.interview_id])))
                await asyncio.gather(*(sub.connected.wait() for sub in batch))
            open_seconds = time.monotonic() - opened
            failed = [t for t in tasks if t.done()]
            if failed:
                raise RuntimeError(f"{len(failed)} subscribers failed: {failed[0].exception()!r}")
            refused = [sub.status for sub in subs if sub.status != 200]
            if refused:
                raise RuntimeError(f"{len(refused)} streams refused, e.g. HTTP {refused[0]}")

            expected = 0
            delivered_rounds = 0
            profiler = start_profile(worker.pid, SCENARIO)
            worker_cpu = cpu_seconds(worker.pid)
            load_before = os.getloadavg()[0]
            for _ in range(rounds):
                expected += 2
                await asyncio.gather(
                    *(
                        session.post(
                            f"{base}/api/v1/interviews/{i}/plan/revise",
                            json={"instructions": "ask about incident response"},
                            headers=HEADERS,
                        )
                        for i in ids
                    )
                )
                deadline = time.monotonic() + ROUND_TIMEOUT_SECONDS
                while time.monotonic() < deadline and any(sub.received < expected for sub in subs):
                    await asyncio.sleep(0.05)
                if any(sub.received < expected for sub in subs):
                    break
                delivered_rounds += 1
                # The next revise is refused (409) until the plan is back: wait for PENDING everywhere.
                await asyncio.gather(*(wait_state(session, base, i, "PENDING") for i in ids))
            worker_cpu = cpu_seconds(worker.pid) - worker_cpu
            load_after = os.getloadavg()[0]
            stop_profile(profiler)
            connected = sum(1 for t in tasks if not t.done())
            stop.set()
            await sampler
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stop.set()
        env.stop_all()
    client_cpu = time.process_time() - cpu_before
    latencies = [lat * 1000 for sub in subs for lat in sub.latencies]
    events = len(latencies)
    missing = expected * len(subs) - events
    note = (
        f"{len(subs)} subscribers over {len(ids)} interviews ({connected} still connected), "
        f"{delivered_rounds}/{rounds} rounds of 2 transitions, {events} events received, {missing} missing; "
        f"opened in {open_seconds:.1f}s; client CPU {client_cpu:.1f}s; RLIMIT_NOFILE {limit}; "
        f"machine load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores"
    )
    per_event = worker_cpu / max(events, 1) * 1e6
    if not latencies:
        latencies = [float("inf")]
    return [
        Figure(SCENARIO, "subscribers", float(len(subs)), "streams", target=5000.0, note=note),
        Figure(SCENARIO, "delivery p50", percentile(latencies, 50), "ms", better="lower"),
        Figure(SCENARIO, "delivery p99", percentile(latencies, 99), "ms", target=250.0, better="lower"),
        Figure(SCENARIO, "delivery max", max(latencies), "ms", better="lower"),
        Figure(
            SCENARIO,
            "worker CPU per delivery",
            per_event,
            "us",
            better="lower",
            note=f"{worker_cpu:.1f}s worker CPU while the rounds ran",
        ),
        Figure(
            SCENARIO, "worker RSS peak", peak[0] / 2**20, "MiB", target=1024.0, better="lower", note=f"pid {worker.pid}"
        ),
    ]
