"""Topic names: the contract's workflow topics, the internal command topics and the dead letters."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    # Workflow topics of SPEC section 3 (keyed by interviewId, co-partitioned).
    INFO_NEEDED = "interview.info_needed"
    INFO_COMPLETED = "interview.info_completed"
    SKILL_VALIDATION_REQUESTED = "skill.validation.requested"
    PLAN_GENERATED = "plan.generated"
    APPROVAL_APPROVED = "approval.approved"
    APPROVAL_REJECTED = "approval.rejected"
    MODIFICATION_REQUESTED = "interview.modification_requested"
    INTERVIEW_COMPLETED = "interview.completed"
    ASSESSMENT_COMPLETED = "assessment.completed"
    # Commands the HTTP API turns into events, so that only streams write tables.
    INTERVIEW_REQUESTED = "interview.requested"
    INFO_PROVIDED = "interview.info_provided"
    ASSESSMENT_REVIEWED = "interview.assessment_reviewed"
    CANCEL_REQUESTED = "interview.cancel_requested"
    # Webhook deliveries waiting to be sent (keyed by interviewId, so per-interview order holds).
    WEBHOOK_OUTBOX = "webhooks.outbox"
    DEADLETTER = "events.deadletter"
    # The AEGIS seed's ingestion topic ({event_type, data}; any key), and its repartition by event_type.
    ENTITY_EXTRACTION = "entity-extraction-worker"
    ENTITIES_BY_TYPE = "entities.by-type"


WORKFLOW_TOPICS: tuple[Topic, ...] = (
    Topic.INTERVIEW_REQUESTED,
    Topic.INFO_PROVIDED,
    Topic.INFO_NEEDED,
    Topic.INFO_COMPLETED,
    Topic.SKILL_VALIDATION_REQUESTED,
    Topic.PLAN_GENERATED,
    Topic.APPROVAL_APPROVED,
    Topic.APPROVAL_REJECTED,
    Topic.MODIFICATION_REQUESTED,
    Topic.INTERVIEW_COMPLETED,
    Topic.ASSESSMENT_COMPLETED,
    Topic.ASSESSMENT_REVIEWED,
    Topic.CANCEL_REQUESTED,
)
