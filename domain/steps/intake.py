"""Intake steps: a create request or supplied info -> intake rules -> info_needed or the planner."""

from __future__ import annotations

from typing import Any

from domain import intake
from domain.planner import validated_skills
from domain.steps.base import (
    StepContext,
    StepResult,
    check_allowed,
    finish,
    new_interview,
    notification_headers,
    outgoing_event,
    refuse,
    replay_if_duplicate,
    require_row,
    require_same_tenant,
)
from models.envelope import Envelope
from models.payloads import (
    InfoCompleted,
    InfoNeeded,
    InfoProvided,
    InterviewDetails,
    InterviewRequested,
    SkillValidationRequested,
)
from models.topics import Topic
from tables.interview import Interview, SentMessage
from tables.state_machine import Trigger


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
        headers = notification_headers(interview, ctx)
        return [outgoing_event(Topic.INFO_NEEDED, interview, source, needed, now=ctx.now, headers=headers)]
    interview.apply(passed, event_id=source.id, actor=source.event_type, at=ctx.now)
    details = interview.details
    sent: list[SentMessage] = []
    if provided_fields is not None:
        completed = InfoCompleted(provided_fields=provided_fields, data_quality=result.data_quality)
        headers = notification_headers(interview, ctx)
        sent.append(outgoing_event(Topic.INFO_COMPLETED, interview, source, completed, now=ctx.now, headers=headers))
    request = SkillValidationRequested(
        skills=validated_skills(details.skills, details.qualifications),
        job_description=details.job_description or "",
        level=intake.normalized_level(details),
        callback_url=interview.callback_url,
        position=details.position,
        duration_minutes=details.duration_minutes,
    )
    sent.append(outgoing_event(Topic.SKILL_VALIDATION_REQUESTED, interview, source, request, now=ctx.now))
    return sent


def interview_requested(
    current: Interview | None, envelope: Envelope[InterviewRequested], ctx: StepContext
) -> StepResult:
    """RECEIVED -> INFO_NEEDED or VALIDATING_SKILLS, from a create request."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    if current is not None:
        require_same_tenant(current, envelope)  # else another tenant's create would vanish silently
        # Create is idempotent: the same interview asked for twice is still one interview.
        return StepResult(interview=None)
    request = envelope.payload
    interview = new_interview(
        envelope,
        ctx,
        external_id=request.external_id,
        details=InterviewDetails.model_validate(request.model_dump()),
        callback_url=request.callback_url,
    )
    sent = _after_intake(interview, envelope, ctx, passed=Trigger.INTAKE_PASSED, failed=Trigger.INTAKE_FAILED)
    return finish(interview, envelope.id, sent)


def info_provided(current: Interview | None, envelope: Envelope[InfoProvided], ctx: StepContext) -> StepResult:
    """INFO_NEEDED -> VALIDATING_SKILLS (now complete) or INFO_NEEDED (still missing)."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    # Checked before merging: info for an interview that is not waiting for any is refused.
    if (forbidden := check_allowed(interview, Trigger.INFO_COMPLETED)) is not None:
        return refuse(interview, envelope, Trigger.INFO_COMPLETED, forbidden, ctx)
    interview.details = interview.details.merged_with(envelope.payload)
    sent = _after_intake(
        interview,
        envelope,
        ctx,
        passed=Trigger.INFO_COMPLETED,
        failed=Trigger.INFO_STILL_MISSING,
        provided_fields=envelope.payload.provided_fields(),
    )
    return finish(interview, envelope.id, sent)
