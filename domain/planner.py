"""The planner: a langchain-core Runnable from a PlanRequest to a Plan (SPEC section 6).

The default model is offline and deterministic: the same request always yields the same plan,
with no network and no key, so tests and local runs need nothing outside this machine.
"""

from __future__ import annotations

from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field

from models.payloads import Level
from models.plan import Competency, Plan

DURATION_BY_LEVEL: dict[Level, int] = {
    Level.JUNIOR: 30,
    Level.MID: 45,
    Level.SENIOR: 60,
    Level.LEAD: 60,
    Level.PRINCIPAL: 75,
}
MINIMUM_SCORE_BY_LEVEL: dict[Level, int] = {
    Level.JUNIOR: 2,
    Level.MID: 3,
    Level.SENIOR: 3,
    Level.LEAD: 4,
    Level.PRINCIPAL: 4,
}
QUESTION_TEMPLATES: dict[Level, tuple[str, ...]] = {
    Level.JUNIOR: (
        "What have you built with {skill}, and what did you learn doing it?",
        "How would you find out why something in {skill} does not work as expected?",
    ),
    Level.MID: (
        "Tell me about a feature you delivered with {skill}: what trade-offs did you make?",
        "How do you test and debug {skill} code in production?",
    ),
    Level.SENIOR: (
        "Describe a system where {skill} was central: how did you design it to scale?",
        "What are the sharp edges of {skill} that you now design around?",
        "How do you review and raise the quality of a team's {skill} work?",
    ),
    Level.LEAD: (
        "How did you set the technical direction for {skill} across a team?",
        "Tell me about a {skill} decision you had to reverse: what did you change and why?",
        "How do you grow engineers' depth in {skill}?",
    ),
    Level.PRINCIPAL: (
        "Where does {skill} fit in your organisation's architecture, and where should it not be used?",
        "Describe a cross-team problem involving {skill} that you resolved.",
        "How do you evaluate whether to adopt or retire {skill}?",
    ),
}


class PlanRequest(BaseModel):
    plan_id: str
    level: Level
    skills: list[str] = Field(default_factory=list)
    qualifications: list[str] = Field(default_factory=list)
    job_description: str = ""
    position: str | None = None
    candidate_name: str | None = None
    duration_minutes: int | None = None
    instructions: str | None = None


def validated_skills(skills: list[str], qualifications: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """Skills trimmed and de-duplicated case-insensitively, first spelling kept, order kept.

    With no skills at all the qualifications stand in, so every plan has something to cover.
    """
    seen: set[str] = set()
    result: list[str] = []
    has_skills = any(s.strip() for s in skills)
    for raw in skills if has_skills else qualifications:
        skill = " ".join(raw.split())
        if skill and skill.casefold() not in seen:
            seen.add(skill.casefold())
            result.append(skill)
    return result


def offline_plan(request: PlanRequest) -> Plan:
    skills = validated_skills(request.skills, request.qualifications)
    if not skills:
        raise ValueError("nothing to plan: no skills or qualifications")
    required = {s.casefold() for s in validated_skills(request.skills)} or {s.casefold() for s in skills}
    weight = round(1 / len(skills), 4)
    competencies = [
        Competency(
            name=skill,
            weight=weight,
            required=skill.casefold() in required,
            minimum_score=MINIMUM_SCORE_BY_LEVEL[request.level],
            questions=[q.format(skill=skill) for q in QUESTION_TEMPLATES[request.level]],
        )
        for skill in skills
    ]
    who = f" {request.candidate_name}" if request.candidate_name else ""
    role = f" for the {request.position} role" if request.position else ""
    return Plan(
        plan_id=request.plan_id,
        competencies=competencies,
        duration_minutes=request.duration_minutes or DURATION_BY_LEVEL[request.level],
        greeting=f"Hello{who}, welcome to your interview{role}. We will talk about {', '.join(skills)}.",
    )


async def _aoffline_plan(request: PlanRequest) -> Plan:
    # Pure CPU work in microseconds: run it inline instead of in langchain's thread pool.
    return offline_plan(request)


def offline_planner() -> Runnable[PlanRequest, Plan]:
    return RunnableLambda(offline_plan, afunc=_aoffline_plan, name="offline_planner")


def build_planner() -> Runnable[PlanRequest, Plan]:
    """The planner the worker uses. A configured chat model with fallbacks plugs in here."""
    return offline_planner()
