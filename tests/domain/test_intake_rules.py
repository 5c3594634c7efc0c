"""Intake rules of SPEC section 4 and the steps that apply them, without Kafka."""

from __future__ import annotations

import asyncio

import pytest

from domain import steps
from domain.intake import validate
from domain.planner import build_planner
from domain.tenants import TenantSettings
from models.base import utc_timestamp
from models.codec import BadMessage, Reason, decode_event
from models.envelope import Envelope
from models.payloads import DataQuality, InfoProvided, InterviewDetails, InterviewRequested, Severity
from models.topics import Topic
from tables.state_machine import State

COMPLETE = InterviewDetails(
    candidate_name="Ada",
    position="Engineer",
    level="senior",
    skills=["Kafka", "Python", "Go"],
    job_description="x" * 120,
)


def missing(details: InterviewDetails) -> dict[str, Severity]:
    return {m.field: m.severity for m in validate(details).missing_fields}


def test_complete_details_pass_with_an_excellent_grade() -> None:
    result = validate(COMPLETE)
    assert result.passed and result.warnings == [] and result.data_quality is DataQuality.EXCELLENT


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"candidate_name": None}, {"candidate": Severity.CRITICAL}),
        ({"position": " "}, {"position": Severity.CRITICAL}),
        ({"level": "WIZARD"}, {"level": Severity.HIGH}),
        ({"skills": []}, {"skills": Severity.HIGH}),
        ({"skills": [], "job_description": None}, {"skills": Severity.HIGH, "jobDescription": Severity.HIGH}),
        ({"skills": [], "qualifications": ["MSc"], "job_description": None}, {"jobDescription": Severity.HIGH}),
        ({"skills": [], "qualifications": ["MSc", "PhD"], "job_description": None}, {}),
    ],
)
def test_each_rule_names_its_field_and_severity(change: dict[str, object], expected: dict[str, Severity]) -> None:
    assert missing(COMPLETE.model_copy(update=change)) == expected
    assert all(m.question for m in validate(COMPLETE.model_copy(update=change)).missing_fields)


def test_medium_rules_only_warn_and_lower_the_grade() -> None:
    result = validate(COMPLETE.model_copy(update={"job_description": "short", "skills": ["Go"]}))
    assert result.passed and len(result.warnings) == 2 and result.data_quality is DataQuality.FAIR
    assert validate(COMPLETE.model_copy(update={"candidate_name": None})).data_quality is DataQuality.POOR


CONTEXT = steps.StepContext(
    tenant=TenantSettings(api_key="k" * 8, webhook_secret="s" * 8, webhook_url="https://ats.example.com/hook"),
    now=utc_timestamp(),
)


def requested(details: InterviewDetails, event_id: str = "e-1") -> Envelope[InterviewRequested]:
    return Envelope(
        event_type=Topic.INTERVIEW_REQUESTED,
        event_id=event_id,
        tenant_id="acme",
        run_id="run_1_abcdef01",
        interview_id="iv-1",
        timestamp=utc_timestamp(),
        payload=InterviewRequested.model_validate(details.model_dump()),
    )


def test_a_redelivered_event_changes_nothing_and_resends_the_same_bytes() -> None:
    first = steps.interview_requested(None, requested(COMPLETE), CONTEXT)
    assert first.interview is not None and first.interview.state is State.VALIDATING_SKILLS
    assert [m.topic for m in first.sent] == [Topic.SKILL_VALIDATION_REQUESTED]
    again = steps.interview_requested(first.interview, requested(COMPLETE), CONTEXT)
    assert again.duplicate and again.interview is None and again.sent == first.sent


def test_info_for_an_interview_not_waiting_for_it_is_refused_and_recorded() -> None:
    row = steps.interview_requested(None, requested(COMPLETE), CONTEXT).interview
    assert row is not None
    envelope: Envelope[InfoProvided] = Envelope(
        event_type=Topic.INFO_PROVIDED,
        event_id="e-2",
        tenant_id="acme",
        interview_id="iv-1",
        timestamp=utc_timestamp(),
        payload=InfoProvided(level="MID"),
    )
    result = steps.info_provided(row, envelope, CONTEXT)
    assert result.dead_letter is not None and result.dead_letter.reason is Reason.TRANSITION_FORBIDDEN
    assert result.interview is not None and result.interview.rejected_triggers[-1].state is State.VALIDATING_SKILLS
    other_tenant = envelope.model_copy(update={"tenant_id": "globex", "event_id": "e-3"})
    with pytest.raises(BadMessage):
        steps.info_provided(row, other_tenant, CONTEXT)


def test_planning_then_plan_generated_leads_to_pending_with_a_webhook() -> None:
    row = steps.interview_requested(None, requested(COMPLETE), CONTEXT).interview
    first = steps.interview_requested(None, requested(COMPLETE), CONTEXT).sent[0]
    skill_request = decode_event(first.value.encode(), Topic.SKILL_VALIDATION_REQUESTED)
    planned = asyncio.run(steps.skill_validation_requested(row, skill_request, CONTEXT, build_planner()))
    assert planned.interview is not None and planned.interview.state is State.GENERATING_PLAN
    plan_event = decode_event(planned.sent[0].value.encode(), Topic.PLAN_GENERATED)
    assert (plan_event.tenant_id, plan_event.run_id, plan_event.interview_id) == ("acme", "run_1_abcdef01", "iv-1")
    done = steps.plan_generated(planned.interview, plan_event, CONTEXT)
    assert done.interview is not None and done.interview.state is State.PENDING
    assert [m.topic for m in done.sent] == [Topic.WEBHOOK_OUTBOX]
