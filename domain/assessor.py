"""The assessor: a langchain-core Runnable from a finished interview to an assessment (SPEC section 6).

The default model is offline and deterministic: it scores every planned competency from what the
candidate said about it, so the same transcript always gets the same assessment, with no network and
no key. A configured chat model is asked for the same assessment and falls back to the offline one.
"""

from __future__ import annotations

import math
import re

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field

from domain.thinking import ModelSettings, Thought, load_chat_model, thinking_runnable
from models.base import WireModel
from models.payloads import AssessmentCompleted, CompetencyScore, Level, Recommendation, TranscriptLine
from models.plan import Competency, Plan

CANDIDATE_SPEAKER = "candidate"
# When no line is marked "candidate", everyone but the interviewing side counts as the candidate.
NOT_CANDIDATE = frozenset({"interviewer", "assistant", "ai", "system"})
EVIDENCE_KEPT = 3
EVIDENCE_CHARS = 300
# Words of a multi-word competency too common to tie an answer to it ("Python programming" matches on "python").
STOP_WORDS = frozenset(
    {"and", "or", "the", "of", "for", "with", "in", "on", "to", "a", "an", "at", "by", "skill", "skills"}
    | {"development", "engineering", "programming", "experience", "knowledge"}
)
# Overall score (0-100) from which each recommendation is given.
STRONG_HIRE_FROM = 80
HIRE_FROM = 60
MAYBE_FROM = 35


class AssessmentRequest(BaseModel):
    assessment_id: str
    plan: Plan
    level: Level | None = None
    transcript: list[TranscriptLine] = Field(default_factory=list)


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def candidate_lines(transcript: list[TranscriptLine]) -> list[str]:
    """What the candidate said: lines by "candidate", else every line not by the interviewing side."""
    said = [line.text for line in transcript if line.speaker.strip().casefold() == CANDIDATE_SPEAKER]
    if not said:
        said = [line.text for line in transcript if line.speaker.strip().casefold() not in NOT_CANDIDATE]
    return [text.strip() for text in said if text.strip()]


def keywords(name: str) -> list[str]:
    """The whole name, plus each significant word of a multi-word name ("Machine Learning" -> "learning")."""
    whole = _key(name)
    words = re.findall(r"[\w+#]+(?:[.\-/][\w+#]+)*", whole)
    if len(words) <= 1:
        return [whole]
    significant = [w for w in words if w not in STOP_WORDS and (len(w) >= 3 or not w.isalnum())]
    return [whole, *dict.fromkeys(significant)]


def mentions(text: str, terms: list[str]) -> bool:
    lowered = text.casefold()
    # Word boundaries by hand: \b fails next to "+" or "#" ("C++", "C#").
    return any(re.search(rf"(?<!\w){re.escape(term)}(?!\w)", lowered) for term in terms)


def _quote(text: str) -> str:
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 3].rstrip() + "..."


def score_competency(competency: Competency, said: list[str]) -> CompetencyScore:
    """1 with no evidence; more, and longer, answers about the competency score higher (up to 5)."""
    terms = keywords(competency.name)
    relevant = [text for text in said if mentions(text, terms)]
    if not relevant:
        return CompetencyScore(name=competency.name, score=1, evidence=[])
    words = sum(len(text.split()) for text in relevant)
    score = 2 + (len(relevant) >= 2) + (words >= 15) + (words >= 40)
    # Quote the longest answers (earliest first on ties), in the order they were given.
    kept = sorted(sorted(range(len(relevant)), key=lambda i: -len(relevant[i]))[:EVIDENCE_KEPT])
    return CompetencyScore(name=competency.name, score=min(score, 5), evidence=[_quote(relevant[i]) for i in kept])


def _scores_by_name(scores: list[CompetencyScore]) -> dict[str, int]:
    return {_key(s.name): s.score for s in scores}


def overall_score(plan: Plan, scores: list[CompetencyScore]) -> int:
    """Weight-averaged (score - 1) / 4 as 0-100, half up; equal weights when the plan's are all zero."""
    by_name = _scores_by_name(scores)
    total_weight = sum(c.weight for c in plan.competencies)
    weights = [c.weight if total_weight else 1.0 for c in plan.competencies]
    points = [(by_name.get(_key(c.name), 1) - 1) / 4 for c in plan.competencies]
    average = 100 * sum(w * p for w, p in zip(weights, points, strict=True)) / sum(weights)
    # round(..., 9) first: 77.5 computed from float weights can come out as 77.49999999999999.
    return min(100, max(0, math.floor(round(average, 9) + 0.5)))


def short_of_minimum(plan: Plan, scores: list[CompetencyScore]) -> list[Competency]:
    """Required competencies scored below their minimum."""
    by_name = _scores_by_name(scores)
    return [c for c in plan.competencies if c.required and by_name.get(_key(c.name), 1) < c.minimum_score]


def recommendation(plan: Plan, scores: list[CompetencyScore], overall: int) -> Recommendation:
    """By overall score, never better than MAYBE while a required competency is below its minimum."""
    if overall >= STRONG_HIRE_FROM:
        verdict = Recommendation.STRONG_HIRE
    elif overall >= HIRE_FROM:
        verdict = Recommendation.HIRE
    elif overall >= MAYBE_FROM:
        verdict = Recommendation.MAYBE
    else:
        verdict = Recommendation.NO_HIRE
    if verdict in (Recommendation.STRONG_HIRE, Recommendation.HIRE) and short_of_minimum(plan, scores):
        return Recommendation.MAYBE
    return verdict


def summary(plan: Plan, scores: list[CompetencyScore], overall: int, verdict: Recommendation, said: list[str]) -> str:
    # max/min keep the first on ties, so plan order decides between equal scores.
    strongest = max(scores, key=lambda s: s.score)
    weakest = min(scores, key=lambda s: s.score)
    text = (
        f"Overall {overall}/100, {verdict}: strongest {strongest.name} ({strongest.score}/5), "
        f"weakest {weakest.name} ({weakest.score}/5)."
    )
    if short := short_of_minimum(plan, scores):
        text += " Below the required minimum: " + ", ".join(f"{c.name} (needs {c.minimum_score})" for c in short) + "."
    if not said:
        text += " The transcript holds no answers from the candidate."
    return text


def offline_assessment(request: AssessmentRequest) -> AssessmentCompleted:
    said = candidate_lines(request.transcript)
    scores = [score_competency(c, said) for c in request.plan.competencies]
    overall = overall_score(request.plan, scores)
    verdict = recommendation(request.plan, scores, overall)
    return AssessmentCompleted(
        assessment_id=request.assessment_id,
        plan_id=request.plan.plan_id,
        overall_score=overall,
        recommendation=verdict,
        competency_scores=scores,
        summary=summary(request.plan, scores, overall, verdict, said),
    )


async def _aoffline_assessment(request: AssessmentRequest) -> AssessmentCompleted:
    return offline_assessment(request)  # microseconds of CPU: no thread pool


def offline_assessor() -> Runnable[AssessmentRequest, AssessmentCompleted]:
    return RunnableLambda(offline_assessment, afunc=_aoffline_assessment, name="offline_assessor")


class DraftScore(WireModel):
    name: str
    score: int  # unbounded here: an out-of-range score is clamped, not a reason to ask again
    evidence: list[str] = Field(default_factory=list)


class AssessmentDraft(WireModel):
    """What a chat model is asked for: the assessment without the ids, which are ours to give."""

    overall_score: int
    recommendation: Recommendation
    competency_scores: list[DraftScore]
    summary: str


ASSESSOR_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You assess finished job interviews. Score every competency of the plan, and no other, from 1 "
            "to 5, quoting the candidate's own words as evidence. Give an overall score from 0 to 100, a "
            "recommendation (never better than MAYBE when a required competency is below its minimum) "
            "and a one-sentence summary naming the strongest and weakest competencies.\n"
            "{format_instructions}",
        ),
        ("human", "Level: {level}\nCompetencies:\n{competencies}\nTranscript:\n{transcript}"),
    ]
)


def _prompt_vars(request: AssessmentRequest) -> dict[str, object]:
    return {
        "level": request.level or "(not given)",
        "competencies": "\n".join(
            f"- {c.name}: weight {c.weight}, minimum score {c.minimum_score}{', required' if c.required else ''}"
            for c in request.plan.competencies
        ),
        "transcript": "\n".join(f"{line.speaker}: {line.text}" for line in request.transcript) or "(empty)",
    }


def _finalize(request: AssessmentRequest, draft: AssessmentDraft) -> AssessmentCompleted:
    """The model's draft as an assessment, once it scores exactly the planned competencies."""
    planned = {_key(c.name): c.name for c in request.plan.competencies}
    by_name: dict[str, DraftScore] = {}
    for score in draft.competency_scores:
        key = _key(score.name)
        if key in by_name:
            raise ValueError(f"assessment scores {score.name!r} twice")
        by_name[key] = score
    if missing := [name for key, name in planned.items() if key not in by_name]:
        raise ValueError(f"assessment does not score {', '.join(missing)}")
    if unknown := [s.name for key, s in by_name.items() if key not in planned]:
        raise ValueError(f"assessment scores competencies not in the plan: {', '.join(unknown)}")
    # The plan's spelling and order, so readers can look scores up by the plan's names.
    scores = [
        CompetencyScore(name=name, score=min(5, max(1, by_name[key].score)), evidence=by_name[key].evidence)
        for key, name in planned.items()
    ]
    return AssessmentCompleted(
        assessment_id=request.assessment_id,
        plan_id=request.plan.plan_id,
        overall_score=min(100, max(0, draft.overall_score)),
        recommendation=draft.recommendation,
        competency_scores=scores,
        summary=draft.summary,
    )


def build_assessor(
    settings: ModelSettings | None = None, chat_model: BaseChatModel | None = None
) -> Runnable[AssessmentRequest, Thought[AssessmentCompleted]]:
    """The assessor the worker uses: ``chat_model`` (or the one ``settings`` names) with the offline fallback."""
    settings = settings or ModelSettings()
    return thinking_runnable(
        "assessor",
        offline=offline_assessor(),
        output_model=AssessmentDraft,
        prompt=ASSESSOR_PROMPT,
        prompt_vars=_prompt_vars,
        finalize=_finalize,
        chat_model=chat_model if chat_model is not None else load_chat_model(settings),
        settings=settings,
    )
