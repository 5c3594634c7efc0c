"""Planning steps: start a planner run, apply its result, and the recruiter's reject/revise.

A planner run is two steps around the model call (see steps/base.py): ``begin`` moves the row to
GENERATING_PLAN, notes the planId it waits for and hands the PlanRequest to the agent;
``plan_ready`` applies the run to the row read afresh and sends plan.generated, unless the
interview moved on meanwhile (cancelled, or revised again).
"""

from __future__ import annotations

from typing import Any

from domain import intake
from domain.planner import PlanRequest, offline_plan, validated_skills
from domain.steps.base import (
    GATEWAY_ACTOR,
    PLANNER_ACTOR,
    WORKFLOW_ACTOR,
    StepContext,
    StepResult,
    check_allowed,
    finish,
    new_interview,
    outgoing_event,
    refuse,
    refuse_decision,
    replay_if_duplicate,
    require_row,
    stale,
    transition_webhook,
    trigger_webhook,
)
from domain.steps.decisions import current_plan_id, grant_access
from domain.thinking import Thought
from domain.webhooks import WebhookEvent
from models.codec import BadMessage, Reason
from models.envelope import Envelope, derived_id
from models.payloads import (
    ApprovalRejected,
    InterviewDetails,
    Level,
    ModificationRequested,
    PlanGenerated,
    SkillValidationRequested,
)
from models.plan import Plan
from models.topics import Topic
from tables.interview import Interview, SentMessage
from tables.state_machine import State, Trigger


def _plan_request(interview: Interview, plan_id: str, instructions: str | None = None) -> PlanRequest:
    details = interview.details
    return PlanRequest(
        plan_id=plan_id,
        level=intake.normalized_level(details),
        skills=validated_skills(details.skills, details.qualifications),
        job_description=details.job_description or "",
        position=details.position,
        candidate_name=details.candidate_name,
        duration_minutes=details.duration_minutes,
        instructions=instructions,
    )


def _begin_planning(
    interview: Interview,
    envelope: Envelope[Any],
    ctx: StepContext,
    trigger: Trigger,
    *,
    actor: str,
    note: str | None = None,
    instructions: str | None = None,
    webhook_data: dict[str, object] | None = None,
) -> StepResult:
    """Apply ``trigger`` (to GENERATING_PLAN) and hand the agent a planner run; redelivery resumes it."""
    plan_id = derived_id("plan", envelope.id)
    work = _plan_request(interview, plan_id, instructions)
    if not work.skills:  # refused before the row moves: no interview waits for a plan that cannot come
        raise BadMessage(Reason.SCHEMA, "nothing to plan: no skills or qualifications")
    processed = interview.processed_event(envelope.id)
    if processed is not None:  # begun before, the run never finished: run it again
        if interview.pending_plan_id != plan_id:
            return StepResult(interview=None, sent=list(processed.sent))
        return StepResult(interview=None, sent=list(processed.sent), work=work)
    if (forbidden := check_allowed(interview, trigger)) is not None:
        return refuse(interview, envelope, trigger, forbidden, ctx)
    interview.apply(trigger, event_id=envelope.id, actor=actor, at=ctx.now, note=note)
    interview.pending_plan_id = plan_id
    sent: list[SentMessage] = []
    if webhook_data is not None:
        sent = trigger_webhook(interview, trigger, envelope, ctx, webhook_data)
    interview.mark_processed(envelope.id, sent, done=False)
    return StepResult(interview=interview, sent=sent, work=work)


def skill_validation_requested(
    current: Interview | None, envelope: Envelope[SkillValidationRequested], ctx: StepContext
) -> StepResult:
    """VALIDATING_SKILLS -> GENERATING_PLAN and a planner run.

    An interview nobody created (an outside gateway producing this topic directly, as in the
    seed) is created from the envelope, as if the gateway had run intake.
    """
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    request = envelope.payload
    if current is None:
        interview = new_interview(
            envelope,
            ctx,
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
        interview = require_row(current, envelope)
    return _begin_planning(interview, envelope, ctx, Trigger.PLANNER_STARTED, actor=PLANNER_ACTOR)


def plan_rejected(current: Interview | None, envelope: Envelope[ApprovalRejected], ctx: StepContext) -> StepResult:
    """PENDING -> REJECTED, or GENERATING_PLAN and a new planner run when the recruiter asks to retry."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    decision = envelope.payload
    trigger = Trigger.PLAN_REJECTED_RETRY if decision.retry else Trigger.PLAN_REJECTED
    data: dict[str, object] = {
        "planId": decision.plan_id,
        "rejectedBy": decision.rejected_by,
        "reason": decision.reason,
        "retry": decision.retry,
    }
    if interview.processed_event(envelope.id) is None:  # else a run it began is resumed below
        about = ("planId", decision.plan_id, current_plan_id(interview))
        if (refused := refuse_decision(interview, envelope, trigger, ctx, about=about)) is not None:
            return refused
    if decision.retry:
        return _begin_planning(
            interview, envelope, ctx, trigger, actor=decision.rejected_by, note=decision.reason, webhook_data=data
        )
    interview.apply(trigger, event_id=envelope.id, actor=decision.rejected_by, at=ctx.now, note=decision.reason)
    return finish(interview, envelope.id, trigger_webhook(interview, trigger, envelope, ctx, data))


def modification_requested(
    current: Interview | None, envelope: Envelope[ModificationRequested], ctx: StepContext
) -> StepResult:
    """PENDING -> GENERATING_PLAN and a planner run following the recruiter's instructions."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    request = envelope.payload
    trigger = Trigger.PLAN_REVISION_REQUESTED
    if interview.processed_event(envelope.id) is None:  # else a run it began is resumed below
        about = ("planId", request.plan_id, current_plan_id(interview))
        if (refused := refuse_decision(interview, envelope, trigger, ctx, about=about)) is not None:
            return refused
    return _begin_planning(
        interview,
        envelope,
        ctx,
        trigger,
        actor=request.requested_by,
        note=request.instructions,
        instructions=request.instructions,
    )


def plan_ready(
    current: Interview | None, envelope: Envelope[Any], ctx: StepContext, thought: Thought[Plan]
) -> StepResult:
    """The planner run begun by ``envelope`` finished: record it and send plan.generated."""
    interview = require_row(current, envelope)
    processed = interview.processed_event(envelope.id)
    if processed is not None and processed.done:
        return StepResult(interview=None, duplicate=True)  # a concurrent redelivery finished it first
    plan = thought.output
    if interview.state is not State.GENERATING_PLAN or interview.pending_plan_id != plan.plan_id:
        # The interview moved on while the model ran (cancelled, or revised again): drop the plan.
        interview.mark_processed(envelope.id, [])
        return StepResult(interview=interview)
    interview.plan_run = thought.report.model_copy(update={"execution_id": plan.plan_id})
    skills = [c.name for c in plan.competencies]
    generated = PlanGenerated(plan_id=plan.plan_id, validated_skills=skills, duration=plan.duration_minutes, plan=plan)
    sent = [outgoing_event(Topic.PLAN_GENERATED, interview, envelope, generated, now=ctx.now)]
    return finish(interview, envelope.id, sent)


def _plan_for(interview: Interview, generated: PlanGenerated) -> Plan:
    """An outside planner may send only the seed's fields: cover its skills with the offline plan."""
    try:
        level = intake.normalized_level(interview.details)
    except ValueError:
        level = Level.MID
    request = PlanRequest(
        plan_id=generated.plan_id,
        level=level,
        skills=generated.validated_skills,
        duration_minutes=generated.duration,
        position=interview.details.position,
    )
    return offline_plan(request)


def plan_generated(current: Interview | None, envelope: Envelope[PlanGenerated], ctx: StepContext) -> StepResult:
    """GENERATING_PLAN -> PENDING, or APPROVED (with the candidate's access link) for auto-approving tenants."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    payload = envelope.payload
    auto_approve = bool(ctx.tenant and ctx.tenant.auto_approve_plans)
    trigger = Trigger.PLAN_AUTO_APPROVED if auto_approve else Trigger.PLAN_GENERATED
    if (forbidden := check_allowed(interview, trigger)) is not None:
        return refuse(interview, envelope, trigger, forbidden, ctx)
    if interview.pending_plan_id is not None and payload.plan_id != interview.pending_plan_id:
        return refuse(interview, envelope, trigger, stale("planId", payload.plan_id, interview.pending_plan_id), ctx)
    interview.apply(trigger, event_id=envelope.id, actor=WORKFLOW_ACTOR, at=ctx.now)
    if interview.plan is not None and interview.plan.plan_id != payload.plan_id:
        interview.superseded_plan_ids.append(interview.plan.plan_id)
    interview.plan = payload.plan or _plan_for(interview, payload)
    interview.validated_skills = payload.validated_skills
    interview.pending_plan_id = None
    data: dict[str, object] = {
        "planId": payload.plan_id,
        "validatedSkills": payload.validated_skills,
        "duration": payload.duration,
        "autoApproved": auto_approve,
    }
    sent = trigger_webhook(interview, trigger, envelope, ctx, data)
    if auto_approve:
        approved = {
            **grant_access(interview, envelope, ctx),
            "approvedBy": WORKFLOW_ACTOR,
            "comment": "tenant auto-approves plans",
        }
        sent += transition_webhook(interview, WebhookEvent.APPROVED, envelope, ctx, approved)
    return finish(interview, envelope.id, sent)
