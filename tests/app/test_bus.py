"""app.bus without a broker: logging-only mode against a closed port, and the typed event helper."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.bus import (
    InvalidEvent,
    KafkaConsumerManager,
    KafkaProducerManager,
    build_event,
    publish_event,
    resolve_bootstrap,
)
from models.codec import decode_event, encode_event
from models.payloads import ApprovalApproved, SkillValidationRequested
from models.topics import Topic

ROOT = Path(__file__).resolve().parents[2]
CONNECT_BOUND = 15.0  # the contract is "gives up within a few seconds"; generous, not a benchmark

SKILLS = {"skills": ["Kafka", "Python"], "jobDescription": "Run the event backbone.", "level": "SENIOR"}


@pytest.fixture
def closed_bootstrap() -> str:
    """127.0.0.1 and a port nobody listens on (bound once by the OS to find it, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"127.0.0.1:{port}"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.WARNING]


def _bus_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("kafka-producer-", "kafka-consumer-"))]


class Recorder:
    """A RawPublisher that remembers what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, Any, Any]] = []

    def publish_raw(self, topic: str, value: bytes | None, key: Any = None, headers: Any = None) -> None:
        self.sent.append((topic, value, key, headers))


def test_producer_without_broker_goes_logging_only(closed_bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    producer = KafkaProducerManager(closed_bootstrap)  # the default connect timeout
    started = time.monotonic()
    producer.connect()
    assert time.monotonic() - started < CONNECT_BOUND
    assert producer.logging_only and not producer.connected
    warnings = _warnings(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert closed_bootstrap in warnings[0].getMessage() and "logging-only" in warnings[0].getMessage()
    assert _bus_threads() == []  # the loop thread of the failed attempt is gone

    caplog.clear()
    result = producer.publish(  # type: ignore[func-returns-value]
        "entity-extraction-worker",
        {"event_type": "wells_scraped", "data": {"count": 3}},
        key="wells_scraped",
        headers={"source": "ingestion"},
    )
    assert result is None
    [record] = [r for r in caplog.records if r.name == "app.bus"]
    message = record.getMessage()
    assert record.levelno == logging.INFO
    assert "topic=entity-extraction-worker" in message and "key=wells_scraped" in message
    assert '{"event_type":"wells_scraped","data":{"count":3}}' in message and "source" in message

    started = time.monotonic()
    assert producer.flush() == 0
    assert producer.ensure_topic("entity-extraction-worker") is False
    producer.disconnect()
    producer.disconnect()
    assert time.monotonic() - started < 1.0
    assert _warnings(caplog) == []  # still the one warning from connect()


def test_static_ensure_topic_without_broker(closed_bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    started = time.monotonic()
    created = KafkaProducerManager.ensure_topic("some-topic", bootstrap_servers=closed_bootstrap, connect_timeout=1.0)
    assert created is False
    assert time.monotonic() - started < CONNECT_BOUND
    assert len(_warnings(caplog)) == 1


def test_context_manager_and_publish_before_connect(closed_bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="connect"):
        KafkaProducerManager(closed_bootstrap).publish("t", {"a": 1})
    with KafkaProducerManager(closed_bootstrap, connect_timeout=0.5) as producer:
        assert producer.logging_only
        producer.publish("t", {"a": 1}, headers=[("h", b"v")])
    assert len(_warnings(caplog)) == 1


def test_consumer_without_broker_returns_nothing(closed_bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    consumer = KafkaConsumerManager("some-group", closed_bootstrap, connect_timeout=1.0)
    started = time.monotonic()
    consumer.connect(["entity-extraction-worker"])
    assert time.monotonic() - started < CONNECT_BOUND
    assert consumer.logging_only
    assert len(_warnings(caplog)) == 1

    handled: list[Any] = []
    started = time.monotonic()
    assert consumer.consume(handled.append, max_messages=10, timeout=5.0) == 0
    assert time.monotonic() - started < 1.0
    assert handled == []
    consumer.disconnect()
    assert len(_warnings(caplog)) == 1
    assert _bus_threads() == []


def test_bootstrap_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BROKER", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert resolve_bootstrap() == "127.0.0.1:9092"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "seed-host:9092")
    assert KafkaProducerManager().bootstrap_servers == "seed-host:9092"
    monkeypatch.setenv("KAFKA_BROKER", "broker-a:9093,broker-b:9093")
    assert KafkaConsumerManager("g").bootstrap_servers == "broker-a:9093,broker-b:9093"
    assert KafkaProducerManager("explicit:1234").bootstrap_servers == "explicit:1234"
    with pytest.raises(ValueError, match="bootstrap"):
        KafkaProducerManager("host:notaport")


def test_publish_event_sends_the_validated_envelope() -> None:
    recorder = Recorder()
    envelope = publish_event(
        recorder,
        Topic.SKILL_VALIDATION_REQUESTED,
        tenant_id="tenant-uuid",
        interview_id="iv-1",
        payload=SKILLS,
        headers={"source": "ats"},
    )
    [(topic, value, key, headers)] = recorder.sent
    assert topic == "skill.validation.requested" and key == "iv-1" and headers == {"source": "ats"}
    assert value == encode_event(envelope)
    decoded = decode_event(value, topic)
    assert decoded == envelope
    assert decoded.tenant_id == "tenant-uuid" and decoded.payload.level == "SENIOR"
    assert uuid.UUID(envelope.id).version == 4
    assert re.fullmatch(r"run_\d+_[0-9a-f]{8}", envelope.run_id or "")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", envelope.timestamp)
    document = orjson.loads(value)
    assert set(document) == {"eventType", "eventId", "tenantId", "runId", "interviewId", "timestamp", "payload"}


def test_publish_event_takes_a_payload_model_and_given_ids() -> None:
    recorder = Recorder()
    payload = ApprovalApproved(plan_id="plan-1", approved_by="rita")
    envelope = publish_event(
        recorder,
        "approval.approved",
        tenant_id="acme",
        interview_id="iv-2",
        payload=payload,
        run_id="run-7",
        event_id="event-7",
        topic="mirror-topic",
    )
    [(topic, value, _, _)] = recorder.sent
    assert topic == "mirror-topic"
    assert envelope.id == "event-7" and envelope.run_id == "run-7"
    assert decode_event(value, "approval.approved").payload == payload


@pytest.mark.parametrize(
    ("event_type", "kwargs", "named"),
    [
        ("skill.validation.requested", {"payload": {"skills": ["Kafka"], "jobDescription": "x"}}, "payload.level"),
        ("skill.validation.requested", {"payload": {**SKILLS, "skills": "Kafka"}}, "payload.skills"),
        ("skill.validation.requested", {"payload": SKILLS, "tenant_id": " "}, "tenantId"),
        ("skill.validation.requested", {"payload": SKILLS, "interview_id": ""}, "interviewId"),
        ("approval.approved", {"payload": {"planId": "p"}}, "payload.approvedBy"),
        (
            "approval.approved",
            {"payload": SkillValidationRequested.model_validate(SKILLS)},
            "SkillValidationRequested",
        ),
        ("skills.validation.requested", {"payload": SKILLS}, "unknown eventType"),
        ("skill.validation.requested", {"payload": SKILLS, "timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_publish_event_rejects_a_bad_event_before_sending(event_type: str, kwargs: dict[str, Any], named: str) -> None:
    recorder = Recorder()
    arguments: dict[str, Any] = {"tenant_id": "acme", "interview_id": "iv-3", **kwargs}
    with pytest.raises(ValueError, match=re.escape(named)) as error:
        publish_event(recorder, event_type, **arguments)
    assert isinstance(error.value, InvalidEvent)
    assert recorder.sent == []
    with pytest.raises(InvalidEvent):
        build_event(event_type, **arguments)


def test_bus_module_itself_needs_no_faust() -> None:
    """``import app.bus`` runs app/__init__.py (the Faust app); bus.py on its own imports no Faust."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('bus_alone', {str(ROOT / 'app' / 'bus.py')!r})\n"
        "module = sys.modules['bus_alone'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.KafkaProducerManager and module.KafkaConsumerManager\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in {'faust', 'mode', 'app', 'agents'})\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
