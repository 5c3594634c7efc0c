"""The workflow's steps as pure functions: (current row, event) -> new row + messages to send.

Agents only decode, look the row up, call one of these, write the row back and send what comes
out. Every message a step sends carries an id derived from the input's eventId, so a redelivered
input re-sends byte-identical messages that downstream consumers recognise as duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import BaseModel

from domain import intake
from domain.planner import PlanRequest, validated_skills
from domain.tenants import TenantSettings
from domain.webhooks import WEBHOOK_FOR_TRIGGER, WebhookDelivery, WebhookEvent, webhook_body
from models.base import parse_timestamp
from models.codec import BadMessage, Reason, encode_event
from models.envelope import Envelope, derived_id, run_id_for
from models.payloads import (
    InfoCompleted,
    InfoNeeded,
    InfoProvided,
    InterviewDetails,
    InterviewRequested,
    PlanGenerated,
    SkillValidationRequested,
)
from models.plan import Plan
from models.topics import Topic
from tables.interview import Interview, SentMessage
from tables.state_machine import TransitionNotAllowed, Trigger, next_state

GATEWAY_ACTOR = "gateway"
PLANNER_ACTOR = "planner"
WORKFLOW_ACTOR = "workflow"


@dataclass
class StepResult:
    """What a step decided. ``interview`` is None when the row must not be written."""

    interview: Interview | None
    sent: list[SentMessage] = field(default_factory=list)
    dead_letter: BadMessage | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class StepContext:
    tenant: TenantSettings | None
    now: str  # envelope-format timestamp of this processing step


def replay_if_duplicate(current: Interview | None, envelope: Envelope[Any]) -> StepResult | None:
    """A redelivered input changes nothing and re-sends exactly what it sent the first time."""
    if current is None or current.tenant_id != envelope.tenant_id:
        return None  # another tenant's event never replays this row's messages
    processed = current.processed_event(envelope.id)
    if processed is None:
        return None
    return StepResult(interview=None, sent=list(processed.sent), duplicate=True)


def _require(current: Interview | None, envelope: Envelope[Any]) -> Interview:
    if current is None:
        raise BadMessage(Reason.UNKNOWN_INTERVIEW, f"interview {envelope.interview_id!r} does not exist")
    if current.tenant_id != envelope.tenant_id:
        # Said the same way as a missing interview: one tenant learns nothing of another's ids.
        raise BadMessage(Reason.UNKNOWN_INTERVIEW, f"interview {envelope.interview_id!r} does not exist")
    return current


def _event(topic: Topic, interview: Interview, source: Envelope[Any], payload: BaseModel, *, now: str) -> SentMessage:
    envelope: Envelope[Any] = Envelope(
        event_type=topic,
        event_id=derived_id(topic, source.id),
        tenant_id=interview.tenant_id,
        run_id=interview.run_id,
        interview_id=interview.interview_id,
        timestamp=now,
        payload=payload,
    )
    return SentMessage(topic=topic, key=interview.interview_id, value=encode_event(envelope).decode())


def webhook_message(
    interview: Interview,
    event: WebhookEvent,
    *,
    source_event_id: str,
    tenant: TenantSettings | None,
    data: dict[str, object],
    now: str,
) -> list[SentMessage]:
    """The webhook delivery for ``event``, or nothing when neither interview nor tenant has a URL."""
    url = interview.callback_url or (tenant.webhook_url if tenant else None)
    if url is None:
        return []
    delivery_id = derived_id("webhook", source_event_id, event)
    delivery = WebhookDelivery(
        delivery_id=delivery_id,
        tenant_id=interview.tenant_id,
        interview_id=interview.interview_id,
        event=event,
        url=url,
        body=webhook_body(
            event=event,
            delivery_id=delivery_id,
            run_id=interview.run_id,
            interview_id=interview.interview_id,
            tenant_id=interview.tenant_id,
            candidate_ref=interview.details.candidate_ref,
            state=interview.state,
            timestamp=now,
            data=data,
        ),
        created_at=now,
    )
    return [
        SentMessage(
            topic=Topic.WEBHOOK_OUTBOX,
            key=interview.interview_id,
            value=delivery.model_dump_json(by_alias=True),
        )
    ]


def _transition_webhook(
    interview: Interview, trigger: Trigger, source: Envelope[Any], ctx: StepContext, data: dict[str, object]
) -> list[SentMessage]:
    event = WEBHOOK_FOR_TRIGGER.get(trigger)
    if event is None:
        return []
    return webhook_message(interview, event, source_event_id=source.id, tenant=ctx.tenant, data=data, now=ctx.now)


def _finish(interview: Interview, event_id: str, sent: list[SentMessage]) -> StepResult:
    interview.mark_processed(event_id, sent)
    return StepResult(interview=interview, sent=sent)


def _refuse(
    interview: Interview, envelope: Envelope[Any], trigger: Trigger, exc: TransitionNotAllowed, ctx: StepContext
) -> StepResult:
    """Record a forbidden trigger on the row and dead-letter the event that carried it."""
    interview.record_rejection(trigger, event_id=envelope.id, actor=envelope.event_type, at=ctx.now, reason=str(exc))
    interview.mark_processed(envelope.id, [])
    return StepResult(interview=interview, dead_letter=BadMessage(Reason.TRANSITION_FORBIDDEN, str(exc)))


def _after_intake(
    interview: Interview,
    source: Envelope[Any],
    ctx: StepContext,
    *,
    passed: Trigger,
    failed: Trigger,
    provided_fields: list[str] | None = None,
) -> list[SentMessage]:
    """Run intake on the row's details, move the row, and say what to send next."""
    result = intake.validate(interview.details)
    interview.missing_fields = result.missing_fields
    interview.warnings = result.warnings
    interview.data_quality = result.data_quality
    if not result.passed:
        interview.apply(failed, event_id=source.id, actor=source.event_type, at=ctx.now)
        needed = InfoNeeded(
            missing_fields=result.missing_fields, warnings=result.warnings, data_quality=result.data_quality
        )
        return [_event(Topic.INFO_NEEDED, interview, source, needed, now=ctx.now)]
    interview.apply(passed, event_id=source.id, actor=source.event_type, at=ctx.now)
    details = interview.details
    sent: list[SentMessage] = []
    if provided_fields is not None:
        completed = InfoCompleted(provided_fields=provided_fields, data_quality=result.data_quality)
        sent.append(_event(Topic.INFO_COMPLETED, interview, source, completed, now=ctx.now))
    request = SkillValidationRequested(
        skills=validated_skills(details.skills, details.qualifications),
        job_description=details.job_description or "",
        level=intake.normalized_level(details),
        callback_url=interview.callback_url,
        position=details.position,
        duration_minutes=details.duration_minutes,
    )
    sent.append(_event(Topic.SKILL_VALIDATION_REQUESTED, interview, source, request, now=ctx.now))
    return sent


def interview_requested(
    current: Interview | None, envelope: Envelope[InterviewRequested], ctx: StepContext
) -> StepResult:
    """RECEIVED -> INFO_NEEDED or VALIDATING_SKILLS, from a create request."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    if current is not None:
        # Create is idempotent: the same interview asked for twice is still one interview.
        return StepResult(interview=None)
    request = envelope.payload
    interview = Interview.create(
        interview_id=envelope.interview_id,
        tenant_id=envelope.tenant_id,
        run_id=envelope.run_id or run_id_for(envelope.id, parse_timestamp(envelope.timestamp).timestamp()),
        event_id=envelope.id,
        actor=GATEWAY_ACTOR,
        at=ctx.now,
        external_id=request.external_id,
        details=InterviewDetails.model_validate(request.model_dump()),
        callback_url=request.callback_url,
    )
    sent = _after_intake(interview, envelope, ctx, passed=Trigger.INTAKE_PASSED, failed=Trigger.INTAKE_FAILED)
    return _finish(interview, envelope.id, sent)


def info_provided(current: Interview | None, envelope: Envelope[InfoProvided], ctx: StepContext) -> StepResult:
    """INFO_NEEDED -> VALIDATING_SKILLS (now complete) or INFO_NEEDED (still missing)."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = _require(current, envelope)
    try:
        # Checked before merging: info for an interview that is not waiting for any is refused.
        next_state(interview.state, Trigger.INFO_COMPLETED)
    except TransitionNotAllowed as exc:
        return _refuse(interview, envelope, Trigger.INFO_COMPLETED, exc, ctx)
    interview.details = interview.details.merged_with(envelope.payload)
    sent = _after_intake(
        interview,
        envelope,
        ctx,
        passed=Trigger.INFO_COMPLETED,
        failed=Trigger.INFO_STILL_MISSING,
        provided_fields=envelope.payload.provided_fields(),
    )
    return _finish(interview, envelope.id, sent)


async def skill_validation_requested(
    current: Interview | None,
    envelope: Envelope[SkillValidationRequested],
    ctx: StepContext,
    planner: Runnable[PlanRequest, Plan],
) -> StepResult:
    """VALIDATING_SKILLS -> GENERATING_PLAN, run the planner, send plan.generated.

    An interview nobody created (an outside gateway producing this topic directly) is created
    from the envelope, as if the gateway had run intake.
    """
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    request = envelope.payload
    if current is None:
        interview = Interview.create(
            interview_id=envelope.interview_id,
            tenant_id=envelope.tenant_id,
            run_id=envelope.run_id or run_id_for(envelope.id, parse_timestamp(envelope.timestamp).timestamp()),
            event_id=envelope.id,
            actor=GATEWAY_ACTOR,
            at=ctx.now,
            details=InterviewDetails(
                skills=request.skills,
                job_description=request.job_description,
                level=request.level,
                position=request.position,
                duration_minutes=request.duration_minutes,
            ),
            callback_url=request.callback_url,
        )
        interview.apply(Trigger.INTAKE_PASSED, event_id=envelope.id, actor=GATEWAY_ACTOR, at=ctx.now)
    else:
        interview = _require(current, envelope)
    try:
        interview.apply(Trigger.PLANNER_STARTED, event_id=envelope.id, actor=PLANNER_ACTOR, at=ctx.now)
    except TransitionNotAllowed as exc:
        return _refuse(interview, envelope, Trigger.PLANNER_STARTED, exc, ctx)
    skills = validated_skills(request.skills)
    plan = await planner.ainvoke(
        PlanRequest(
            plan_id=derived_id("plan", envelope.id),
            level=request.level,
            skills=skills,
            job_description=request.job_description,
            position=request.position or interview.details.position,
            candidate_name=interview.details.candidate_name,
            duration_minutes=request.duration_minutes,
        )
    )
    generated = PlanGenerated(plan_id=plan.plan_id, validated_skills=skills, duration=plan.duration_minutes, plan=plan)
    sent = [_event(Topic.PLAN_GENERATED, interview, envelope, generated, now=ctx.now)]
    return _finish(interview, envelope.id, sent)


def plan_generated(current: Interview | None, envelope: Envelope[PlanGenerated], ctx: StepContext) -> StepResult:
    """GENERATING_PLAN -> PENDING, or APPROVED for a tenant that auto-approves plans."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = _require(current, envelope)
    trigger = Trigger.PLAN_AUTO_APPROVED if ctx.tenant and ctx.tenant.auto_approve_plans else Trigger.PLAN_GENERATED
    try:
        interview.apply(trigger, event_id=envelope.id, actor=WORKFLOW_ACTOR, at=ctx.now)
    except TransitionNotAllowed as exc:
        return _refuse(interview, envelope, trigger, exc, ctx)
    payload = envelope.payload
    interview.plan = payload.plan
    interview.validated_skills = payload.validated_skills
    data: dict[str, object] = {
        "planId": payload.plan_id,
        "validatedSkills": payload.validated_skills,
        "duration": payload.duration,
        "autoApproved": trigger is Trigger.PLAN_AUTO_APPROVED,
    }
    sent = _transition_webhook(interview, trigger, envelope, ctx, data)
    return _finish(interview, envelope.id, sent)


def notification(current: Interview | None, envelope: Envelope[Any], ctx: StepContext) -> StepResult:
    """interview.info_needed / info_completed -> the webhook of the same name; the row is unchanged.

    A redelivery sends the same deliveryId again; the webhook queue recognises it.
    """
    interview = _require(current, envelope)
    event = WebhookEvent(envelope.event_type)
    data = envelope.payload.to_wire()
    sent = webhook_message(interview, event, source_event_id=envelope.id, tenant=ctx.tenant, data=data, now=ctx.now)
    return StepResult(interview=None, sent=sent)
