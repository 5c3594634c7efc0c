"""Building blocks for the pure step tests: a tenant, a context, envelopes, and the agents' moves.

The ``run_*`` helpers do what the thinking agents do (begin, run the offline model, ready) so
tests can walk an interview through its whole life without Faust or Kafka.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

from domain.assessor import build_assessor
from domain.planner import build_planner
from domain.steps import (
    StepContext,
    StepResult,
    assessment_completed,
    assessment_ready,
    interview_completed,
    interview_requested,
    plan_approved,
    plan_generated,
    plan_ready,
    run_within,
    skill_validation_requested,
)
from domain.tenants import TenantSettings
from domain.webhooks import WebhookDelivery
from models.base import utc_timestamp
from models.codec import decode_event
from models.envelope import Envelope
from models.payloads import ApprovalApproved, InterviewCompleted, InterviewRequested, TranscriptLine
from models.topics import Topic
from tables.interview import Interview, SentMessage
from tables.state_machine import State

ROOT = Path(__file__).resolve().parents[2]
TENANT_ID = "acme"
INTERVIEW_ID = "iv-1"
LONG_DESCRIPTION = "Design, build and run the event backbone of a hiring platform at scale. " * 2

COMPLETE: dict[str, Any] = {
    "candidate_ref": "cand-1",
    "position": "Backend Engineer",
    "level": "senior",
    "skills": ["Python", "Kafka", "python", "PostgreSQL"],
    "job_description": LONG_DESCRIPTION,
}


def tenant(**changes: Any) -> TenantSettings:
    fields: dict[str, Any] = {
        "api_key": "k" * 8,
        "webhook_secret": "s" * 8,
        "webhook_url": "https://ats.example.com/hook",
    }
    return TenantSettings(**{**fields, **changes})


def ctx(**tenant_changes: Any) -> StepContext:
    return StepContext(tenant=tenant(**tenant_changes), now=utc_timestamp())


def envelope(topic: Topic, payload: Any, *, event_id: str, tenant_id: str = TENANT_ID, **extra: Any) -> Envelope[Any]:
    built: Envelope[Any] = Envelope(
        event_type=topic,
        event_id=event_id,
        tenant_id=tenant_id,
        interview_id=INTERVIEW_ID,
        timestamp="2024-01-15T10:01:00.000Z",
        payload=payload,
        **extra,
    )
    return built


def requested(event_id: str = "ev-request", **changes: Any) -> Envelope[Any]:
    payload = InterviewRequested(**{**COMPLETE, **changes})
    return envelope(Topic.INTERVIEW_REQUESTED, payload, event_id=event_id, run_id="run_1705312860_0a1b2c3d")


def decoded(message: SentMessage) -> Envelope[Any]:
    """A sent message as its consumer sees it: the bytes decode on the topic they were sent to."""
    return decode_event(message.value.encode(), message.topic)


def think(
    begin: Callable[[Interview | None, Envelope[Any], StepContext], StepResult],
    runnable: Runnable[Any, Any],
    ready: Callable[..., StepResult],
    current: Interview | None,
    source: Envelope[Any],
    step_ctx: StepContext | None = None,
) -> StepResult:
    """What a thinking agent does with the offline model: begin, run and ready as one step."""
    return run_within(begin, runnable.invoke, ready)(current, source, step_ctx or ctx())


def run_planner(current: Interview | None, source: Envelope[Any], step_ctx: StepContext | None = None) -> StepResult:
    return think(skill_validation_requested, build_planner(), plan_ready, current, source, step_ctx)


def run_assessor(current: Interview | None, source: Envelope[Any], step_ctx: StepContext | None = None) -> StepResult:
    return think(interview_completed, build_assessor(), assessment_ready, current, source, step_ctx)


def new_row(**changes: Any) -> Interview:
    result = interview_requested(None, requested(**changes), ctx())
    assert result.interview is not None
    return result.interview


def approve(row: Interview, event_id: str = "ev-approve", step_ctx: StepContext | None = None) -> StepResult:
    assert row.plan is not None
    payload = ApprovalApproved(plan_id=row.plan.plan_id, approved_by="rita", comment="looks right")
    return plan_approved(row, envelope(Topic.APPROVAL_APPROVED, payload, event_id=event_id), step_ctx or ctx())


def completed_event(event_id: str = "ev-completed", transcript: list[TranscriptLine] | None = None) -> Envelope[Any]:
    lines = transcript or [
        TranscriptLine(speaker="interviewer", text="Tell me about Python."),
        TranscriptLine(speaker="candidate", text="I have built Python services with asyncio for five years."),
        TranscriptLine(speaker="interviewer", text="And Kafka?"),
        TranscriptLine(speaker="candidate", text="I ran Kafka consumers with exactly the partitioning you describe."),
    ]
    payload = InterviewCompleted(session_id="session-1", ended_at="2024-01-16T10:00:00.000Z", transcript=lines)
    return envelope(Topic.INTERVIEW_COMPLETED, payload, event_id=event_id)


@dataclass
class Walk:
    """One interview walked through its steps, keeping everything it sent."""

    row: Interview
    sent: list[SentMessage] = field(default_factory=list)

    def step(self, result: StepResult) -> StepResult:
        assert result.dead_letter is None, result.dead_letter
        assert result.interview is not None
        self.row = result.interview
        self.sent += result.sent
        return result

    def sent_to(self, topic: Topic) -> list[SentMessage]:
        return [m for m in self.sent if m.topic == topic]

    def webhooks(self) -> list[WebhookDelivery]:
        return [WebhookDelivery.model_validate_json(m.value) for m in self.sent_to(Topic.WEBHOOK_OUTBOX)]

    def last(self, topic: Topic) -> Envelope[Any]:
        return decoded(self.sent_to(topic)[-1])


def walk_to(state: State, step_ctx: StepContext | None = None) -> Walk:
    """An interview of the complete request, moved forward until it is in ``state``."""
    step_ctx = step_ctx or ctx()
    first = interview_requested(None, requested(), step_ctx)
    assert first.interview is not None
    walk = Walk(first.interview, list(first.sent))
    path = [
        State.GENERATING_PLAN,
        State.PENDING,
        State.APPROVED,
        State.COMPLETED,
        State.ASSESSMENT_PENDING,
    ]
    for target in path:
        if walk.row.state is state:
            break
        if target is State.GENERATING_PLAN:
            walk.step(run_planner(walk.row, walk.last(Topic.SKILL_VALIDATION_REQUESTED), step_ctx))
            if state is State.GENERATING_PLAN:
                break
        elif target is State.PENDING:
            walk.step(plan_generated(walk.row, walk.last(Topic.PLAN_GENERATED), step_ctx))
        elif target is State.APPROVED:
            walk.step(approve(walk.row, step_ctx=step_ctx))
        elif target is State.COMPLETED:
            walk.step(run_assessor(walk.row, completed_event(), step_ctx))
            if state is State.COMPLETED:
                break
        elif target is State.ASSESSMENT_PENDING:
            walk.step(assessment_completed(walk.row, walk.last(Topic.ASSESSMENT_COMPLETED), step_ctx))
    assert walk.row.state is state, walk.row.state
    return walk
