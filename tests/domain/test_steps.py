"""Intake and planning steps (domain/steps): row + event -> new row + messages to send."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from steps_support import (
    INTERVIEW_ID,
    LONG_DESCRIPTION,
    ROOT,
    TENANT_ID,
    ctx,
    decoded,
    envelope,
    new_row,
    requested,
    run_planner,
)

from domain.steps import info_provided, interview_requested, plan_generated
from domain.webhooks import WebhookDelivery, WebhookEvent
from models.codec import BadMessage, Reason, decode_event
from models.envelope import Envelope
from models.payloads import InfoProvided, PlanGenerated, SkillValidationRequested
from models.topics import Topic
from tables.interview import Interview
from tables.state_machine import State, Trigger

# --- interview_requested --------------------------------------------------------------------


def test_complete_request_goes_to_validating_skills_and_asks_the_planner() -> None:
    source = requested()
    result = interview_requested(None, source, ctx())

    interview = result.interview
    assert interview is not None
    assert interview.state is State.VALIDATING_SKILLS
    assert interview.tenant_id == TENANT_ID
    assert interview.run_id == "run_1705312860_0a1b2c3d"
    assert [(h.from_state, h.to_state) for h in interview.history] == [
        (None, State.RECEIVED),
        (State.RECEIVED, State.VALIDATING_SKILLS),
    ]
    assert interview.history[-1].event_id == source.id
    assert interview.missing_fields == []
    assert result.dead_letter is None
    assert not result.duplicate

    assert len(result.sent) == 1
    message = result.sent[0]
    assert message.topic == Topic.SKILL_VALIDATION_REQUESTED
    assert message.key == INTERVIEW_ID
    sent = decoded(message)
    assert sent.event_id is not None
    assert sent.event_id != source.event_id
    assert sent.tenant_id == TENANT_ID
    assert sent.run_id == interview.run_id
    assert sent.interview_id == INTERVIEW_ID
    assert isinstance(sent.payload, SkillValidationRequested)
    assert sent.payload.skills == ["Python", "Kafka", "PostgreSQL"]
    assert sent.payload.level == "SENIOR"
    assert sent.payload.job_description == LONG_DESCRIPTION
    assert sent.payload.position == "Backend Engineer"


def test_derived_event_id_is_stable_per_input() -> None:
    first = interview_requested(None, requested("ev-a"), ctx())
    again = interview_requested(None, requested("ev-a"), ctx())
    other = interview_requested(None, requested("ev-b"), ctx())

    assert decoded(first.sent[0]).event_id == decoded(again.sent[0]).event_id
    assert decoded(first.sent[0]).event_id != decoded(other.sent[0]).event_id


def test_another_tenants_request_for_an_existing_interview_is_refused_not_dropped() -> None:
    row = new_row()
    before = row.model_dump()
    source = requested("ev-evil")
    source.tenant_id = "globex"

    with pytest.raises(BadMessage) as caught:
        interview_requested(row, source, ctx())

    assert caught.value.reason is Reason.TENANT_MISMATCH
    assert row.model_dump() == before


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"candidate_ref": None}, {"candidate"}),
        ({"position": ""}, {"position"}),
        ({"level": "STAFF"}, {"level"}),
        ({"skills": []}, {"skills"}),
        ({"skills": [], "job_description": None}, {"skills", "jobDescription"}),
        ({"candidate_ref": None, "position": None, "level": None}, {"candidate", "position", "level"}),
    ],
)
def test_incomplete_request_goes_to_info_needed_listing_missing_fields(
    changes: dict[str, Any], missing: set[str]
) -> None:
    result = interview_requested(None, requested(**changes), ctx())

    interview = result.interview
    assert interview is not None
    assert interview.state is State.INFO_NEEDED
    assert interview.history[-1].trigger == Trigger.INTAKE_FAILED
    assert {m.field for m in interview.missing_fields} == missing

    assert [m.topic for m in result.sent] == [Topic.INFO_NEEDED]
    assert result.sent[0].key == INTERVIEW_ID
    payload = json.loads(result.sent[0].value)["payload"]
    assert {m["field"] for m in payload["missingFields"]} == missing
    for field in payload["missingFields"]:
        assert field["severity"] in {"CRITICAL", "HIGH"}
        assert field["question"].strip()
    assert decoded(result.sent[0]).event_id != "ev-request"


@pytest.mark.parametrize("changes", [{}, {"level": "STAFF"}], ids=["complete", "incomplete"])
def test_redelivered_request_is_a_duplicate_resending_identical_bytes(changes: dict[str, Any]) -> None:
    source = requested(**changes)
    first = interview_requested(None, source, ctx())
    assert first.interview is not None
    row_before = first.interview.model_dump()

    again = interview_requested(first.interview, source, ctx())

    assert again.duplicate
    assert again.interview is None
    assert again.dead_letter is None
    assert [m.model_dump() for m in again.sent] == [m.model_dump() for m in first.sent]
    assert [m.value.encode() for m in again.sent] == [m.value.encode() for m in first.sent]
    assert first.interview.model_dump() == row_before


def test_second_create_for_an_existing_interview_changes_nothing() -> None:
    row = new_row()
    before = row.model_dump()

    result = interview_requested(row, requested("ev-other"), ctx())

    assert result.interview is None
    assert result.sent == []
    assert row.model_dump() == before


def test_blank_skills_with_qualifications_still_give_the_planner_topics() -> None:
    # Intake passes this (two qualifications; blank skills do not count): the planner must get topics.
    result = interview_requested(None, requested(skills=["  "], qualifications=["AWS Certified", "CKA"]), ctx())

    assert result.interview is not None
    assert result.interview.state is State.VALIDATING_SKILLS
    payload = decoded(result.sent[0]).payload
    assert isinstance(payload, SkillValidationRequested)
    assert payload.skills == ["AWS Certified", "CKA"]


# --- info_provided --------------------------------------------------------------------------


def test_info_completing_the_data_moves_on_and_asks_the_planner() -> None:
    row = new_row(level=None)
    assert row.state is State.INFO_NEEDED
    source = envelope(Topic.INFO_PROVIDED, InfoProvided(level="LEAD"), event_id="ev-info")

    result = info_provided(row, source, ctx())

    interview = result.interview
    assert interview is not None
    assert interview.state is State.VALIDATING_SKILLS
    assert interview.details.level == "LEAD"
    assert interview.missing_fields == []
    assert interview.history[-1].trigger == Trigger.INFO_COMPLETED
    assert interview.history[-1].from_state is State.INFO_NEEDED
    assert [m.topic for m in result.sent] == [Topic.INFO_COMPLETED, Topic.SKILL_VALIDATION_REQUESTED]
    completed = decoded(result.sent[0])
    assert completed.payload.provided_fields == ["level"]
    asked = decoded(result.sent[1])
    assert asked.payload.level == "LEAD"
    assert asked.event_id != completed.event_id
    assert all(m.key == INTERVIEW_ID for m in result.sent)


@pytest.mark.parametrize("provided_by", [None, "recruiter@acme"])
def test_info_completed_lists_only_the_supplied_interview_fields(provided_by: str | None) -> None:
    # providedBy says who supplied the data; it is not one of the interview's fields.
    row = new_row(level=None, position=None)
    update = InfoProvided(level="LEAD", position="Staff Engineer", provided_by=provided_by)
    source = envelope(Topic.INFO_PROVIDED, update, event_id="ev-info")

    result = info_provided(row, source, ctx())

    assert [m.topic for m in result.sent] == [Topic.INFO_COMPLETED, Topic.SKILL_VALIDATION_REQUESTED]
    assert decoded(result.sent[0]).payload.provided_fields == ["level", "position"]


def test_info_still_missing_stays_in_info_needed() -> None:
    row = new_row(level=None, position=None)
    source = envelope(Topic.INFO_PROVIDED, InfoProvided(level="MID"), event_id="ev-info")

    result = info_provided(row, source, ctx())

    assert result.interview is not None
    assert result.interview.state is State.INFO_NEEDED
    assert result.interview.history[-1].trigger == Trigger.INFO_STILL_MISSING
    assert {m.field for m in result.interview.missing_fields} == {"position"}
    assert [m.topic for m in result.sent] == [Topic.INFO_NEEDED]


def test_info_for_an_interview_not_waiting_for_any_is_dead_lettered_and_recorded() -> None:
    row = new_row()
    assert row.state is State.VALIDATING_SKILLS
    details_before, version_before = row.details.model_dump(), row.version
    source = envelope(Topic.INFO_PROVIDED, InfoProvided(level="JUNIOR"), event_id="ev-late")

    result = info_provided(row, source, ctx())

    assert result.dead_letter is not None
    assert result.dead_letter.reason is Reason.TRANSITION_FORBIDDEN
    assert "VALIDATING_SKILLS" in result.dead_letter.message
    assert result.sent == []
    interview = result.interview
    assert interview is not None
    assert interview.state is State.VALIDATING_SKILLS
    assert interview.version == version_before
    assert interview.details.model_dump() == details_before
    assert len(interview.rejected_triggers) == 1
    rejected = interview.rejected_triggers[0]
    assert rejected.event_id == "ev-late"
    assert rejected.state is State.VALIDATING_SKILLS
    assert rejected.trigger == Trigger.INFO_COMPLETED


def test_another_tenants_envelope_is_a_tenant_mismatch() -> None:
    row = new_row(level=None)
    before = row.model_dump()
    source = envelope(Topic.INFO_PROVIDED, InfoProvided(level="LEAD"), event_id="ev-evil", tenant_id="globex")

    with pytest.raises(BadMessage) as caught:
        info_provided(row, source, ctx())

    assert caught.value.reason is Reason.TENANT_MISMATCH
    assert "globex" not in caught.value.message and row.tenant_id not in caught.value.message
    assert row.model_dump() == before


def test_info_for_a_missing_interview_is_an_unknown_interview() -> None:
    source = envelope(Topic.INFO_PROVIDED, InfoProvided(level="LEAD"), event_id="ev-x")

    with pytest.raises(BadMessage) as caught:
        info_provided(None, source, ctx())

    assert caught.value.reason is Reason.UNKNOWN_INTERVIEW


# --- skill_validation_requested -------------------------------------------------------------


SEED_SKILL_VALIDATION_REQUESTED: dict[str, Any] = {
    "eventType": "skill.validation.requested",
    "tenantId": "tenant-uuid",
    "runId": "agno-run-uuid",
    "interviewId": "interview-uuid",
    "timestamp": "2024-01-15T10:01:00.000Z",
    "payload": {
        "skills": ["TypeScript", "React", "Node.js"],
        "jobDescription": "Build scalable platform services...",
        "level": "SENIOR",
        "callbackUrl": "https://ats.example.com/webhook",
    },
}


def _outside_request() -> Envelope[Any]:
    source = decode_event(json.dumps(SEED_SKILL_VALIDATION_REQUESTED).encode(), Topic.SKILL_VALIDATION_REQUESTED)
    source.event_id = "ev-outside"
    return source


def test_outside_producer_creates_the_interview_and_gets_a_plan() -> None:
    source = _outside_request()

    result = run_planner(None, source)

    interview = result.interview
    assert interview is not None
    assert interview.state is State.GENERATING_PLAN
    assert interview.tenant_id == "tenant-uuid"
    assert interview.run_id == "agno-run-uuid"
    assert interview.callback_url == "https://ats.example.com/webhook"
    assert [h.to_state for h in interview.history] == [State.RECEIVED, State.VALIDATING_SKILLS, State.GENERATING_PLAN]

    assert [m.topic for m in result.sent] == [Topic.PLAN_GENERATED]
    assert result.sent[0].key == "interview-uuid"
    generated = decoded(result.sent[0])
    assert (generated.tenant_id, generated.run_id, generated.interview_id) == (
        "tenant-uuid",
        "agno-run-uuid",
        "interview-uuid",
    )
    assert generated.event_id not in (None, "ev-outside")
    payload = generated.payload
    assert isinstance(payload, PlanGenerated)
    assert payload.validated_skills == ["TypeScript", "React", "Node.js"]
    assert payload.duration == 60
    assert payload.plan is not None
    assert payload.plan.plan_id == payload.plan_id
    assert [c.name for c in payload.plan.competencies] == ["TypeScript", "React", "Node.js"]


def test_planner_step_redelivery_resends_the_same_plan() -> None:
    source = _outside_request()
    first = run_planner(None, source)
    assert first.interview is not None

    again = run_planner(first.interview, source)

    assert again.duplicate
    assert again.interview is None
    assert [m.value for m in again.sent] == [m.value for m in first.sent]


def test_planner_step_on_a_row_from_intake() -> None:
    row = new_row()
    asked = decoded(interview_requested(None, requested(), ctx()).sent[0])

    result = run_planner(row, asked)

    assert result.interview is not None
    assert result.interview.state is State.GENERATING_PLAN
    generated = decoded(result.sent[0])
    assert generated.run_id == row.run_id
    assert generated.payload.validated_skills == ["Python", "Kafka", "PostgreSQL"]


# --- plan_generated -------------------------------------------------------------------------


def _generating_row_and_plan() -> tuple[Interview, Envelope[Any]]:
    result = run_planner(None, _outside_request())
    assert result.interview is not None
    return result.interview, decoded(result.sent[0])


@pytest.mark.parametrize(
    ("auto_approve", "state", "trigger"),
    [(False, State.PENDING, Trigger.PLAN_GENERATED), (True, State.APPROVED, Trigger.PLAN_AUTO_APPROVED)],
    ids=["manual", "auto-approve"],
)
def test_plan_generated_moves_on_and_queues_the_webhook(auto_approve: bool, state: State, trigger: Trigger) -> None:
    row, generated = _generating_row_and_plan()
    step_ctx = ctx(auto_approve_plans=auto_approve)

    result = plan_generated(row, generated, step_ctx)

    interview = result.interview
    assert interview is not None
    assert interview.state is state
    assert interview.history[-1].trigger == trigger
    assert interview.plan == generated.payload.plan
    assert interview.validated_skills == ["TypeScript", "React", "Node.js"]

    assert [m.topic for m in result.sent] == [Topic.WEBHOOK_OUTBOX] * (2 if auto_approve else 1)
    assert {m.key for m in result.sent} == {"interview-uuid"}
    delivery = WebhookDelivery.model_validate_json(result.sent[0].value)
    assert delivery.event is WebhookEvent.PLAN_GENERATED
    assert delivery.sequence == 1
    if auto_approve:  # the candidate's access link comes with the approval, as for a person's approval
        approved = WebhookDelivery.model_validate_json(result.sent[1].value)
        assert (approved.event, approved.sequence) == (WebhookEvent.APPROVED, 2)
        assert interview.access_link is not None
        assert json.loads(approved.body)["data"]["accessLink"]["url"] == interview.access_link.url
    else:
        assert interview.access_link is None
    assert delivery.url == "https://ats.example.com/webhook"  # the interview's callbackUrl wins
    assert delivery.tenant_id == "tenant-uuid"
    body = json.loads(delivery.body)
    assert set(body) == {
        "event",
        "deliveryId",
        "runId",
        "interviewId",
        "tenantId",
        "candidateRef",
        "state",
        "timestamp",
        "data",
    }
    assert body["event"] == "interview.plan_generated"
    assert body["deliveryId"] == delivery.delivery_id
    assert body["runId"] == "agno-run-uuid"
    assert body["interviewId"] == "interview-uuid"
    assert body["tenantId"] == "tenant-uuid"
    assert body["state"] == str(state)
    assert body["timestamp"] == step_ctx.now
    assert body["data"]["planId"] == generated.payload.plan_id
    assert body["data"]["autoApproved"] is auto_approve


def test_plan_generated_without_callback_uses_the_tenant_url() -> None:
    row, generated = _generating_row_and_plan()
    row.callback_url = None

    result = plan_generated(row, generated, ctx())

    delivery = WebhookDelivery.model_validate_json(result.sent[0].value)
    assert delivery.url == "https://ats.example.com/hook"


def test_plan_generated_redelivery_keeps_the_delivery_id() -> None:
    row, generated = _generating_row_and_plan()
    first = plan_generated(row, generated, ctx())
    assert first.interview is not None

    again = plan_generated(first.interview, generated, ctx())

    assert again.duplicate
    assert [m.value for m in again.sent] == [m.value for m in first.sent]


def test_plan_generated_in_the_wrong_state_is_dead_lettered() -> None:
    row = new_row()  # VALIDATING_SKILLS: no plan was being generated
    _, generated = _generating_row_and_plan()
    generated.tenant_id = TENANT_ID
    generated.interview_id = INTERVIEW_ID

    result = plan_generated(row, generated, ctx())

    assert result.dead_letter is not None
    assert result.dead_letter.reason is Reason.TRANSITION_FORBIDDEN
    assert result.interview is not None
    assert result.interview.state is State.VALIDATING_SKILLS
    assert result.interview.plan is None
    assert result.sent == []


# --- purity ---------------------------------------------------------------------------------


def test_domain_imports_neither_faust_nor_kafka() -> None:
    code = (
        "import sys, domain.steps, domain.planner, domain.assessor, domain.thinking, domain.access, domain.intake, "
        "domain.webhooks, tables.state_machine, tables.notifications, "
        "tables.interview, tables.webhook_queue, models.codec, models.deadletter\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'faust', 'mode', 'aiokafka', 'kafka'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_outside_request_with_nothing_to_plan_is_refused_before_any_row_moves() -> None:
    source = _outside_request()
    source.payload.skills = ["  ", ""]

    with pytest.raises(BadMessage) as caught:
        run_planner(None, source)

    assert caught.value.reason is Reason.SCHEMA
    assert "nothing to plan" in caught.value.message
