"""Recruiter and interview-edge commands on an existing interview.

Each checks what it can against the row (404, 409 naming the state and the allowed triggers, or
a planId/assessmentId that is no longer current), publishes one event keyed by the interviewId
and answers 202; the owning partition's stream applies it and checks again, so a command that
loses a race is refused there (recorded on the row, dead-lettered) rather than applied twice.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from faust.web import View
from pydantic import BaseModel, Field, field_validator

from app.main import app
from app.publish import publish_event
from models.base import WireModel, parse_timestamp, utc_timestamp
from models.envelope import Envelope, new_event_id
from models.payloads import (
    ApprovalApproved,
    ApprovalRejected,
    AssessmentReviewed,
    CancelRequested,
    InterviewCompleted,
    ModificationRequested,
    NonEmptyStr,
    TranscriptLine,
)
from models.topics import Topic
from streams_web.http import ApiError, api, authenticate, json_response, read_model
from streams_web.routing import routed
from streams_web.rows import require_trigger, tenant_interview
from tables.interview import Interview
from tables.state_machine import Trigger, next_state

DEFAULT_ACTOR = "recruiter"


class PlanApproval(WireModel):
    plan_id: str | None = None  # when given, must be the current plan: approving what you saw
    approved_by: NonEmptyStr = DEFAULT_ACTOR
    comment: str | None = Field(default=None, max_length=10_000)


class PlanRejection(WireModel):
    plan_id: str | None = None
    rejected_by: NonEmptyStr = DEFAULT_ACTOR
    reason: NonEmptyStr = Field(max_length=10_000)
    retry: bool = False


class PlanRevision(WireModel):
    plan_id: str | None = None
    requested_by: NonEmptyStr = DEFAULT_ACTOR
    instructions: NonEmptyStr = Field(max_length=10_000)


class Completion(WireModel):
    session_id: str | None = None
    ended_at: str | None = None
    transcript: list[TranscriptLine] = Field(max_length=10_000)

    @field_validator("ended_at")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None:
            parse_timestamp(value)
        return value


class AssessmentReview(WireModel):
    assessment_id: str | None = None
    reviewed_by: NonEmptyStr = DEFAULT_ACTOR
    comment: str | None = Field(default=None, max_length=10_000)


class Cancellation(WireModel):
    cancelled_by: NonEmptyStr = DEFAULT_ACTOR
    reason: str | None = Field(default=None, max_length=10_000)


def _require_current(what: str, given: str | None, current: str | None) -> str:
    """The id the command is about: the current one, or 409 when the caller saw an older one."""
    if current is None:
        raise ApiError(409, f"the interview has no {what} yet")
    if given is not None and given != current:
        raise ApiError(409, f"{what} {given} is not the current one", current=current)
    return current


def _plan_id(interview: Interview, given: str | None) -> str:
    return _require_current("planId", given, interview.plan.plan_id if interview.plan else None)


async def _publish(
    tenant_id: str, interview: Interview, topic: Topic, payload: BaseModel, trigger: Trigger
) -> web.Response:
    event_id = new_event_id()
    await publish_event(
        Envelope(
            event_type=topic,
            event_id=event_id,
            tenant_id=tenant_id,
            run_id=interview.run_id,
            interview_id=interview.interview_id,
            timestamp=utc_timestamp(),
            payload=payload,
        )
    )
    body: dict[str, Any] = {
        "interviewId": interview.interview_id,
        "eventId": event_id,
        "previousState": interview.state,
        "state": next_state(interview.state, trigger),
    }
    return json_response(body, 202)


def _command_target(request: web.Request, interview_id: str, trigger: Trigger) -> tuple[str, Interview]:
    tenant_id, _ = authenticate(request)
    interview = tenant_interview(tenant_id, interview_id)
    require_trigger(interview, trigger)
    return tenant_id, interview


@app.page("/api/v1/interviews/{interview_id}/plan/approve")
class ApprovePlan(View):
    @api
    @routed
    async def post(self, request: web.Request, interview_id: str) -> web.Response:
        tenant_id, interview = _command_target(request, interview_id, Trigger.PLAN_APPROVED)
        body = await read_model(request, PlanApproval)
        payload = ApprovalApproved(
            plan_id=_plan_id(interview, body.plan_id), approved_by=body.approved_by, comment=body.comment
        )
        return await _publish(tenant_id, interview, Topic.APPROVAL_APPROVED, payload, Trigger.PLAN_APPROVED)


@app.page("/api/v1/interviews/{interview_id}/plan/reject")
class RejectPlan(View):
    @api
    @routed
    async def post(self, request: web.Request, interview_id: str) -> web.Response:
        tenant_id, _ = authenticate(request)
        body = await read_model(request, PlanRejection)
        trigger = Trigger.PLAN_REJECTED_RETRY if body.retry else Trigger.PLAN_REJECTED
        interview = tenant_interview(tenant_id, interview_id)  # the trigger depends on the body
        require_trigger(interview, trigger)
        payload = ApprovalRejected(
            plan_id=_plan_id(interview, body.plan_id),
            rejected_by=body.rejected_by,
            reason=body.reason,
            retry=body.retry,
        )
        return await _publish(tenant_id, interview, Topic.APPROVAL_REJECTED, payload, trigger)


@app.page("/api/v1/interviews/{interview_id}/plan/revise")
class RevisePlan(View):
    @api
    @routed
    async def post(self, request: web.Request, interview_id: str) -> web.Response:
        tenant_id, interview = _command_target(request, interview_id, Trigger.PLAN_REVISION_REQUESTED)
        body = await read_model(request, PlanRevision)
        payload = ModificationRequested(
            plan_id=_plan_id(interview, body.plan_id), requested_by=body.requested_by, instructions=body.instructions
        )
        return await _publish(
            tenant_id, interview, Topic.MODIFICATION_REQUESTED, payload, Trigger.PLAN_REVISION_REQUESTED
        )


@app.page("/api/v1/interviews/{interview_id}/complete")
class CompleteInterview(View):
    @api
    @routed
    async def post(self, request: web.Request, interview_id: str) -> web.Response:
        tenant_id, interview = _command_target(request, interview_id, Trigger.INTERVIEW_COMPLETED)
        body = await read_model(request, Completion)
        payload = InterviewCompleted(
            session_id=body.session_id, ended_at=body.ended_at or utc_timestamp(), transcript=body.transcript
        )
        return await _publish(tenant_id, interview, Topic.INTERVIEW_COMPLETED, payload, Trigger.INTERVIEW_COMPLETED)


class _AssessmentDecision(View):
    approved: bool

    @api
    @routed
    async def post(self, request: web.Request, interview_id: str) -> web.Response:
        trigger = Trigger.ASSESSMENT_APPROVED if self.approved else Trigger.ASSESSMENT_REJECTED
        tenant_id, interview = _command_target(request, interview_id, trigger)
        body = await read_model(request, AssessmentReview)
        current = interview.assessment.assessment_id if interview.assessment else None
        payload = AssessmentReviewed(
            assessment_id=_require_current("assessmentId", body.assessment_id, current),
            approved=self.approved,
            reviewed_by=body.reviewed_by,
            comment=body.comment,
        )
        return await _publish(tenant_id, interview, Topic.ASSESSMENT_REVIEWED, payload, trigger)


@app.page("/api/v1/interviews/{interview_id}/assessment/approve")
class ApproveAssessment(_AssessmentDecision):
    approved = True


@app.page("/api/v1/interviews/{interview_id}/assessment/reject")
class RejectAssessment(_AssessmentDecision):
    approved = False


async def cancel(request: web.Request, interview_id: str) -> web.Response:
    """DELETE /api/v1/interviews/{id}: the body ({cancelledBy, reason}) is optional."""
    tenant_id, interview = _command_target(request, interview_id, Trigger.CANCEL)
    body = await read_model(request, Cancellation) if request.can_read_body else Cancellation()
    payload = CancelRequested(cancelled_by=body.cancelled_by, reason=body.reason)
    return await _publish(tenant_id, interview, Topic.CANCEL_REQUESTED, payload, Trigger.CANCEL)
