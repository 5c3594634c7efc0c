"""The offline planner (SPEC section 6): a deterministic langchain-core Runnable PlanRequest -> Plan."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from domain.planner import PlanRequest, build_planner, validated_skills
from models.payloads import Level
from models.plan import Plan

EXPECTED_DURATION: dict[Level, int] = {
    Level.JUNIOR: 30,
    Level.MID: 45,
    Level.SENIOR: 60,
    Level.LEAD: 60,
    Level.PRINCIPAL: 75,
}


def request(**changes: Any) -> PlanRequest:
    fields: dict[str, Any] = {
        "plan_id": "plan-1",
        "level": Level.SENIOR,
        "skills": ["TypeScript", "React", "Node.js"],
        "job_description": "Build scalable platform services...",
    }
    return PlanRequest(**{**fields, **changes})


def plan_of(req: PlanRequest) -> Plan:
    return build_planner().invoke(req).output


def aplan_of(req: PlanRequest) -> Plan:
    return asyncio.run(build_planner().ainvoke(req)).output


@pytest.mark.parametrize("run", [plan_of, aplan_of], ids=["invoke", "ainvoke"])
def test_seed_request_yields_a_valid_plan(run: Any) -> None:
    plan = run(request())

    assert isinstance(plan, Plan)
    assert plan.plan_id == "plan-1"
    assert [c.name for c in plan.competencies] == ["TypeScript", "React", "Node.js"]
    assert plan.duration_minutes == 60
    assert plan.greeting.strip()
    for competency in plan.competencies:
        assert competency.questions
        assert all(q.strip() for q in competency.questions)
        assert 1 <= competency.minimum_score <= 5
        assert competency.required


@pytest.mark.parametrize("level", list(Level))
def test_same_request_gives_the_same_plan(level: Level) -> None:
    req = request(level=level, position="Platform Engineer", candidate_name="Ada")

    first = plan_of(req)
    assert plan_of(req) == first
    assert aplan_of(req) == first
    assert plan_of(req.model_copy()).model_dump_json() == first.model_dump_json()


def test_invoke_and_ainvoke_agree() -> None:
    req = request(skills=["Go", "gRPC"], level=Level.MID)
    assert plan_of(req) == aplan_of(req)


@pytest.mark.parametrize(
    ("skills", "expected"),
    [
        (["Python", "python", "PYTHON"], ["Python"]),
        (["kafka", "Kafka", "Go"], ["kafka", "Go"]),
        (["  React  ", "react", "Node.js"], ["React", "Node.js"]),
        (["Machine   Learning", "machine learning"], ["Machine Learning"]),
        (["Straße", "STRASSE"], ["Straße"]),
        (["A", "", "  ", "B"], ["A", "B"]),
        (["C", "B", "A"], ["C", "B", "A"]),
    ],
)
def test_competencies_cover_every_skill_deduplicated_first_spelling_kept(
    skills: list[str], expected: list[str]
) -> None:
    assert validated_skills(skills) == expected
    plan = plan_of(request(skills=skills))
    assert [c.name for c in plan.competencies] == expected


@pytest.mark.parametrize("level", list(Level))
def test_duration_by_level(level: Level) -> None:
    assert plan_of(request(level=level)).duration_minutes == EXPECTED_DURATION[level]


@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize("minutes", [15, 90, 480])
def test_explicit_duration_wins(level: Level, minutes: int) -> None:
    assert plan_of(request(level=level, duration_minutes=minutes)).duration_minutes == minutes


def test_minimum_score_does_not_drop_with_seniority() -> None:
    scores = [plan_of(request(level=level)).competencies[0].minimum_score for level in Level]
    assert scores == sorted(scores)


def test_qualifications_stand_in_when_there_are_no_skills() -> None:
    plan = plan_of(request(skills=[], qualifications=["AWS Certified", "aws certified", "CKA"]))

    assert [c.name for c in plan.competencies] == ["AWS Certified", "CKA"]
    assert all(c.required for c in plan.competencies)


def test_with_skills_the_qualifications_are_not_competencies() -> None:
    plan = plan_of(request(skills=["Python"], qualifications=["AWS Certified"]))

    assert [c.name for c in plan.competencies] == ["Python"]


def test_blank_skills_let_the_qualifications_stand_in() -> None:
    # Intake accepts skills=["  "] with two qualifications (blank skills do not count), so the
    # planner must plan the qualifications rather than find nothing to plan.
    assert validated_skills(["  "], ["AWS Certified", "CKA"]) == ["AWS Certified", "CKA"]
    plan = plan_of(request(skills=["  "], qualifications=["AWS Certified", "CKA"]))
    assert [c.name for c in plan.competencies] == ["AWS Certified", "CKA"]


@pytest.mark.parametrize("count", [1, 2, 3, 6, 7, 13])
def test_weights_sum_to_one(count: int) -> None:
    plan = plan_of(request(skills=[f"skill-{n}" for n in range(count)]))

    assert len(plan.competencies) == count
    assert math.isclose(sum(c.weight for c in plan.competencies), 1.0, abs_tol=1e-3)
    assert all(0 < c.weight <= 1 for c in plan.competencies)


def test_greeting_names_candidate_position_and_skills() -> None:
    plan = plan_of(request(candidate_name="Ada", position="Platform Engineer"))

    assert "Ada" in plan.greeting
    assert "Platform Engineer" in plan.greeting
    for skill in ("TypeScript", "React", "Node.js"):
        assert skill in plan.greeting


@pytest.mark.parametrize(
    ("skills", "qualifications"),
    [([], []), (["", "  "], []), ([], ["   "])],
    ids=["empty", "blank-skills", "blank-qualifications"],
)
@pytest.mark.parametrize("run", [plan_of, aplan_of], ids=["invoke", "ainvoke"])
def test_nothing_to_plan_is_an_error(run: Any, skills: list[str], qualifications: list[str]) -> None:
    with pytest.raises(ValueError, match="nothing to plan"):
        run(request(skills=skills, qualifications=qualifications))


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
def test_offline_planner_reports_an_offline_run(run: str) -> None:
    planner = build_planner()
    thought = planner.invoke(request()) if run == "invoke" else asyncio.run(planner.ainvoke(request()))

    assert thought.output == plan_of(request())
    assert thought.report.agent == "planner"
    assert thought.report.model == "offline"
    assert thought.report.fallback_used is False
    assert thought.report.tokens_used == 0
    assert [step.node for step in thought.report.steps] == ["offline"]


def test_a_revised_plan_carries_the_instructions_in_every_competency() -> None:
    original = plan_of(request())
    revised = plan_of(request(instructions="  More depth on   testing  "))

    assert original.revision_instructions is None
    assert revised.revision_instructions == "More depth on testing"
    assert revised != original
    assert [c.name for c in revised.competencies] == [c.name for c in original.competencies]
    for before, after in zip(original.competencies, revised.competencies, strict=True):
        assert after.questions[:-1] == before.questions
        assert "More depth on testing" in after.questions[-1]
        assert before.name in after.questions[-1]
    assert plan_of(request(instructions="  More depth on   testing  ")) == revised


def test_blank_instructions_are_no_revision() -> None:
    assert plan_of(request(instructions="   ")) == plan_of(request())
