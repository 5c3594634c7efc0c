"""The planner: a langchain-core Runnable from a PlanRequest to a Thought[Plan] (SPEC section 6).

The default model is offline and deterministic: the same request always yields the same plan,
with no network and no key, so tests and local runs need nothing outside this machine. A configured
chat model is asked for the same plan and falls back to the offline one (see domain.thinking).
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field

from domain.thinking import ModelSettings, Thought, load_chat_model, thinking_runnable
from models.base import WireModel
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


# Added to every competency of a revised plan, so the revision shows in what is asked.
REVISION_QUESTION = (
    "The recruiter asked for this revision: {instructions}. How does your {skill} experience bear on it?"
)
# A job description can be 100,000 characters; the model gets the start, within any sane token budget.
PROMPT_JOB_DESCRIPTION_CHARS = 4000
MAX_DURATION_MINUTES = 480  # the longest interview intake accepts


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


def revision_instructions(request: PlanRequest) -> str | None:
    """The recruiter's revision instructions, whitespace collapsed; None when there are none."""
    text = " ".join((request.instructions or "").split())
    return text or None


def offline_plan(request: PlanRequest) -> Plan:
    skills = validated_skills(request.skills, request.qualifications)
    if not skills:
        raise ValueError("nothing to plan: no skills or qualifications")
    weight = round(1 / len(skills), 4)
    instructions = revision_instructions(request)
    competencies = [
        Competency(
            name=skill,
            weight=weight,
            required=True,  # every skill covered was asked for (qualifications stand in only for none)
            minimum_score=MINIMUM_SCORE_BY_LEVEL[request.level],
            questions=[q.format(skill=skill) for q in QUESTION_TEMPLATES[request.level]]
            + ([REVISION_QUESTION.format(skill=skill, instructions=instructions)] if instructions else []),
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
        revision_instructions=instructions,
    )


async def _aoffline_plan(request: PlanRequest) -> Plan:
    # Pure CPU work in microseconds: run it inline instead of in langchain's thread pool.
    return offline_plan(request)


def offline_planner() -> Runnable[PlanRequest, Plan]:
    return RunnableLambda(offline_plan, afunc=_aoffline_plan, name="offline_planner")


PLANNER_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You plan structured job interviews. Cover every skill listed with one competency of the same "
            "name, with weights summing to 1 and 2-4 questions each, pitched at the candidate's level.\n"
            "{format_instructions}",
        ),
        (
            "human",
            "Level: {level}\nPosition: {position}\nSkills: {skills}\nDuration (minutes): {duration}\n"
            "Job description: {job_description}\nRecruiter's instructions: {instructions}",
        ),
    ]
)


def _prompt_vars(request: PlanRequest) -> dict[str, object]:
    skills = validated_skills(request.skills, request.qualifications)
    if not skills:
        # Raised before any model call (prompt errors propagate): no tokens spent on an empty request.
        raise ValueError("nothing to plan: no skills or qualifications")
    return {
        "level": request.level,
        "position": request.position or "(not given)",
        "skills": ", ".join(skills),
        "duration": request.duration_minutes or DURATION_BY_LEVEL[request.level],
        "job_description": request.job_description[:PROMPT_JOB_DESCRIPTION_CHARS] or "(not given)",
        "instructions": revision_instructions(request) or "(none)",
    }


class PlanDraft(WireModel):
    """What a chat model is asked for: a Plan without the ids, which are ours to give."""

    competencies: list[Competency] = Field(min_length=1)
    duration_minutes: int  # checked in _finalize, so a bad one reads as such in the run report
    greeting: str


def _finalize(request: PlanRequest, draft: PlanDraft) -> Plan:
    """The model's draft as a Plan, once it covers every skill asked for, each once."""
    skills = {s.casefold(): s for s in validated_skills(request.skills, request.qualifications)}
    competencies: list[Competency] = []
    seen: set[str] = set()
    for competency in draft.competencies:
        key = " ".join(competency.name.casefold().split())
        if key in seen:
            raise ValueError(f"plan has competency {competency.name!r} twice")
        seen.add(key)
        # The request's spelling, so the plan's names match the validated skills exactly.
        competencies.append(competency.model_copy(update={"name": skills.get(key, competency.name)}))
    if missing := [skill for key, skill in skills.items() if key not in seen]:
        raise ValueError(f"plan does not cover {', '.join(missing)}")
    # A duration the recruiting system asked for is a constraint, like the id.
    duration = request.duration_minutes or draft.duration_minutes
    if not 0 < duration <= MAX_DURATION_MINUTES:
        raise ValueError(f"plan duration must be 1-{MAX_DURATION_MINUTES} minutes, got {duration}")
    return Plan(
        plan_id=request.plan_id,
        competencies=competencies,
        duration_minutes=duration,
        greeting=draft.greeting,
        revision_instructions=revision_instructions(request),
    )


def build_planner(
    settings: ModelSettings | None = None, chat_model: BaseChatModel | None = None
) -> Runnable[PlanRequest, Thought[Plan]]:
    """The planner the worker uses: ``chat_model`` (or the one ``settings`` names) with the offline fallback."""
    settings = settings or ModelSettings()
    return thinking_runnable(
        "planner",
        offline=offline_planner(),
        output_model=PlanDraft,
        prompt=PLANNER_PROMPT,
        prompt_vars=_prompt_vars,
        finalize=_finalize,
        chat_model=chat_model if chat_model is not None else load_chat_model(settings),
        settings=settings,
    )
