"""Bytes <-> envelopes (SPEC section 3): the seed's messages, every bad-message reason, dead letters."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import models.base
from models.base import ascii_int, parse_timestamp, utc_timestamp
from models.codec import (
    MAX_MESSAGE_BYTES,
    BadMessage,
    Reason,
    complete_envelope,
    decode_event,
    encode_event,
)
from models.deadletter import DeadLetter
from models.envelope import Envelope, new_run_id, position_event_id, run_id_for
from models.payloads import Level, PlanGenerated, SkillValidationRequested
from models.topics import WORKFLOW_TOPICS, Topic

# The seed's two examples, verbatim.
SEED_SKILL_VALIDATION_REQUESTED = """{
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
SEED_PLAN_GENERATED = """{
  "eventType": "plan.generated",
  "tenantId": "tenant-uuid",
  "runId": "agno-run-uuid",
  "interviewId": "interview-uuid",
  "timestamp": "2024-01-15T10:45:00.000Z",
  "payload": {
    "planId": "plan-uuid",
    "validatedSkills": ["TypeScript", "React", "Node.js"],
    "duration": 60
  }
}"""
SEEDS: dict[str, str] = {
    Topic.SKILL_VALIDATION_REQUESTED: SEED_SKILL_VALIDATION_REQUESTED,
    Topic.PLAN_GENERATED: SEED_PLAN_GENERATED,
}

TIMESTAMP_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def seed(topic: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SEEDS[topic])
    return document


def raw(document: object) -> bytes:
    return json.dumps(document).encode()


def reason_of(value: bytes | None, topic: str) -> BadMessage:
    with pytest.raises(BadMessage) as caught:
        decode_event(value, topic)
    return caught.value


# --- the seed's examples ------------------------------------------------------------------------


@pytest.mark.parametrize("topic", list(SEEDS))
def test_seed_example_decodes_and_reencodes_equal(topic: str) -> None:
    envelope = decode_event(SEEDS[topic].encode(), topic)

    assert envelope.event_type == topic
    assert envelope.tenant_id == "tenant-uuid"
    assert envelope.run_id == "agno-run-uuid"
    assert envelope.interview_id == "interview-uuid"
    assert envelope.event_id is None
    assert json.loads(encode_event(envelope)) == json.loads(SEEDS[topic])


def test_seed_skill_validation_requested_payload() -> None:
    envelope = decode_event(SEED_SKILL_VALIDATION_REQUESTED.encode(), Topic.SKILL_VALIDATION_REQUESTED)

    payload = envelope.payload
    assert isinstance(payload, SkillValidationRequested)
    assert payload.skills == ["TypeScript", "React", "Node.js"]
    assert payload.job_description == "Build scalable platform services..."
    assert payload.level is Level.SENIOR
    assert payload.callback_url == "https://ats.example.com/webhook"


def test_seed_plan_generated_payload() -> None:
    envelope = decode_event(SEED_PLAN_GENERATED.encode(), Topic.PLAN_GENERATED)

    payload = envelope.payload
    assert isinstance(payload, PlanGenerated)
    assert payload.plan_id == "plan-uuid"
    assert payload.validated_skills == ["TypeScript", "React", "Node.js"]
    assert payload.duration == 60
    assert payload.plan is None


@pytest.mark.parametrize("topic", list(SEEDS))
def test_event_id_survives_the_round_trip(topic: str) -> None:
    document = {**seed(topic), "eventId": "6b1b0c4e-27a4-4c1f-9d7e-0d3f4b1b2a10"}

    envelope = decode_event(raw(document), topic)

    assert envelope.id == "6b1b0c4e-27a4-4c1f-9d7e-0d3f4b1b2a10"
    assert json.loads(encode_event(envelope)) == document


@pytest.mark.parametrize("topic", list(SEEDS))
def test_unknown_fields_are_ignored_not_rejected(topic: str) -> None:
    document = seed(topic)
    document["schemaVersion"] = 2
    document["payload"]["futureField"] = {"x": 1}

    envelope = decode_event(raw(document), topic)

    assert json.loads(encode_event(envelope)) == seed(topic)


# --- every reason a message is bad ------------------------------------------------------------


def test_tombstone_is_bad() -> None:
    assert reason_of(None, Topic.PLAN_GENERATED).reason is Reason.NOT_JSON


@pytest.mark.parametrize("value", [b"", b"not json", b"{", b'{"eventType": "plan.generated",}', b"\xff\xfe"])
def test_not_json(value: bytes) -> None:
    assert reason_of(value, Topic.PLAN_GENERATED).reason is Reason.NOT_JSON


@pytest.mark.parametrize("value", [b"[]", b"[1, 2]", b'"plan.generated"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object(value: bytes) -> None:
    assert reason_of(value, Topic.PLAN_GENERATED).reason is Reason.SCHEMA


@pytest.mark.parametrize("event_type", ["plan.created", "", None, 42, ["plan.generated"], "events.deadletter"])
def test_unknown_event_type(event_type: object) -> None:
    document = {**seed(Topic.PLAN_GENERATED), "eventType": event_type}
    error = reason_of(raw(document), Topic.PLAN_GENERATED)

    assert error.reason is Reason.UNKNOWN_EVENT_TYPE


def test_missing_event_type() -> None:
    document = seed(Topic.PLAN_GENERATED)
    del document["eventType"]

    assert reason_of(raw(document), Topic.PLAN_GENERATED).reason is Reason.UNKNOWN_EVENT_TYPE


@pytest.mark.parametrize("topic", [Topic.SKILL_VALIDATION_REQUESTED, Topic.APPROVAL_APPROVED, Topic.INFO_NEEDED])
def test_event_type_mismatching_topic(topic: Topic) -> None:
    error = reason_of(SEED_PLAN_GENERATED.encode(), topic)

    assert error.reason is Reason.EVENT_TYPE_MISMATCH
    assert "plan.generated" in error.message
    assert str(topic) in error.message


@pytest.mark.parametrize("tenant", [None, "", "   ", 42], ids=["null", "empty", "blank", "number"])
def test_bad_tenant(tenant: object) -> None:
    document = {**seed(Topic.PLAN_GENERATED), "tenantId": tenant}

    assert reason_of(raw(document), Topic.PLAN_GENERATED).reason is Reason.MISSING_TENANT


def test_missing_tenant() -> None:
    document = seed(Topic.PLAN_GENERATED)
    del document["tenantId"]

    assert reason_of(raw(document), Topic.PLAN_GENERATED).reason is Reason.MISSING_TENANT


def _without(path: str) -> tuple[str, dict[str, Any]]:
    document = seed(Topic.SKILL_VALIDATION_REQUESTED)
    *parents, leaf = path.split(".")
    target = document
    for part in parents:
        target = target[part]
    del target[leaf]
    return path, document


def _with(path: str, value: object) -> tuple[str, dict[str, Any]]:
    document = seed(Topic.SKILL_VALIDATION_REQUESTED)
    *parents, leaf = path.split(".")
    target = document
    for part in parents:
        target = target[part]
    target[leaf] = value
    return path, document


SCHEMA_CASES: list[tuple[str, dict[str, Any]]] = [
    _with("payload.level", "STAFF"),
    _with("payload.level", None),
    _without("payload.level"),
    _without("payload.skills"),
    _with("payload.skills", "TypeScript"),
    _without("payload.jobDescription"),
    _with("payload.durationMinutes", 0),
    _with("payload.durationMinutes", 481),
    _without("payload"),
    _with("payload", "not an object"),
    _without("interviewId"),
    _with("interviewId", ""),
    _without("timestamp"),
    _with("timestamp", "yesterday"),
    _with("timestamp", "2024-01-15T10:01:00"),  # no time zone
]


@pytest.mark.parametrize(("path", "document"), SCHEMA_CASES, ids=[f"{p}-{n}" for n, (p, _) in enumerate(SCHEMA_CASES)])
def test_schema_violation_names_the_failing_path(path: str, document: dict[str, Any]) -> None:
    error = reason_of(raw(document), Topic.SKILL_VALIDATION_REQUESTED)

    assert error.reason is Reason.SCHEMA
    assert error.fields
    assert all(set(f) == {"field", "message"} for f in error.fields)
    assert any(f["field"] == path or f["field"].startswith(path + ".") for f in error.fields), error.fields
    assert path in error.message


def test_schema_violation_of_plan_generated_payload() -> None:
    document = seed(Topic.PLAN_GENERATED)
    document["payload"]["duration"] = 0
    document["payload"]["planId"] = "  "

    error = reason_of(raw(document), Topic.PLAN_GENERATED)

    assert error.reason is Reason.SCHEMA
    assert {f["field"] for f in error.fields} == {"payload.duration", "payload.planId"}


def test_over_one_mebibyte_is_too_large() -> None:
    document = seed(Topic.SKILL_VALIDATION_REQUESTED)
    document["payload"]["jobDescription"] = "x" * MAX_MESSAGE_BYTES
    value = raw(document)
    assert len(value) > MAX_MESSAGE_BYTES

    error = reason_of(value, Topic.SKILL_VALIDATION_REQUESTED)

    assert error.reason is Reason.TOO_LARGE
    assert MAX_MESSAGE_BYTES == 1024 * 1024


def test_size_limit_is_exclusive() -> None:
    valid = SEED_PLAN_GENERATED.encode()
    at_limit = valid + b" " * (MAX_MESSAGE_BYTES - len(valid))
    assert len(at_limit) == MAX_MESSAGE_BYTES

    assert decode_event(at_limit, Topic.PLAN_GENERATED).interview_id == "interview-uuid"
    assert reason_of(at_limit + b" ", Topic.PLAN_GENERATED).reason is Reason.TOO_LARGE


def test_too_large_is_checked_before_parsing() -> None:
    assert reason_of(b"x" * (MAX_MESSAGE_BYTES + 1), Topic.PLAN_GENERATED).reason is Reason.TOO_LARGE


@pytest.mark.parametrize("topic", WORKFLOW_TOPICS)
def test_every_workflow_topic_has_a_decoder(topic: Topic) -> None:
    # An empty payload is never valid; what matters is that the topic is known (schema, not unknown).
    document = {**seed(Topic.PLAN_GENERATED), "eventType": str(topic), "payload": {"unexpected": True}}
    try:
        decode_event(raw(document), topic)
    except BadMessage as exc:
        assert exc.reason is Reason.SCHEMA


# --- complete_envelope ------------------------------------------------------------------------


def _decoded(extra: dict[str, Any] | None = None) -> Envelope[Any]:
    return decode_event(raw({**seed(Topic.PLAN_GENERATED), **(extra or {})}), Topic.PLAN_GENERATED)


@pytest.mark.parametrize("key", [b"another-interview", b"", b"interview-uuid ", b"INTERVIEW-UUID"])
def test_key_mismatch(key: bytes) -> None:
    with pytest.raises(BadMessage) as caught:
        complete_envelope(_decoded(), key=key, topic=Topic.PLAN_GENERATED, partition=0, offset=7)

    assert caught.value.reason is Reason.KEY_MISMATCH


@pytest.mark.parametrize("key", [b"interview-uuid", None])
def test_matching_or_absent_key_is_accepted(key: bytes | None) -> None:
    envelope = complete_envelope(_decoded(), key=key, topic=Topic.PLAN_GENERATED, partition=0, offset=7)
    assert envelope.interview_id == "interview-uuid"


def test_missing_event_id_is_derived_from_the_position() -> None:
    first = complete_envelope(_decoded(), key=None, topic="plan.generated", partition=2, offset=41)
    same = complete_envelope(_decoded(), key=None, topic="plan.generated", partition=2, offset=41)

    assert first.event_id is not None
    assert first.event_id == same.event_id == position_event_id("plan.generated", 2, 41)


@pytest.mark.parametrize(
    ("topic", "partition", "offset"),
    [("plan.generated", 2, 42), ("plan.generated", 1, 41), ("skill.validation.requested", 2, 41)],
)
def test_derived_event_id_differs_by_position(topic: str, partition: int, offset: int) -> None:
    base = complete_envelope(_decoded(), key=None, topic="plan.generated", partition=2, offset=41)
    other = complete_envelope(_decoded(), key=None, topic=topic, partition=partition, offset=offset)

    assert other.event_id != base.event_id


def test_present_event_id_is_kept() -> None:
    envelope = complete_envelope(
        _decoded({"eventId": "given-id"}), key=b"interview-uuid", topic="plan.generated", partition=0, offset=1
    )
    assert envelope.id == "given-id"


def test_derived_event_id_is_a_uuid() -> None:
    envelope = complete_envelope(_decoded(), key=None, topic="plan.generated", partition=0, offset=0)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", envelope.id)


# --- ids and timestamps -------------------------------------------------------------------------


def test_utc_timestamp_now_has_the_envelope_format() -> None:
    assert TIMESTAMP_FORMAT.match(utc_timestamp())


@pytest.mark.parametrize(
    ("time_ns", "expected"),
    [
        (1_705_312_860_000_000_000, "2024-01-15T10:01:00.000Z"),
        (1_705_312_860_123_456_789, "2024-01-15T10:01:00.123Z"),
        (1_705_312_860_999_999_999, "2024-01-15T10:01:00.999Z"),  # truncated, never rounded up
        (1_704_067_199_999_000_000, "2023-12-31T23:59:59.999Z"),
        (1_704_067_200_000_000_000, "2024-01-01T00:00:00.000Z"),
    ],
)
def test_utc_timestamp_now_is_the_clock_in_utc_with_milliseconds(
    monkeypatch: pytest.MonkeyPatch, time_ns: int, expected: str
) -> None:
    monkeypatch.setattr(models.base, "_second", (-1, ""))  # no second formatted yet
    monkeypatch.setattr(time, "time_ns", lambda: time_ns)

    assert utc_timestamp() == expected
    assert utc_timestamp() == expected  # the second's formatted prefix, kept, gives the same


def test_utc_timestamp_now_follows_the_clock_across_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(
        [
            1_705_312_860_998_000_000,
            1_705_312_860_999_500_000,
            1_705_312_861_001_000_000,  # the next second
            1_704_067_199_999_000_000,  # the clock set back, to a year's last millisecond
            1_704_067_200_000_000_000,  # and on into the next year
        ]
    )
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))

    stamps = [utc_timestamp() for _ in range(5)]

    assert stamps == [
        "2024-01-15T10:01:00.998Z",
        "2024-01-15T10:01:00.999Z",
        "2024-01-15T10:01:01.001Z",
        "2023-12-31T23:59:59.999Z",
        "2024-01-01T00:00:00.000Z",
    ]


def test_utc_timestamp_now_matches_datetime_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamped = parse_timestamp(utc_timestamp())
    after = datetime.now(UTC)
    assert before <= stamped <= after


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2024, 1, 15, 10, 1, 0, tzinfo=UTC), "2024-01-15T10:01:00.000Z"),
        (datetime(2024, 1, 15, 10, 1, 0, 123456, tzinfo=UTC), "2024-01-15T10:01:00.123Z"),
        (datetime(2024, 1, 15, 10, 1, 0, 999999, tzinfo=UTC), "2024-01-15T10:01:00.999Z"),
        (datetime(2024, 1, 15, 12, 1, 0, 5000, tzinfo=timezone(timedelta(hours=2))), "2024-01-15T10:01:00.005Z"),
        (datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), "2023-12-31T23:30:00.000Z"),
    ],
)
def test_utc_timestamp_formats_in_utc_with_milliseconds(at: datetime, expected: str) -> None:
    formatted = utc_timestamp(at)

    assert formatted == expected
    assert TIMESTAMP_FORMAT.match(formatted)
    assert parse_timestamp(formatted) == at.replace(microsecond=at.microsecond // 1000 * 1000).astimezone(UTC)


def test_run_ids_have_the_projects_format() -> None:
    assert re.fullmatch(r"run_1705312860_[0-9a-f]{8}", new_run_id(1705312860.5))
    derived = run_id_for("event-1", 1705312860)
    assert re.fullmatch(r"run_1705312860_[0-9a-f]{8}", derived)
    assert run_id_for("event-1", 1705312860) == derived
    assert run_id_for("event-2", 1705312860) != derived


# --- dead letters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "headers"),
    [
        (b"interview-uuid", b"not json \xff\x00", [("traceparent", b"00-abc-01"), ("empty", None)]),
        (None, None, []),
        (b"\xfe\xff", SEED_PLAN_GENERATED.encode(), [("bin", bytes(range(256)))]),
    ],
    ids=["bytes", "tombstone", "binary"],
)
def test_dead_letter_round_trips_original_bytes(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes | None]]
) -> None:
    error = BadMessage(Reason.SCHEMA, "schema violation: payload.level", [{"field": "payload.level", "message": "x"}])

    letter = DeadLetter.of(
        error,
        dead_letter_id="dl-1",
        topic="skill.validation.requested",
        partition=2,
        offset=41,
        timestamp_ms=1705312860000,
        key=key,
        value=value,
        headers=headers,
        failed_at="2024-01-15T10:01:01.000Z",
        tenant_id="tenant-uuid",
        interview_id="interview-uuid",
    )
    restored = DeadLetter.model_validate_json(letter.model_dump_json(by_alias=True))

    for record in (letter, restored):
        assert record.original_key() == key
        assert record.original_value() == value
        assert [
            (h.key, None if h.value_base64 is None else base64.b64decode(h.value_base64)) for h in record.headers
        ] == (headers)
        assert record.reason == Reason.SCHEMA
        assert record.error == "schema violation: payload.level"
        assert record.fields == [{"field": "payload.level", "message": "x"}]
        assert (record.source_topic, record.source_partition, record.source_offset) == (
            "skill.validation.requested",
            2,
            41,
        )
        assert record.source_timestamp_ms == 1705312860000
        assert record.failed_at == "2024-01-15T10:01:01.000Z"
    assert restored == letter


def test_dead_letter_of_a_decoding_failure() -> None:
    value = b"{broken"
    try:
        decode_event(value, Topic.PLAN_GENERATED)
    except BadMessage as exc:
        error = exc
    else:
        pytest.fail("decode_event accepted broken JSON")

    letter = DeadLetter.of(
        error,
        dead_letter_id="dl-2",
        topic=Topic.PLAN_GENERATED,
        partition=0,
        offset=3,
        timestamp_ms=None,
        key=b"iv-1",
        value=value,
        headers=[],
        failed_at=utc_timestamp(),
    )

    wire = letter.to_wire()
    assert wire["reason"] == "not_json"
    assert wire["key"] == "iv-1"
    assert wire["sourceTopic"] == "plan.generated"
    assert letter.original_value() == value


@pytest.mark.parametrize(
    ("text", "expected"), [("0", 0), ("42", 42), ("", None), ("-1", None), ("²", None), ("٣", None)]
)
def test_ascii_int_takes_ascii_digits_only(text: str, expected: int | None) -> None:
    assert ascii_int(text) == expected
