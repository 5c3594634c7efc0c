"""Bad input as properties, against the real broker and a real worker.

Hypothesis draws a batch of bad messages for every topic the workers consume (the shared strategies
of tests/strategies.py, each knowing its reason), another tenant's events for an existing interview,
and good events; they go out interleaved in one go. Then every bad message must be in
events.deadletter, at its own topic/partition/offset, with its reason; no good one may be; every good
interview must reach PENDING; and the worker must still be alive with no traceback in its log.
The HTTP half does the same with generated bodies, paths and query strings.

Drawing happens in a synchronous @given run with a fixed seed (derandomize), so CI sees the same
examples every time and the broker round trip is paid once per batch, not once per example.
"""

from __future__ import annotations

import base64
import json
import random
import string
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from conftest import ADMIN_KEY, COMPLETE_REQUEST, Api, Worker
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.codec import MAX_MESSAGE_BYTES, Reason
from models.topics import WORKFLOW_TOPICS, Topic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from strategies import (
    PAYLOADS,
    BadCase,
    Spec,
    bad_entity_events,
    bad_messages,
    deep_json,
    dumps,
    entity_events,
    envelopes,
    json_scalars,
    json_values,
    nested,
    weird_text,
    wrong_value,
)

T = TypeVar("T")
DEADLETTER = "events.deadletter"
BAD_PER_TOPIC = 6
OVERSIZE_MESSAGES = 3
GOOD_INTERVIEWS = 8


def drawn(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples of ``strategy``, the same ones on every run."""
    examples: list[T] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        examples.append(example)

    collect()
    return examples


def seeded_interview(run: str, index: int) -> tuple[str, bytes]:
    """A good skill.validation.requested for a fresh acme interview (planned to PENDING)."""
    interview_id = f"prop-good-{run}-{index}"
    document = {
        "eventType": Topic.SKILL_VALIDATION_REQUESTED,
        "eventId": str(uuid.uuid4()),
        "tenantId": "acme",
        "interviewId": interview_id,
        "timestamp": "2024-01-15T10:01:00.000Z",
        "payload": {"skills": ["Go", "Kafka"], "jobDescription": "Run the event backbone.", "level": "MID"},
    }
    return interview_id, dumps(document)


class DeadLetterTail:
    """events.deadletter from where it ends now (the shared broker's topic holds others' letters too)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.start: dict[TopicPartition, int] = {}

    async def mark(self) -> None:
        consumer = AIOKafkaConsumer(DEADLETTER, bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()  # subscribed, so the topic's metadata is fetched
        try:
            partitions = [TopicPartition(DEADLETTER, p) for p in consumer.partitions_for_topic(DEADLETTER) or ()]
            assert partitions, "events.deadletter does not exist (is the worker running?)"
            self.start = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()

    async def collect(
        self, done: Callable[[dict[tuple[str, int, int], list[dict[str, Any]]]], bool], timeout: float
    ) -> dict[tuple[str, int, int], list[dict[str, Any]]]:
        """Dead letters since mark(), by source position, until ``done`` holds (or the timeout)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
        )
        await consumer.start()
        letters: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        try:
            consumer.assign(list(self.start))
            for partition, offset in self.start.items():
                consumer.seek(partition, offset)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not done(letters):
                batch = await consumer.getmany(timeout_ms=300)
                for records in batch.values():
                    for record in records:
                        letter = json.loads(record.value)
                        position = (letter["sourceTopic"], letter["sourcePartition"], letter["sourceOffset"])
                        letters.setdefault(position, []).append(letter)
        finally:
            await consumer.stop()
        return letters


def bad_outbox_values() -> st.SearchStrategy[bytes | None]:
    """What no webhook delivery looks like: not JSON, not an object, or an object of the wrong shape."""
    not_a_tick = st.dictionaries(weird_text(1, 10).filter(lambda k: k != "tick"), json_values, max_size=4)
    return st.one_of(
        st.none(),
        st.binary(max_size=40).filter(lambda b: not b.strip().startswith((b"{", b"["))),
        st.one_of(json_scalars, st.lists(json_values, max_size=3)).map(dumps),
        not_a_tick.map(dumps),
        st.integers(1025, 2000).map(deep_json),
    )


async def test_generated_bad_messages_on_every_topic_are_dead_lettered_with_their_reason(
    worker: Worker, bootstrap: str, api_for: Callable[[str], Api]
) -> None:
    acme = api_for("acme")
    run = uuid.uuid4().hex[:8]
    log_start = len(worker.log())

    # An acme interview waiting for its recruiter: globex's events about it must not touch it.
    status, accepted = await acme.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202
    owned_id = accepted["interviewId"]
    # Long: a fresh group on a shared broker first works through every topic's history.
    before = await acme.wait_state(owned_id, "PENDING", timeout=300)

    # topic, key, value, expected reason, field the error must name (None: no field check)
    bad: list[tuple[str, BadCase]] = []
    for topic in WORKFLOW_TOPICS:
        bad += [(topic, case) for case in drawn(bad_messages(str(topic), oversize=False), BAD_PER_TOPIC)]
    oversized = drawn(st.sampled_from(list(WORKFLOW_TOPICS)), OVERSIZE_MESSAGES)
    bad += [(t, drawn(bad_messages(str(t), only="too-large"), 1)[0]) for t in oversized]
    bad += [(Topic.ENTITY_EXTRACTION, case) for case in drawn(bad_entity_events(), 12)]
    bad += [
        (Topic.WEBHOOK_OUTBOX, BadCase("not-a-delivery", value, f"outbox-{run}".encode(), Reason.SCHEMA))
        for value in drawn(bad_outbox_values(), 8)
    ]
    # Another tenant's events, valid in every other way, for the acme interview.
    for topic in WORKFLOW_TOPICS:
        for document in drawn(envelopes(str(topic), tenant="globex", interview_id=owned_id), 2):
            bad.append((topic, BadCase("another-tenant", dumps(document), owned_id.encode(), Reason.TENANT_MISMATCH)))

    good_interviews = [seeded_interview(run, i) for i in range(GOOD_INTERVIEWS)]
    entity_type = f"props-{run}"
    good_entities = drawn(entity_events(event_type=entity_type), 6)
    messages: list[tuple[str, bytes | None, bytes | None, BadCase | None]] = [
        # Kafka needs a key or a value: a tombstone gets a key.
        (topic, case.key if case.value is not None else case.key or b"tombstone", case.value, case)
        for topic, case in bad
    ]
    messages += [(Topic.SKILL_VALIDATION_REQUESTED, i.encode(), value, None) for i, value in good_interviews]
    messages += [(Topic.ENTITY_EXTRACTION, None, dumps(document), None) for document in good_entities]
    random.Random(run).shuffle(messages)  # good traffic interleaved with the bad

    tail = DeadLetterTail(bootstrap)
    await tail.mark()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 * 1024 * 1024, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(str(topic), value=value, key=key, headers=[("props-run", run.encode())])
            for topic, key, value, _ in messages
        ]
        sent = [await future for future in futures]
    finally:
        await producer.stop()
    expected: dict[tuple[str, int, int], BadCase] = {}
    good_positions: set[tuple[str, int, int]] = set()
    for (target, _, _, case), meta in zip(messages, sent, strict=True):
        position = (str(target), meta.partition, meta.offset)
        if case is None:
            good_positions.add(position)
        else:
            expected[position] = case

    letters = await tail.collect(lambda got: set(expected) <= set(got), timeout=60)

    missing = {p: (c.what, c.reason.value) for p, c in expected.items() if p not in letters}
    assert not missing, f"{len(missing)} bad messages not dead-lettered: {missing}"
    for position, case in expected.items():
        for letter in letters[position]:
            assert letter["reason"] == case.reason.value, (case.what, position, letter["reason"], letter["error"])
            assert letter["error"]
            original = base64.b64decode(letter["valueBase64"]) if letter["valueBase64"] is not None else None
            assert original == case.value, (case.what, position)
            if case.field is not None:
                named = [f["field"] for f in letter["fields"]]
                assert named and all(n == case.field or n.startswith(f"{case.field}.") for n in named), (
                    case.what,
                    case.field,
                    named,
                )
    wrongly = {p: [letter["reason"] for letter in letters[p]] for p in good_positions if p in letters}
    assert not wrongly, f"good messages dead-lettered: {wrongly}"

    # The good traffic went through, and the other tenant changed nothing.
    for interview_id, _ in good_interviews:
        await acme.wait_state(interview_id, "PENDING", timeout=60)
    summary = await acme.wait_until_ok(
        f"/api/v1/entities/{entity_type}", lambda body: body["count"] == len(good_entities), timeout=30
    )
    assert sorted(summary["entityIds"]) == sorted({d["data"]["id"] for d in good_entities})
    after = await acme.wait_state(owned_id, "PENDING")
    assert after["version"] == before["version"]
    status, history = await acme.call("GET", f"/api/v1/interviews/{owned_id}/history")
    assert status == 200 and history["history"][-1]["to"] == "PENDING"

    await assert_alive(worker, log_start)


async def assert_alive(worker: Worker, log_start: int) -> None:
    assert worker.process.poll() is None, f"the worker died; see {worker.log_path}"
    async with aiohttp.ClientSession() as session, session.get(f"{worker.base_url}/health/live") as response:
        assert response.status == 200
    log = worker.log()[log_start:]
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 : log.index("Traceback") + 3000]
    assert "crashed" not in log.lower(), log[-4000:]


# --- HTTP ----------------------------------------------------------------------------------------

# What each command body may hold (kinds as in tests/strategies.py); one field is made wrong per body.
TEXT, STR = Spec("text"), Spec("str")
BODIES: dict[str, dict[str, Spec]] = {
    "plan/approve": {"planId": STR, "approvedBy": TEXT, "comment": STR},
    "plan/reject": {"planId": STR, "rejectedBy": TEXT, "reason": Spec("text", True), "retry": Spec("bool")},
    "plan/revise": {"planId": STR, "requestedBy": TEXT, "instructions": Spec("text", True)},
    "complete": {"sessionId": STR, "endedAt": STR, "transcript": Spec("objects", True)},
    "assessment/approve": {"assessmentId": STR, "reviewedBy": TEXT, "comment": STR},
    "assessment/reject": {"assessmentId": STR, "reviewedBy": TEXT, "comment": STR},
}
CANCEL_FIELDS = {"cancelledBy": TEXT, "reason": STR}


@st.composite
def bad_bodies(draw: st.DrawFn, specs: dict[str, Spec]) -> tuple[str, bytes, int, str | None]:
    """(what, body, expected status, the field the answer must name) for a body with one thing wrong."""
    kind = draw(st.sampled_from(["not-json", "too-deep", "not-an-object", "wrong-field", "missing-field", "too-large"]))
    if kind == "not-json":
        start = draw(st.sampled_from(["{'", "{,", "<html>", "\x00", "NaN", "{a:1}"]))
        return kind, (start + draw(weird_text())).encode(), 400, None
    if kind == "too-deep":
        return kind, deep_json(draw(st.integers(1025, 3000))), 400, None
    if kind == "not-an-object":
        return kind, dumps(draw(st.one_of(json_scalars, st.lists(json_values, max_size=3)))), 400, "(body)"
    if kind == "too-large":
        return kind, dumps({"comment": "x" * (MAX_MESSAGE_BYTES + draw(st.integers(1, 4096)))}), 413, None
    extra = draw(st.dictionaries(weird_text(1, 8).filter(lambda k: k not in specs), json_values, max_size=3))
    if draw(st.booleans()):
        extra["nested"] = nested(draw(st.integers(10, 900)))
    required = [name for name, spec in specs.items() if spec.required]
    if kind == "missing-field" and required:
        return kind, dumps(extra), 400, draw(st.sampled_from(required))
    name = draw(st.sampled_from(sorted(specs)))
    spec = specs[name]
    # Optional fields take null; only a wrong type is wrong.
    value = draw(wrong_value(Spec(spec.kind, True, max_items=spec.max_items, low=spec.low, high=spec.high)))
    if value is None and not spec.required:
        value = [None]
    body = {**extra, name: value}
    for other, other_spec in specs.items():
        if other_spec.required and other != name and other_spec.kind == "text":
            body[other] = "fine"
        elif other_spec.required and other != name and other_spec.kind == "objects":
            body[other] = [{"speaker": "candidate", "text": "fine"}]
    return "wrong-field", dumps(body), 400, name


async def interview_in(acme: Api, state: str) -> str:
    """A fresh acme interview walked to ``state`` (PENDING, APPROVED or ASSESSMENT_PENDING)."""
    status, accepted = await acme.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202
    interview_id: str = accepted["interviewId"]
    await acme.wait_state(interview_id, "PENDING", timeout=300)
    if state in ("APPROVED", "ASSESSMENT_PENDING"):
        assert (await acme.call("POST", f"/api/v1/interviews/{interview_id}/plan/approve", json={}))[0] == 202
        await acme.wait_state(interview_id, "APPROVED")
    if state == "ASSESSMENT_PENDING":
        transcript = {"transcript": [{"speaker": "candidate", "text": "I run Kafka consumers in Python."}]}
        assert (await acme.call("POST", f"/api/v1/interviews/{interview_id}/complete", json=transcript))[0] == 202
        await acme.wait_state(interview_id, "ASSESSMENT_PENDING", timeout=60)
    return interview_id


def assert_names_the_problem(what: str, status: int, body: Any, expected: int, field: str | None) -> None:
    assert status == expected, (what, status, body)
    assert isinstance(body, dict) and body.get("error") and body.get("message"), (what, body)
    if field is not None:
        named = [f["field"] for f in body.get("fields", [])]
        assert any(n == field or n.startswith(f"{field}.") for n in named), (what, field, body)


async def test_generated_bad_requests_get_a_4xx_naming_the_problem(
    worker: Worker, api_for: Callable[[str], Api]
) -> None:
    acme = api_for("acme")
    log_start = len(worker.log())
    targets = {
        "PENDING": await interview_in(acme, "PENDING"),
        "ASSESSMENT_PENDING": await interview_in(acme, "ASSESSMENT_PENDING"),
    }
    approved = await interview_in(acme, "APPROVED")
    status, accepted = await acme.call("POST", "/api/v1/interviews", json={"candidateName": "Info Needed"})
    assert status == 202 and accepted["state"] == "INFO_NEEDED"
    info_needed = accepted["interviewId"]
    await acme.wait_state(info_needed, "INFO_NEEDED")

    requests: list[tuple[str, str, bytes, int, str | None, str]] = []  # method, path, body, status, field, what
    for suffix, fields in BODIES.items():
        target = targets["ASSESSMENT_PENDING" if suffix.startswith("assessment") else "PENDING"]
        if suffix == "complete":
            target = approved
        for what, body, expected, field in drawn(bad_bodies(fields), 8):
            requests.append(("POST", f"/api/v1/interviews/{target}/{suffix}", body, expected, field, what))
    # Nothing is required to create or to supply info, so "missing" bodies are wrong ones there.
    for what, body, expected, field in drawn(bad_bodies(PAYLOADS[Topic.INTERVIEW_REQUESTED]), 14):
        requests.append(("POST", "/api/v1/interviews", body, expected, field, what))
    for what, body, expected, field in drawn(bad_bodies(PAYLOADS[Topic.INFO_PROVIDED]), 10):
        requests.append(("PATCH", f"/api/v1/interviews/{info_needed}/info", body, expected, field, what))
    requests.append(("PATCH", f"/api/v1/interviews/{info_needed}/info", b"{}", 400, "(body)", "no-fields"))
    for what, body, expected, field in drawn(bad_bodies(CANCEL_FIELDS), 6):
        requests.append(("DELETE", f"/api/v1/interviews/{targets['PENDING']}", body, expected, field, what))

    good_ids: list[str] = []
    rng = random.Random(7)
    rng.shuffle(requests)
    for index, (method, path, body, expected, field, what) in enumerate(requests):
        status, answer = await acme.call(method, path, data=body, headers={"Content-Type": "application/json"})
        assert_names_the_problem(f"{what} {method} {path[:80]}", status, answer, expected, field)
        if index % 8 == 0:  # good requests in between still work
            status, answer = await acme.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
            assert status == 202, answer
            good_ids.append(answer["interviewId"])

    # Just under the body limit: the event around it would be over the message limit. Refused now,
    # not accepted with a 202 and then dead-lettered as too_large by the worker.
    for size in drawn(st.integers(MAX_MESSAGE_BYTES - 200, MAX_MESSAGE_BYTES), 3):
        body = dumps({"candidateName": "x" * (size - len(dumps({"candidateName": ""})))})
        assert len(body) == size
        status, answer = await acme.call(
            "POST", "/api/v1/interviews", data=body, headers={"Content-Type": "application/json"}
        )
        assert_names_the_problem(f"near-limit body of {size} bytes", status, answer, 413, None)
        assert "message limit" in answer["message"]

    # Generated path and query parameters: unicode, very long, encoded slashes.
    long_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_.~", min_size=300, max_size=4000)
    odd_ids = [quote(i, safe="") for i in drawn(st.one_of(weird_text(1, 40), long_ids), 25)]
    odd_ids += ["a%2Fb", "..%2F..%2Fadmin", "%00", "%E2%80%AE", "x%252F"]  # encoded slashes, NUL, RTL, double-encoded
    for odd in odd_ids:
        for suffix in ("", "/history", "/notifications"):
            status, answer = await acme.call("GET", f"/api/v1/interviews/{odd}{suffix}")
            assert_names_the_problem(f"GET id {odd[:40]!r}{suffix}", status, answer, 404, None)
        status, answer = await acme.call("POST", f"/api/v1/interviews/{odd}/plan/approve", json={})
        assert_names_the_problem(f"approve id {odd[:40]!r}", status, answer, 404, None)
    admin = {"X-API-Key": ADMIN_KEY}
    tricky = st.sampled_from(
        ["\u00b2", "\u0663", "0", "501", "-1", "1e3", " 5", "5 ", "", "\uff15"]
    )  # superscript 2, Arabic 3, fullwidth 5
    bad_limits = st.one_of(tricky, weird_text(0, 12)).filter(
        lambda s: not (s.isascii() and s.isdigit() and 0 < int(s) <= 500)
    )
    for limit in drawn(bad_limits, 20):
        status, answer = await acme.call("GET", "/api/v1/admin/deadletters", params={"limit": limit}, headers=admin)
        assert_names_the_problem(f"limit {limit!r}", status, answer, 400, "limit")
    for odd in drawn(weird_text(1, 40), 10):
        status, answer = await acme.call(
            "GET", f"/api/v1/entities/props-none-{uuid.uuid4().hex[:6]}", params={"id": odd}
        )
        assert_names_the_problem(f"entities id {odd!r}", status, answer, 404, None)
        status, answer = await acme.call(
            "GET", f"/api/v1/interviews/{targets['PENDING']}/events", params={"token": odd}
        )
        assert_names_the_problem(f"token {odd!r}", status, answer, 401, None)
    for last_event_id in ["\u00b2", "\u0663", "-1", "x", "99999999999999999999"]:  # HEAD: the stream is not opened
        status, _ = await acme.call(
            "HEAD", f"/api/v1/interviews/{targets['PENDING']}/events", headers={"Last-Event-ID": last_event_id}
        )
        assert status == 200, (last_event_id, status)

    # None of it changed the interviews it was aimed at; the good requests were processed.
    assert (await acme.wait_state(targets["PENDING"], "PENDING"))["state"] == "PENDING"
    await acme.wait_state(targets["ASSESSMENT_PENDING"], "ASSESSMENT_PENDING")
    await acme.wait_state(approved, "APPROVED")
    for interview_id in good_ids:
        await acme.wait_state(interview_id, "PENDING", timeout=60)
    await assert_alive(worker, log_start)
