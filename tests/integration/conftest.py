"""Real parts for integration tests: an Apache Kafka broker, worker subprocesses, a webhook receiver.

The suite starts its own single-node KRaft broker on a spare port with a fresh data directory
(unless KAFKA_BROKER names one), and each session uses its own consumer group and table topics.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.devrun import stop_worker, worker_command
from local_kafka import broker as local_broker

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
TEST_BROKER_PORT = 19092

TENANTS: dict[str, dict[str, Any]] = {
    "acme": {"apiKey": "acme-api-key-0001", "webhookSecret": "acme-webhook-secret"},
    "globex": {
        "apiKey": "globex-api-key-0002",
        "webhookSecret": "globex-webhook-secret",
        "autoApprovePlans": True,
        "accessLinkTtlDays": 2,
    },
    # The tenant of the seed's example messages.
    "tenant-uuid": {"apiKey": "seed-tenant-api-key", "webhookSecret": "seed-webhook-secret"},
}
ADMIN_KEY = "test-admin-key"

pytestmark = pytest.mark.integration

COMPLETE_REQUEST: dict[str, Any] = {
    "candidateName": "Ada Lovelace",
    "candidateRef": "cand-42",
    "position": "Senior Backend Engineer",
    "level": "SENIOR",
    "skills": ["Kafka", "Python", "Stream processing"],
    "jobDescription": "Own the event backbone of our interview platform: design topics, run Faust workers, "
    "keep consumer lag low and make sure no event is ever lost.",
}

# The seed's skill.validation.requested example, verbatim but for a fresh interviewId.
SEED_SKILL_VALIDATION = """{
  "eventType": "skill.validation.requested",
  "tenantId": "tenant-uuid",
  "runId": "agno-run-uuid",
  "interviewId": "interview-uuid",
  "timestamp": "2024-01-15T10:01:00.000Z",
  "payload": {
    "skills": ["TypeScript", "React", "Node.js"],
    "jobDescription": "Build scalable platform services...",
    "level": "SENIOR",
    "callbackUrl": "https://ats.example.com/webhook"
  }
}"""


def assert_signed(hook: Any, tenant_id: str) -> None:
    """Verify the webhook exactly as a receiver would: HMAC over timestamp.body, fresh when it arrived."""
    secret = TENANTS[tenant_id]["webhookSecret"].encode()
    timestamp = hook.headers["X-Webhook-Timestamp"]
    expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + hook.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hook.headers["X-Webhook-Signature"], expected)
    assert abs(hook.received_at - int(timestamp)) < 300
    assert hook.headers["X-Webhook-Id"] == hook.json["deliveryId"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """A broker that answers metadata: KAFKA_BROKER's, else a fresh one started here."""
    configured = os.environ.get("KAFKA_BROKER")
    if configured:
        assert local_broker.answers_metadata(configured), f"KAFKA_BROKER={configured} does not answer"
        yield configured
        return
    data_dir = Path(tempfile.mkdtemp(prefix="interview-streams-kafka-"))
    os.environ.update({"KAFKA_PORT": str(TEST_BROKER_PORT), "KAFKA_DATA_DIR": str(data_dir)})
    started = not local_broker.answers_metadata(f"127.0.0.1:{TEST_BROKER_PORT}")
    address = local_broker.up()
    try:
        yield address
    finally:
        if started:
            local_broker.down()
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def fault_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of the fault cases' own, started here whatever KAFKA_BROKER says.

    Topic names are not per consumer group: on the session's broker the long-lived test worker would
    run every fault case's interviews too, and its follow-on events (same eventIds) would race the
    case's own.
    """
    with local_broker.throwaway(tmp_path_factory.mktemp("fault-kafka")) as broker:
        yield broker.bootstrap


@pytest.fixture(scope="session")
def tenants_file(tmp_path_factory: pytest.TempPathFactory, webhook_receiver: WebhookReceiver) -> Path:
    tenants = json.loads(json.dumps(TENANTS))
    for settings in tenants.values():
        settings["webhookUrl"] = webhook_receiver.url
    path = tmp_path_factory.mktemp("tenants") / "tenants.json"
    path.write_text(json.dumps(tenants))
    return path


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class WebhookReceiver:
    """An ATS stand-in: records every POST; ``failing`` makes it answer 503."""

    url: str = ""
    received: list[ReceivedWebhook] = field(default_factory=list)
    failing: bool = False

    def for_interview(self, interview_id: str) -> list[ReceivedWebhook]:
        return [w for w in self.received if w.json.get("interviewId") == interview_id]

    async def wait_for(self, interview_id: str, event: str, timeout: float = 30.0) -> ReceivedWebhook:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for hook in self.for_interview(interview_id):
                if hook.json["event"] == event:
                    return hook
            await asyncio.sleep(0.1)
        seen = [w.json["event"] for w in self.for_interview(interview_id)]
        raise AssertionError(f"no {event} webhook for {interview_id} in {timeout}s; got {seen}")

    async def wait_for_count(self, interview_id: str, count: int, timeout: float = 30.0) -> list[ReceivedWebhook]:
        """The interview's first ``count`` webhooks, once that many have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hooks = self.for_interview(interview_id)
            if len(hooks) >= count:
                return hooks
            await asyncio.sleep(0.1)
        seen = [w.json["event"] for w in self.for_interview(interview_id)]
        raise AssertionError(f"fewer than {count} webhooks for {interview_id} in {timeout}s; got {seen}")


@pytest.fixture(scope="session")
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        receiver.received.append(ReceivedWebhook(headers=dict(request.headers), body=body))
        return web.Response(status=503 if receiver.failing else 204)

    application = web.Application()
    application.router.add_post("/hook", handle)
    runner = web.AppRunner(application)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{port}/hook"
    yield receiver
    await runner.cleanup()


@dataclass
class Worker:
    name: str
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Workers:
    """Starts `faust -A app worker` subprocesses in one consumer group and stops them all."""

    def __init__(self, bootstrap: str, tenants_file: Path, workdir: Path) -> None:
        self.bootstrap = bootstrap
        self.tenants_file = tenants_file
        self.workdir = workdir
        self.group_id = f"interview-streams-test-{uuid.uuid4().hex[:8]}"
        self.started: list[Worker] = []

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BROKER": self.bootstrap,
            "KAFKA_GROUP_ID": self.group_id,
            "TENANTS_FILE": str(self.tenants_file),
            "ADMIN_API_KEY": ADMIN_KEY,
            "WEBHOOK_ALLOW_PRIVATE": "1",
            "WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
            "WEBHOOK_BACKOFF_CAP_SECONDS": "1",
            "WEBHOOK_RETRY_SECONDS": "60",
            **overrides,
        }

    async def start(self, name: str, timeout: float = 90.0, **env: str) -> Worker:
        port = free_port()
        datadir = self.workdir / name
        log_path = ARTIFACTS / f"{self.group_id}-{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = worker_command(datadir, port, web_host="127.0.0.1")
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=self.env(**env), stdout=log, stderr=subprocess.STDOUT)
        worker = Worker(name=name, base_url=f"http://127.0.0.1:{port}", log_path=log_path, process=process)
        self.started.append(worker)
        await wait_ready(worker, timeout)
        return worker

    def stop(self, worker: Worker, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        stop_worker(worker.process, sig, timeout)

    def stop_all(self) -> None:
        for worker in self.started:
            self.stop(worker)


async def wait_ready(worker: Worker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                raise AssertionError(f"worker {worker.name} exited:\n{worker.log()[-4000:]}")
            try:
                async with session.get(f"{worker.base_url}/health/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"worker {worker.name} not ready in {timeout}s:\n{worker.log()[-4000:]}")


@pytest.fixture(scope="session")
async def workers(
    bootstrap: str, tenants_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Workers]:
    pool = Workers(bootstrap, tenants_file, tmp_path_factory.mktemp("workers"))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
async def worker(workers: Workers) -> Worker:
    """One worker shared by the tests that need just one."""
    return await workers.start("main")


class Api:
    """A tenant's view of the HTTP API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, tenant_id: str) -> None:
        self.session = session
        self.base_url = base_url
        self.tenant_id = tenant_id
        self.headers = {"X-Tenant-ID": tenant_id, "X-API-Key": TENANTS[tenant_id]["apiKey"]}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(method, self.base_url + path, headers=headers, **kwargs) as response:
            text = await response.text()
            try:
                body = json.loads(text) if text else None
            except json.JSONDecodeError:
                body = text
            return response.status, body

    async def wait_until(
        self, interview_id: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            status, last = await self.call("GET", f"/api/v1/interviews/{interview_id}")
            if status == 200 and check(last):
                return last  # type: ignore[no-any-return]
            await asyncio.sleep(0.1)
        raise AssertionError(f"interview {interview_id}: not {what} in {timeout}s; last: {last}")

    async def wait_until_ok(
        self, path: str, check: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        """GET ``path`` until it answers 200 with a body that passes ``check``."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            status, last = await self.call("GET", path)
            if status == 200 and check(last):
                return last  # type: ignore[no-any-return]
            await asyncio.sleep(0.1)
        raise AssertionError(f"GET {path}: not as expected in {timeout}s; last: {last}")

    async def wait_state(self, interview_id: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
        return await self.wait_until(interview_id, lambda row: row["state"] == state, state, timeout)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api_for(http: aiohttp.ClientSession, worker: Worker) -> Callable[[str], Api]:
    return lambda tenant_id: Api(http, worker.base_url, tenant_id)


class Kafka:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    async def produce(
        self, topic: str, value: bytes | None, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, max_request_size=8 * 1024 * 1024)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        finally:
            await producer.stop()

    async def collect(self, topic: str, done: Callable[[list[Any]], bool], timeout: float = 30.0) -> list[Any]:
        """Records of ``topic`` from the beginning until ``done(records)`` holds."""
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
        )
        await consumer.start()
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not done(records):
                batch = await consumer.getmany(timeout_ms=200)
                for partition_records in batch.values():
                    records.extend(partition_records)
        finally:
            await consumer.stop()
        return records


@pytest.fixture(scope="session")
def kafka(bootstrap: str) -> Kafka:
    return Kafka(bootstrap)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault suite's one summary table, after every case ran (rows collected by faults_support)."""
    support = sys.modules.get("faults_support")  # imported only when a fault case was collected
    if support is not None and support.SUMMARY:
        terminalreporter.section("fault suite")
        for line in support.summary_lines():
            terminalreporter.write_line(line)
