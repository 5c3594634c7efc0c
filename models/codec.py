"""Bytes <-> validated envelopes, with a named reason for every way a message can be bad."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from models.envelope import Envelope, position_event_id
from models.payloads import (
    ApprovalApproved,
    ApprovalRejected,
    AssessmentCompleted,
    AssessmentReviewed,
    CancelRequested,
    InfoCompleted,
    InfoNeeded,
    InfoProvided,
    InterviewCompleted,
    InterviewRequested,
    ModificationRequested,
    PlanGenerated,
    SkillValidationRequested,
)
from models.topics import Topic

MAX_MESSAGE_BYTES = 1024 * 1024

PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    Topic.INTERVIEW_REQUESTED: InterviewRequested,
    Topic.INFO_PROVIDED: InfoProvided,
    Topic.INFO_NEEDED: InfoNeeded,
    Topic.INFO_COMPLETED: InfoCompleted,
    Topic.SKILL_VALIDATION_REQUESTED: SkillValidationRequested,
    Topic.PLAN_GENERATED: PlanGenerated,
    Topic.APPROVAL_APPROVED: ApprovalApproved,
    Topic.APPROVAL_REJECTED: ApprovalRejected,
    Topic.MODIFICATION_REQUESTED: ModificationRequested,
    Topic.INTERVIEW_COMPLETED: InterviewCompleted,
    Topic.ASSESSMENT_COMPLETED: AssessmentCompleted,
    Topic.ASSESSMENT_REVIEWED: AssessmentReviewed,
    Topic.CANCEL_REQUESTED: CancelRequested,
}


def _envelope_of(payload: type[BaseModel]) -> type[Envelope[Any]]:
    return Envelope[payload]  # type: ignore[valid-type]


# Parametrised once: pydantic builds a validator per Envelope[...] and that is not free.
ENVELOPE_MODELS: dict[str, type[Envelope[Any]]] = {
    event_type: _envelope_of(model) for event_type, model in PAYLOAD_MODELS.items()
}


class Reason(StrEnum):
    """Why a message went to the dead-letter topic."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    SCHEMA = "schema_violation"
    MISSING_TENANT = "missing_tenant"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    EVENT_TYPE_MISMATCH = "event_type_mismatch"
    KEY_MISMATCH = "key_mismatch"
    UNKNOWN_INTERVIEW = "unknown_interview"
    TENANT_MISMATCH = "tenant_mismatch"  # the interview exists and belongs to another tenant
    TRANSITION_FORBIDDEN = "transition_forbidden"
    STALE_REFERENCE = "stale_reference"
    PROCESSING_FAILED = "processing_failed"
    WEBHOOK_FAILED = "webhook_failed"


class BadMessage(Exception):
    def __init__(self, reason: Reason, message: str, fields: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.fields = fields or []


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """pydantic errors as [{field, message}], the shape HTTP 400s and dead letters both use."""
    return [
        {"field": ".".join(str(part) for part in err["loc"]) or "(body)", "message": err["msg"]}
        for err in error.errors(include_url=False)
    ]


def json_object(raw: bytes | None, what: str) -> dict[str, Any]:
    """A message value as a JSON object; BadMessage for a tombstone, over-size, non-JSON or non-object."""
    if raw is None:
        raise BadMessage(Reason.NOT_JSON, "message has no value (tombstone)")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadMessage(Reason.TOO_LARGE, f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(Reason.NOT_JSON, f"value is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadMessage(Reason.SCHEMA, f"{what} must be a JSON object, got {type(document).__name__}")
    return document


def schema_violation(exc: ValidationError) -> BadMessage:
    fields = field_errors(exc)
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return BadMessage(Reason.SCHEMA, f"schema violation: {summary}", fields)


def decode_event(raw: bytes | None, topic: str) -> Envelope[Any]:
    """Validate one message of ``topic``; raise BadMessage naming what is wrong."""
    document = json_object(raw, "envelope")
    event_type = document.get("eventType")
    if not isinstance(event_type, str) or event_type not in ENVELOPE_MODELS:
        raise BadMessage(Reason.UNKNOWN_EVENT_TYPE, f"unknown eventType {event_type!r}")
    if event_type != topic:
        raise BadMessage(Reason.EVENT_TYPE_MISMATCH, f"eventType {event_type!r} sent to topic {topic!r}")
    tenant = document.get("tenantId")
    if not isinstance(tenant, str) or not tenant.strip():
        raise BadMessage(Reason.MISSING_TENANT, "tenantId is missing or empty")
    try:
        return ENVELOPE_MODELS[event_type].model_validate(document)
    except ValidationError as exc:
        raise schema_violation(exc) from None


def complete_envelope(
    envelope: Envelope[Any], *, key: bytes | None, topic: str, partition: int, offset: int
) -> Envelope[Any]:
    """Checks that need the Kafka record: key equals interviewId; eventId filled in if absent."""
    if key is not None and key != envelope.interview_id.encode():
        raise BadMessage(Reason.KEY_MISMATCH, f"message key {key[:200]!r} is not the interviewId")
    if envelope.event_id is None:
        envelope.event_id = position_event_id(topic, partition, offset)
    return envelope


def encode_event(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json(by_alias=True, exclude_none=True).encode()
