"""Decisions, assessment, cancellation and notifications as pure steps (domain/steps)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from steps_support import (
    Walk,
    approve,
    completed_event,
    ctx,
    decoded,
    envelope,
    requested,
    run_assessor,
    walk_to,
)

from domain.access import verify_access_token
from domain.planner import build_planner
from domain.steps import (
    assessment_completed,
    assessment_reviewed,
    cancel_requested,
    interview_completed,
    interview_requested,
    modification_requested,
    notification,
    plan_approved,
    plan_generated,
    plan_ready,
    plan_rejected,
)
from domain.steps.base import WEBHOOK_SEQUENCE_HEADER, StepContext
from domain.webhooks import WebhookDelivery, WebhookEvent
from models.base import parse_timestamp
from models.codec import Reason
from models.payloads import (
    ApprovalApproved,
    ApprovalRejected,
    AssessmentCompleted,
    AssessmentReviewed,
    CancelRequested,
    InfoNeeded,
    ModificationRequested,
    PlanGenerated,
)
from models.topics import Topic
from tables.interview import Interview
from tables.state_machine import TERMINAL_STATES, State, Trigger


def review(row: Interview, *, approved: bool, event_id: str = "ev-review") -> Any:
    assert row.assessment is not None
    payload = AssessmentReviewed(assessment_id=row.assessment.assessment_id, approved=approved, reviewed_by="hm")
    return assessment_reviewed(row, envelope(Topic.ASSESSMENT_REVIEWED, payload, event_id=event_id), ctx())


def reject(row: Interview, *, retry: bool, event_id: str = "ev-reject", plan_id: str | None = None) -> Any:
    assert row.plan is not None
    payload = ApprovalRejected(
        plan_id=plan_id or row.plan.plan_id, rejected_by="rita", reason="too junior", retry=retry
    )
    return plan_rejected(row, envelope(Topic.APPROVAL_REJECTED, payload, event_id=event_id), ctx())


def cancel(row: Interview, event_id: str = "ev-cancel") -> Any:
    payload = CancelRequested(cancelled_by="rita", reason="position filled")
    return cancel_requested(row, envelope(Topic.CANCEL_REQUESTED, payload, event_id=event_id), ctx())


# --- the whole path ---------------------------------------------------------------------------


def test_full_path_to_assessment_approved_numbers_every_webhook_in_transition_order() -> None:
    walk = walk_to(State.ASSESSMENT_PENDING)
    walk.step(review(walk.row, approved=True))

    assert walk.row.state is State.ASSESSMENT_APPROVED
    assert walk.row.is_terminal
    assert [h.to_state for h in walk.row.history] == [
        State.RECEIVED,
        State.VALIDATING_SKILLS,
        State.GENERATING_PLAN,
        State.PENDING,
        State.APPROVED,
        State.COMPLETED,
        State.ASSESSMENT_PENDING,
        State.ASSESSMENT_APPROVED,
    ]
    assert walk.row.history[4].actor == "rita"
    assert walk.row.history[4].note == "looks right"
    webhooks = walk.webhooks()
    assert [w.event for w in webhooks] == [
        WebhookEvent.PLAN_GENERATED,
        WebhookEvent.APPROVED,
        WebhookEvent.COMPLETED,
        WebhookEvent.ASSESSMENT_PENDING,
        WebhookEvent.ASSESSMENT_APPROVED,
    ]
    assert [w.sequence for w in webhooks] == [1, 2, 3, 4, 5]
    assert len({w.delivery_id for w in webhooks}) == 5


def test_approval_grants_a_signed_access_link_with_the_tenants_ttl() -> None:
    walk = walk_to(State.PENDING)
    step_ctx = ctx(access_link_ttl_days=3)

    result = walk.step(approve(walk.row, step_ctx=step_ctx))

    link = walk.row.access_link
    assert link is not None and walk.row.plan is not None
    assert link.url.endswith("/" + link.token)
    assert parse_timestamp(link.expires_at) - parse_timestamp(step_ctx.now) == timedelta(days=3)
    claims = verify_access_token(link.token, secret=step_ctx.access.secret, now=parse_timestamp(step_ctx.now))
    assert (claims.interview_id, claims.plan_id) == (walk.row.interview_id, walk.row.plan.plan_id)
    body = json.loads(WebhookDelivery.model_validate_json(result.sent[0].value).body)
    assert body["event"] == "interview.approved"
    assert body["data"]["accessLink"] == {"url": link.url, "token": link.token, "expiresAt": link.expires_at}
    assert body["data"]["approvedBy"] == "rita"


def test_default_access_link_lasts_seven_days() -> None:
    walk = walk_to(State.APPROVED)
    link = walk.row.access_link
    assert link is not None
    approved_at = walk.row.history[-1].at
    assert parse_timestamp(link.expires_at) - parse_timestamp(approved_at) == timedelta(days=7)


def test_completion_scores_every_planned_competency_and_sends_the_assessment() -> None:
    walk = walk_to(State.COMPLETED)

    assert walk.row.completion is not None
    assert walk.row.completion.transcript_lines == 4
    sent = walk.last(Topic.ASSESSMENT_COMPLETED)
    assessment = sent.payload
    assert isinstance(assessment, AssessmentCompleted)
    assert walk.row.plan is not None
    assert assessment.plan_id == walk.row.plan.plan_id
    assert [s.name for s in assessment.competency_scores] == [c.name for c in walk.row.plan.competencies]
    assert walk.row.assessment_run is not None
    assert walk.row.assessment_run.model == "offline"

    walk.step(assessment_completed(walk.row, sent, ctx()))
    assert walk.row.state is State.ASSESSMENT_PENDING
    assert walk.row.assessment == assessment


@pytest.mark.parametrize(("approved", "state"), [(True, State.ASSESSMENT_APPROVED), (False, State.ASSESSMENT_REJECTED)])
def test_assessment_review_ends_the_interview(approved: bool, state: State) -> None:
    walk = walk_to(State.ASSESSMENT_PENDING)
    walk.step(review(walk.row, approved=approved))
    assert walk.row.state is state
    assert walk.webhooks()[-1].event == (
        WebhookEvent.ASSESSMENT_APPROVED if approved else WebhookEvent.ASSESSMENT_REJECTED
    )


# --- reject, retry, revise --------------------------------------------------------------------


def test_reject_without_retry_is_terminal() -> None:
    walk = walk_to(State.PENDING)
    result = walk.step(reject(walk.row, retry=False))
    assert walk.row.state is State.REJECTED
    assert result.work is None
    delivery = walk.webhooks()[-1]
    assert delivery.event is WebhookEvent.REJECTED
    assert json.loads(delivery.body)["data"] == {
        "planId": walk.row.plan.plan_id if walk.row.plan else None,
        "rejectedBy": "rita",
        "reason": "too junior",
        "retry": False,
    }


def _finish_planning(walk: Walk, begun: Any, source_event: Any) -> None:
    thought = asyncio.run(build_planner().ainvoke(begun.work))
    walk.step(plan_ready(walk.row, source_event, ctx(), thought))
    walk.step(plan_generated(walk.row, walk.last(Topic.PLAN_GENERATED), ctx()))


def test_reject_with_retry_replans_and_the_new_plan_replaces_the_old() -> None:
    walk = walk_to(State.PENDING)
    assert walk.row.plan is not None
    old_plan_id = walk.row.plan.plan_id
    source = envelope(
        Topic.APPROVAL_REJECTED,
        ApprovalRejected(plan_id=old_plan_id, rejected_by="rita", reason="again", retry=True),
        event_id="ev-retry",
    )

    begun = walk.step(plan_rejected(walk.row, source, ctx()))
    assert walk.row.state is State.GENERATING_PLAN
    assert walk.webhooks()[-1].event is WebhookEvent.REJECTED
    assert begun.work is not None and begun.work.plan_id != old_plan_id
    _finish_planning(walk, begun, source)

    replanned = walk.row
    assert replanned.state is State.PENDING
    assert replanned.plan is not None
    assert replanned.plan.plan_id == begun.work.plan_id
    assert replanned.superseded_plan_ids == [old_plan_id]
    assert [h.trigger for h in replanned.history[-2:]] == [Trigger.PLAN_REJECTED_RETRY, Trigger.PLAN_GENERATED]


def test_revision_follows_the_instructions_under_a_new_plan_id() -> None:
    walk = walk_to(State.PENDING)
    assert walk.row.plan is not None
    old_plan_id = walk.row.plan.plan_id
    source = envelope(
        Topic.MODIFICATION_REQUESTED,
        ModificationRequested(plan_id=old_plan_id, requested_by="rita", instructions="Dig into on-call work"),
        event_id="ev-revise",
    )

    begun = walk.step(modification_requested(walk.row, source, ctx()))
    assert walk.row.state is State.GENERATING_PLAN
    assert begun.work.instructions == "Dig into on-call work"
    _finish_planning(walk, begun, source)

    assert walk.row.plan is not None
    assert walk.row.plan.plan_id not in (old_plan_id, None)
    assert walk.row.plan.revision_instructions == "Dig into on-call work"
    assert walk.row.history[-2].note == "Dig into on-call work"


def test_a_decision_about_a_replaced_plan_is_stale_and_dead_lettered() -> None:
    walk = walk_to(State.PENDING)
    result = reject(walk.row, retry=False, plan_id="plan-from-last-week")

    assert result.dead_letter is not None
    assert result.dead_letter.reason is Reason.STALE_REFERENCE
    assert result.interview.state is State.PENDING
    assert result.interview.rejected_triggers[-1].trigger == Trigger.PLAN_REJECTED


# --- two-phase runs: redelivery and races -----------------------------------------------------


def test_redelivered_planner_input_resumes_an_unfinished_run_then_replays_it() -> None:
    walk = walk_to(State.PENDING)
    assert walk.row.plan is not None
    source = envelope(
        Topic.APPROVAL_REJECTED,
        ApprovalRejected(plan_id=walk.row.plan.plan_id, rejected_by="rita", reason="again", retry=True),
        event_id="ev-retry",
    )
    begun = walk.step(plan_rejected(walk.row, source, ctx()))

    resumed = plan_rejected(walk.row, source, ctx())  # the worker died before the plan was sent
    assert resumed.interview is None  # nothing applied twice
    assert resumed.work == begun.work
    assert [m.value for m in resumed.sent] == [m.value for m in begun.sent]

    thought = asyncio.run(build_planner().ainvoke(begun.work))
    ready = walk.step(plan_ready(walk.row, source, ctx(), thought))
    replayed = plan_rejected(walk.row, source, ctx())
    assert replayed.duplicate and replayed.work is None
    assert [m.value for m in replayed.sent] == [m.value for m in begun.sent + ready.sent]


def test_a_plan_finished_after_a_cancel_is_dropped() -> None:
    walk = walk_to(State.PENDING)
    assert walk.row.plan is not None
    source = envelope(
        Topic.MODIFICATION_REQUESTED,
        ModificationRequested(plan_id=walk.row.plan.plan_id, requested_by="rita", instructions="shorter"),
        event_id="ev-revise",
    )
    begun = walk.step(modification_requested(walk.row, source, ctx()))
    walk.step(cancel(walk.row))  # arrives on its own topic while the model runs

    thought = asyncio.run(build_planner().ainvoke(begun.work))
    late = plan_ready(walk.row, source, ctx(), thought)

    assert late.sent == []
    assert late.interview is not None and late.interview.state is State.CANCELLED


def test_assessment_of_a_cancelled_interview_is_dropped() -> None:
    walk = walk_to(State.APPROVED)
    source = completed_event()
    begun = walk.step(interview_completed(walk.row, source, ctx()))
    walk.step(cancel(walk.row))
    result = run_assessor(walk.row, source)
    assert result.sent == [] or all(m.topic != Topic.ASSESSMENT_COMPLETED for m in result.sent)
    assert begun.work is not None


# --- cancel and wrong-state triggers --------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        State.VALIDATING_SKILLS,
        State.GENERATING_PLAN,
        State.PENDING,
        State.APPROVED,
        State.COMPLETED,
        State.ASSESSMENT_PENDING,
    ],
)
def test_cancel_from_any_non_terminal_state(state: State) -> None:
    walk = walk_to(state)
    walk.step(cancel(walk.row))
    assert walk.row.state is State.CANCELLED
    assert walk.row.pending_plan_id is None and walk.row.pending_assessment_id is None
    delivery = walk.webhooks()[-1]
    assert delivery.event is WebhookEvent.CANCELLED
    assert json.loads(delivery.body)["data"]["previousState"] == state


def test_cancel_of_a_terminal_interview_is_refused_and_recorded() -> None:
    walk = walk_to(State.PENDING)
    walk.step(reject(walk.row, retry=False))
    assert walk.row.state in TERMINAL_STATES

    result = cancel(walk.row, event_id="ev-cancel-late")

    assert result.dead_letter is not None
    assert result.dead_letter.reason is Reason.TRANSITION_FORBIDDEN
    assert "none (terminal state)" in result.dead_letter.message
    assert result.interview.state is State.REJECTED
    assert result.sent == []


@pytest.mark.parametrize(
    ("state", "make"),
    [
        (State.GENERATING_PLAN, "approve"),
        (State.PENDING, "complete"),
        (State.APPROVED, "review"),
        (State.ASSESSMENT_PENDING, "approve"),
    ],
)
def test_a_trigger_the_state_forbids_changes_nothing_and_is_dead_lettered(state: State, make: str) -> None:
    walk = walk_to(state)
    before = walk.row.model_copy(deep=True)
    plan_id = walk.row.plan.plan_id if walk.row.plan else walk.row.pending_plan_id or "p"
    if make == "approve":
        source = envelope(
            Topic.APPROVAL_APPROVED, ApprovalApproved(plan_id=plan_id, approved_by="rita"), event_id="ev-wrong"
        )
        result = plan_approved(walk.row, source, ctx())
    elif make == "complete":
        result = interview_completed(walk.row, completed_event("ev-wrong"), ctx())
    else:
        source = envelope(
            Topic.ASSESSMENT_REVIEWED,
            AssessmentReviewed(assessment_id="a", approved=True, reviewed_by="hm"),
            event_id="ev-wrong",
        )
        result = assessment_reviewed(walk.row, source, ctx())

    assert result.dead_letter is not None
    assert result.dead_letter.reason is Reason.TRANSITION_FORBIDDEN
    assert f"state {state}" in result.dead_letter.message
    assert result.work is None and result.sent == []
    row = result.interview
    assert row is not None
    assert (row.state, row.version, row.history) == (before.state, before.version, before.history)
    assert row.rejected_triggers[-1].event_id == "ev-wrong"


def test_a_redelivered_decision_changes_nothing() -> None:
    walk = walk_to(State.PENDING)
    first = walk.step(approve(walk.row))
    again = approve(walk.row)
    assert again.duplicate and again.interview is None
    assert [m.value for m in again.sent] == [m.value for m in first.sent]


# --- notifications --------------------------------------------------------------------------


def _info_needed_from_intake() -> tuple[Interview, Any]:
    result = interview_requested(None, requested(position=None, level="guru"), ctx())
    assert result.interview is not None
    return result.interview, result.sent[0]


def test_intake_numbers_the_info_needed_webhook_for_the_notifications_agent() -> None:
    row, message = _info_needed_from_intake()
    assert message.topic == Topic.INFO_NEEDED
    assert message.headers == {WEBHOOK_SEQUENCE_HEADER: "1"}
    assert row.webhook_sequence == 1


def test_notification_is_recorded_and_sent_in_its_place() -> None:
    row, message = _info_needed_from_intake()
    source = decoded(message)
    step_ctx = StepContext(tenant=ctx().tenant, now=ctx().now, headers=dict(message.headers))

    result = notification(row, None, source, step_ctx)

    assert result.log is not None
    [recorded] = result.log.notifications
    assert recorded.event == "interview.info_needed"
    assert isinstance(source.payload, InfoNeeded)
    assert [f.field for f in recorded.missing_fields] == [f.field for f in source.payload.missing_fields]
    [delivery] = [WebhookDelivery.model_validate_json(m.value) for m in result.sent]
    assert (delivery.event, delivery.sequence) == (WebhookEvent.INFO_NEEDED, 1)
    assert recorded.delivery_id == delivery.delivery_id

    again = notification(row, result.log, source, step_ctx)
    assert again.log is None  # nothing new to write
    assert [m.value for m in again.sent] == [m.value for m in result.sent]


def test_plan_generated_for_a_plan_nobody_asked_for_is_stale() -> None:
    walk = walk_to(State.GENERATING_PLAN)
    stray = decoded(walk.sent_to(Topic.PLAN_GENERATED)[-1])
    assert isinstance(stray.payload, PlanGenerated)
    stray.payload = stray.payload.model_copy(update={"plan_id": "someone-elses-plan"})
    stray.event_id = "ev-stray"

    result = plan_generated(walk.row, stray, ctx())

    assert result.dead_letter is not None and result.dead_letter.reason is Reason.STALE_REFERENCE
    assert result.interview is not None and result.interview.state is State.GENERATING_PLAN
