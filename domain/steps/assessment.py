"""Assessment steps: the finished interview goes to the assessor; its result waits for review.

Like planning, an assessor run is two steps around the model call: ``interview_completed``
moves the row to COMPLETED and hands the agent an AssessmentRequest; ``assessment_ready``
applies the run to the row read afresh and sends assessment.completed.
"""

from __future__ import annotations

from typing import Any

from domain import intake
from domain.assessor import AssessmentRequest
from domain.steps.base import (
    WORKFLOW_ACTOR,
    StepContext,
    StepResult,
    check_allowed,
    finish,
    outgoing_event,
    refuse,
    replay_if_duplicate,
    require_row,
    stale,
    trigger_webhook,
)
from domain.thinking import Thought
from models.envelope import Envelope, derived_id
from models.payloads import AssessmentCompleted, InterviewCompleted, Level, TranscriptLine
from models.topics import Topic
from tables.interview import Completion, Interview
from tables.state_machine import State, Trigger


def _assessment_request(
    interview: Interview, assessment_id: str, transcript: list[TranscriptLine]
) -> AssessmentRequest:
    assert interview.plan is not None, "an approved interview always has a plan"
    try:
        level: Level | None = intake.normalized_level(interview.details)
    except ValueError:
        level = None
    return AssessmentRequest(assessment_id=assessment_id, plan=interview.plan, level=level, transcript=transcript)


def interview_completed(
    current: Interview | None, envelope: Envelope[InterviewCompleted], ctx: StepContext
) -> StepResult:
    """APPROVED -> COMPLETED and an assessor run over the transcript; redelivery resumes the run."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    completed = envelope.payload
    assessment_id = derived_id("assessment", envelope.id)
    processed = interview.processed_event(envelope.id)
    if processed is not None:  # begun before, the run never finished: run it again
        if interview.pending_assessment_id != assessment_id:
            return StepResult(interview=None, sent=list(processed.sent))
        work = _assessment_request(interview, assessment_id, completed.transcript)
        return StepResult(interview=None, sent=list(processed.sent), work=work)
    if (forbidden := check_allowed(interview, Trigger.INTERVIEW_COMPLETED)) is not None:
        return refuse(interview, envelope, Trigger.INTERVIEW_COMPLETED, forbidden, ctx)
    interview.apply(Trigger.INTERVIEW_COMPLETED, event_id=envelope.id, actor=envelope.event_type, at=ctx.now)
    interview.completion = Completion(
        session_id=completed.session_id, ended_at=completed.ended_at, transcript_lines=len(completed.transcript)
    )
    interview.pending_assessment_id = assessment_id
    data: dict[str, object] = {
        "sessionId": completed.session_id,
        "endedAt": completed.ended_at,
        "transcriptLines": len(completed.transcript),
    }
    sent = trigger_webhook(interview, Trigger.INTERVIEW_COMPLETED, envelope, ctx, data)
    interview.mark_processed(envelope.id, sent, done=False)
    work = _assessment_request(interview, assessment_id, completed.transcript)
    return StepResult(interview=interview, sent=sent, work=work)


def assessment_ready(
    current: Interview | None, envelope: Envelope[Any], ctx: StepContext, thought: Thought[AssessmentCompleted]
) -> StepResult:
    """The assessor run begun by ``envelope`` finished: record it and send assessment.completed."""
    interview = require_row(current, envelope)
    processed = interview.processed_event(envelope.id)
    if processed is not None and processed.done:
        return StepResult(interview=None, duplicate=True)
    assessment = thought.output
    if interview.state is not State.COMPLETED or interview.pending_assessment_id != assessment.assessment_id:
        interview.mark_processed(envelope.id, [])  # cancelled while the assessor ran
        return StepResult(interview=interview)
    interview.assessment_run = thought.report.model_copy(update={"execution_id": assessment.assessment_id})
    sent = [outgoing_event(Topic.ASSESSMENT_COMPLETED, interview, envelope, assessment, now=ctx.now)]
    return finish(interview, envelope.id, sent)


def assessment_completed(
    current: Interview | None, envelope: Envelope[AssessmentCompleted], ctx: StepContext
) -> StepResult:
    """COMPLETED -> ASSESSMENT_PENDING: the assessment waits for a person's review."""
    if (replay := replay_if_duplicate(current, envelope)) is not None:
        return replay
    interview = require_row(current, envelope)
    assessment = envelope.payload
    trigger = Trigger.ASSESSMENT_COMPLETED
    if (forbidden := check_allowed(interview, trigger)) is not None:
        return refuse(interview, envelope, trigger, forbidden, ctx)
    expected = interview.pending_assessment_id
    if expected is not None and assessment.assessment_id != expected:
        return refuse(interview, envelope, trigger, stale("assessmentId", assessment.assessment_id, expected), ctx)
    interview.apply(trigger, event_id=envelope.id, actor=WORKFLOW_ACTOR, at=ctx.now)
    interview.assessment = assessment
    interview.pending_assessment_id = None
    data: dict[str, object] = {
        "assessmentId": assessment.assessment_id,
        "planId": assessment.plan_id,
        "overallScore": assessment.overall_score,
        "recommendation": assessment.recommendation,
        "summary": assessment.summary,
    }
    return finish(interview, envelope.id, trigger_webhook(interview, trigger, envelope, ctx, data))


__all__ = ["assessment_completed", "assessment_ready", "interview_completed"]
