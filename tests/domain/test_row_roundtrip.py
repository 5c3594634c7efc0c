"""A row a step wrote, decoded from its bytes, is the row the step left: the next step gives the same
bytes and sends the same messages on either.

A worker on Faust's memory store steps on the row objects it keeps; one that rebuilt its rows from
the changelog, or reads them from RocksDB, steps on decoded rows. They must act alike. Two copies of
one interview go through its whole life in lockstep, with the same context: one steps on the row
objects the steps return, the other on each row encoded and decoded first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from steps_support import (
    approve,
    completed_event,
    decoded,
    envelope,
    requested,
    run_assessor,
    run_planner,
    tenant,
    think,
)

from app.codecs import PydanticCodec
from domain.planner import build_planner
from domain.steps import (
    StepContext,
    StepResult,
    assessment_completed,
    assessment_reviewed,
    cancel_requested,
    interview_requested,
    modification_requested,
    plan_generated,
    plan_ready,
    plan_rejected,
)
from models.base import utc_timestamp
from models.envelope import Envelope
from models.payloads import ApprovalRejected, AssessmentReviewed, CancelRequested, ModificationRequested
from models.topics import Topic
from tables.interview import Interview, SentMessage
from tables.state_machine import State

ROWS = PydanticCodec(Interview)
PLANNER = build_planner()
CTX = StepContext(tenant=tenant(), now=utc_timestamp())

Move = Callable[[Interview | None, list[SentMessage]], StepResult]


def _last(sent: list[SentMessage], topic: Topic) -> Envelope[Any]:
    return decoded([message for message in sent if message.topic == topic][-1])


def _existing(row: Interview | None) -> Interview:
    assert row is not None
    return row


def _plan_id(row: Interview | None) -> str:
    plan = _existing(row).plan
    assert plan is not None
    return plan.plan_id


MOVES: list[tuple[str, Move]] = [
    ("requested", lambda row, sent: interview_requested(row, requested(), CTX)),
    ("planned", lambda row, sent: run_planner(row, _last(sent, Topic.SKILL_VALIDATION_REQUESTED), CTX)),
    ("plan applied", lambda row, sent: plan_generated(row, _last(sent, Topic.PLAN_GENERATED), CTX)),
    (
        "revision asked",
        lambda row, sent: think(
            modification_requested,
            PLANNER,
            plan_ready,
            row,
            envelope(
                Topic.MODIFICATION_REQUESTED,
                ModificationRequested(plan_id=_plan_id(row), requested_by="rita", instructions="more Kafka"),
                event_id="ev-revise",
            ),
            CTX,
        ),
    ),
    ("plan applied again", lambda row, sent: plan_generated(row, _last(sent, Topic.PLAN_GENERATED), CTX)),
    (
        "rejected, retried",
        lambda row, sent: think(
            plan_rejected,
            PLANNER,
            plan_ready,
            row,
            envelope(
                Topic.APPROVAL_REJECTED,
                ApprovalRejected(plan_id=_plan_id(row), rejected_by="rita", reason="too junior", retry=True),
                event_id="ev-reject",
            ),
            CTX,
        ),
    ),
    ("approved", lambda row, sent: approve(_existing(row), step_ctx=CTX)),  # refused: not planned yet
    ("completed", lambda row, sent: run_assessor(row, completed_event(), CTX)),  # refused: not approved
    (
        "reviewed",
        lambda row, sent: assessment_reviewed(
            row,
            envelope(
                Topic.ASSESSMENT_REVIEWED,
                AssessmentReviewed(assessment_id="as-none", approved=True, reviewed_by="hm"),
                event_id="ev-review-early",
            ),
            CTX,
        ),
    ),
    ("plan applied, third", lambda row, sent: plan_generated(row, _last(sent, Topic.PLAN_GENERATED), CTX)),
    ("approved, now", lambda row, sent: approve(_existing(row), event_id="ev-approve-2", step_ctx=CTX)),
    ("redelivered approval", lambda row, sent: approve(_existing(row), event_id="ev-approve-2", step_ctx=CTX)),
    ("interview completed", lambda row, sent: run_assessor(row, completed_event("ev-completed-2"), CTX)),
    (
        "assessment applied",
        lambda row, sent: assessment_completed(row, _last(sent, Topic.ASSESSMENT_COMPLETED), CTX),
    ),
    (
        "cancel of a pending assessment",
        lambda row, sent: cancel_requested(
            row,
            envelope(
                Topic.CANCEL_REQUESTED,
                CancelRequested(cancelled_by="rita", reason="position filled"),
                event_id="ev-cancel",
            ),
            CTX,
        ),
    ),
    (
        "cancel again, refused",
        lambda row, sent: cancel_requested(
            row,
            envelope(Topic.CANCEL_REQUESTED, CancelRequested(cancelled_by="rita"), event_id="ev-cancel-2"),
            CTX,
        ),
    ),
]


def _refusal(result: StepResult) -> tuple[str, str] | None:
    error = result.dead_letter
    return None if error is None else (error.reason, error.message)


def test_every_step_gives_the_same_bytes_on_the_row_object_as_on_the_row_decoded() -> None:
    kept: Interview | None = None  # the row object a step returned, as the memory store keeps it
    read: Interview | None = None  # the same row, encoded and decoded first
    sent: list[SentMessage] = []
    refused: list[str] = []
    replayed: list[str] = []
    for name, move in MOVES:
        on_kept = move(kept, sent)
        on_read = move(None if read is None else ROWS.loads(ROWS.dumps(read)), sent)

        assert [m.model_dump() for m in on_kept.sent] == [m.model_dump() for m in on_read.sent], name
        assert (on_kept.interview is None) == (on_read.interview is None), name
        assert on_kept.duplicate == on_read.duplicate, name
        assert _refusal(on_kept) == _refusal(on_read), name
        if on_kept.dead_letter is not None:
            refused.append(name)
        if on_kept.duplicate:
            replayed.append(name)
        if on_kept.interview is not None:
            assert on_read.interview is not None
            assert ROWS.dumps(on_kept.interview) == ROWS.dumps(on_read.interview), name
            kept, read = on_kept.interview, on_read.interview
        sent += on_kept.sent

    assert kept is not None and kept.state is State.CANCELLED
    # The walk went where it was meant to: four refusals, a replay, a whole life.
    assert refused == ["approved", "completed", "reviewed", "cancel again, refused"]
    assert replayed == ["redelivered approval"]
    assert len(kept.history) == 12 and kept.assessment is not None and len(kept.superseded_plan_ids) == 2
