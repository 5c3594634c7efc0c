"""The seed's examples round-trip; every kind of bad message is named."""

from __future__ import annotations

import json

import pytest

from models.codec import MAX_MESSAGE_BYTES, BadMessage, Reason, complete_envelope, decode_event, encode_event

SEED_SKILL_VALIDATION = {
    "eventType": "skill.validation.requested",
    "tenantId": "tenant-uuid",
    "runId": "agno-run-uuid",
    "interviewId": "interview-uuid",
    "timestamp": "2024-01-15T10:01:00.000Z",
    "payload": {
        "skills": ["TypeScript", "React", "Node.js"],
        "jobDescription": "Build scalable platform services...",
        "level": "SENIOR",
        "callbackUrl": "https://ats.example.com/webhook",
    },
}
SEED_PLAN_GENERATED = {
    "eventType": "plan.generated",
    "tenantId": "tenant-uuid",
    "runId": "agno-run-uuid",
    "interviewId": "interview-uuid",
    "timestamp": "2024-01-15T10:45:00.000Z",
    "payload": {"planId": "plan-uuid", "validatedSkills": ["TypeScript", "React", "Node.js"], "duration": 60},
}


@pytest.mark.parametrize("seed", [SEED_SKILL_VALIDATION, SEED_PLAN_GENERATED], ids=lambda s: s["eventType"])
def test_seed_examples_parse_and_reserialise_with_the_same_values(seed: dict[str, object]) -> None:
    envelope = decode_event(json.dumps(seed).encode(), str(seed["eventType"]))
    assert json.loads(encode_event(envelope)) == seed


def test_missing_event_id_is_derived_from_the_position_and_stable() -> None:
    raw = json.dumps(SEED_SKILL_VALIDATION).encode()
    topic = "skill.validation.requested"

    def event_id(offset: int) -> str | None:
        envelope = decode_event(raw, topic)
        return complete_envelope(envelope, key=b"interview-uuid", topic=topic, partition=1, offset=offset).event_id

    assert event_id(7) == event_id(7) != event_id(8)


def bad(document: object) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, Reason.NOT_JSON),
        (b"{nope", Reason.NOT_JSON),
        (b"[1]", Reason.SCHEMA),
        (bad({**SEED_SKILL_VALIDATION, "eventType": "x.y"}), Reason.UNKNOWN_EVENT_TYPE),
        (bad({**SEED_SKILL_VALIDATION, "eventType": "plan.generated"}), Reason.EVENT_TYPE_MISMATCH),
        (bad({k: v for k, v in SEED_SKILL_VALIDATION.items() if k != "tenantId"}), Reason.MISSING_TENANT),
        (bad({**SEED_SKILL_VALIDATION, "tenantId": ""}), Reason.MISSING_TENANT),
        (bad({**SEED_SKILL_VALIDATION, "timestamp": "yesterday"}), Reason.SCHEMA),
        (b" " * (MAX_MESSAGE_BYTES + 1), Reason.TOO_LARGE),
    ],
)
def test_bad_messages_are_named(raw: bytes | None, reason: Reason) -> None:
    with pytest.raises(BadMessage) as error:
        decode_event(raw, "skill.validation.requested")
    assert error.value.reason is reason


def test_schema_violations_name_each_field() -> None:
    document = {**SEED_SKILL_VALIDATION, "payload": {"skills": "Go", "jobDescription": "x", "level": "WIZARD"}}
    with pytest.raises(BadMessage) as error:
        decode_event(bad(document), "skill.validation.requested")
    assert {f["field"] for f in error.value.fields} == {"payload.skills", "payload.level"}


def test_key_must_be_the_interview_id() -> None:
    envelope = decode_event(bad(SEED_SKILL_VALIDATION), "skill.validation.requested")
    with pytest.raises(BadMessage) as error:
        complete_envelope(envelope, key=b"other", topic="t", partition=0, offset=0)
    assert error.value.reason is Reason.KEY_MISMATCH
