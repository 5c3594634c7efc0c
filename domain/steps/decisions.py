"""People's decisions: approve a plan (and grant the candidate access), review an assessment, cancel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.access import issue_access_link
from domain.steps.base import (
    StepContext,
    StepResult,
    check_allowed,
    finish,
    refuse,
    refuse_decision,
    replay_if_duplicate,
    require_row,
    stale,
    trigger_webhook,
)
from models.base import parse_timestamp
from models.envelope import Envelope
from models.payloads import ApprovalApproved, AssessmentReviewed, CancelRequested
from tables.interview import Interview, SentMessage
from tables.state_machine import Trigger

DEFAULT_ACCESS_LINK_TTL_DAYS = 7
# How far an approving event's own timestamp may be from this step's clock to date the link.
EVENT_CLOCK_TOLERANCE = timedelta(hours=1)


def current_plan_id(interview: Interview) -> str | None:
    return interview.plan.plan_id if interview.plan else None


def _issued_at(source: Envelope[Any], ctx: StepContext) -> str:
    """When the link is issued: the approving event's timestamp, so that a step re-run on that event
    (its row's last write lost with a killed worker or a moved partition, its webhook already out)
    issues the very link the ATS was sent; this step's clock when the event's is implausible (an
    outside producer's stale or skewed timestamp)."""
    if abs(parse_timestamp(source.timestamp) - parse_timestamp(ctx.now)) <= EVENT_CLOCK_TOLERANCE:
        return source.timestamp
    return ctx.now


def grant_access(interview: Interview, source: Envelope[Any], ctx: StepContext) -> dict[str, object]:
    """Issue the candidate's access link for the current plan; its webhook data."""
    assert interview.plan is not None, "an approved interview always has a plan"
    ttl_days = ctx.tenant.access_link_ttl_days if ctx.tenant else DEFAULT_ACCESS_LINK_TTL_DAYS
    interview.access_link = issue_access_link(
        ctx.access,
        interview_id=interview.interview_id,
        tenant_id=interview.tenant_id,
        plan_id=interview.plan.plan_id,
        ttl_days=ttl_days,
        now=_issued_at(source, ctx),
    )
    return {"planId": interview.plan.plan_id, "accessLink": interview.access_link.to_wire()}


def plan_approved(current: Interview | None, envelope: Envelope[ApprovalApproved], ctx: StepContext) -> StepResult:
    """PENDING -> APPROVED; the candidate gets an access link, the tenant a webhook carrying it."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    decision = envelope.payload
    about = ("planId", decision.plan_id, current_plan_id(interview))
    if (refused := refuse_decision(interview, envelope, Trigger.PLAN_APPROVED, ctx, about=about)) is not None:
        return refused
    interview.apply(
        Trigger.PLAN_APPROVED, event_id=envelope.id, actor=decision.approved_by, at=ctx.now, note=decision.comment
    )
    data = {**grant_access(interview, envelope, ctx), "approvedBy": decision.approved_by, "comment": decision.comment}
    return finish(interview, envelope.id, trigger_webhook(interview, Trigger.PLAN_APPROVED, envelope, ctx, data))


def assessment_reviewed(
    current: Interview | None, envelope: Envelope[AssessmentReviewed], ctx: StepContext
) -> StepResult:
    """ASSESSMENT_PENDING -> ASSESSMENT_APPROVED or ASSESSMENT_REJECTED."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    review = envelope.payload
    trigger = Trigger.ASSESSMENT_APPROVED if review.approved else Trigger.ASSESSMENT_REJECTED
    if (forbidden := check_allowed(interview, trigger)) is not None:
        return refuse(interview, envelope, trigger, forbidden, ctx)
    current_assessment = interview.assessment.assessment_id if interview.assessment else None
    if review.assessment_id != current_assessment:
        return refuse(
            interview, envelope, trigger, stale("assessmentId", review.assessment_id, current_assessment), ctx
        )
    interview.apply(trigger, event_id=envelope.id, actor=review.reviewed_by, at=ctx.now, note=review.comment)
    data: dict[str, object] = {
        "assessmentId": review.assessment_id,
        "reviewedBy": review.reviewed_by,
        "comment": review.comment,
    }
    return finish(interview, envelope.id, trigger_webhook(interview, trigger, envelope, ctx, data))


def cancel_requested(current: Interview | None, envelope: Envelope[CancelRequested], ctx: StepContext) -> StepResult:
    """Any non-terminal state -> CANCELLED; a planner or assessor result still under way is dropped."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    request = envelope.payload
    if (forbidden := check_allowed(interview, Trigger.CANCEL)) is not None:
        return refuse(interview, envelope, Trigger.CANCEL, forbidden, ctx)
    previous = interview.state
    interview.apply(Trigger.CANCEL, event_id=envelope.id, actor=request.cancelled_by, at=ctx.now, note=request.reason)
    interview.pending_plan_id = interview.pending_assessment_id = None
    data: dict[str, object] = {"previousState": previous, "cancelledBy": request.cancelled_by, "reason": request.reason}
    sent: list[SentMessage] = trigger_webhook(interview, Trigger.CANCEL, envelope, ctx, data)
    return finish(interview, envelope.id, sent)
