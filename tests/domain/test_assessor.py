"""The assessor (SPEC section 6): offline scoring from the transcript, and a fake chat model's structured output."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, FakeMessagesListChatModel
from langchain_core.messages import AIMessage

from domain.assessor import (
    AssessmentRequest,
    build_assessor,
    candidate_lines,
    offline_assessment,
    offline_assessor,
    recommendation,
    score_competency,
)
from domain.thinking import ModelSettings
from models.payloads import AssessmentCompleted, CompetencyScore, Level, Recommendation, TranscriptLine
from models.plan import Competency, Plan


def competency(name: str, weight: float, *, required: bool = True, minimum: int = 3) -> Competency:
    return Competency(name=name, weight=weight, required=required, minimum_score=minimum, questions=[f"{name}?"])


PLAN = Plan(
    plan_id="plan-7",
    competencies=[
        competency("Python", 0.5),
        competency("Kafka", 0.3),
        competency("Machine Learning", 0.2, required=False, minimum=2),
    ],
    duration_minutes=60,
    greeting="Hello.",
)

STRONG = [
    ("interviewer", "Tell me about Python, Kafka and machine learning in your last role."),
    (
        "candidate",
        "I have written Python services for eight years, mostly asyncio web backends and data pipelines "
        "with typed code and thorough tests.",
    ),
    (
        "candidate",
        "In Python I profile before optimising, and I moved our hot paths to vectorised numpy which cut "
        "latency in half.",
    ),
    (
        "candidate",
        "Our Kafka cluster handled two million events per second; I tuned partitions, consumer groups and "
        "exactly-once producers myself.",
    ),
    (
        "candidate",
        "When Kafka consumers lagged I added backpressure and watched lag per partition with alerts and "
        "dashboards for every consumer group.",
    ),
    (
        "candidate",
        "On machine learning I trained gradient boosted models for fraud detection and served them behind a "
        "feature service with nightly retraining.",
    ),
    ("interviewer", "Thanks, that is all from me."),
]
WEAK = [
    ("interviewer", "Tell me about Python, Kafka and machine learning in your last role, in depth please."),
    ("candidate", "I used Python a bit."),
    ("candidate", "Not much else, sorry."),
]


def transcript(lines: list[tuple[str, str]]) -> list[TranscriptLine]:
    return [TranscriptLine(speaker=speaker, text=text) for speaker, text in lines]


def request(lines: list[tuple[str, str]], plan: Plan = PLAN) -> AssessmentRequest:
    return AssessmentRequest(assessment_id="asmt-1", plan=plan, level=Level.SENIOR, transcript=transcript(lines))


def assess(lines: list[tuple[str, str]], plan: Plan = PLAN) -> AssessmentCompleted:
    return offline_assessor().invoke(request(lines, plan))


def scores_of(assessment: AssessmentCompleted) -> dict[str, int]:
    return {s.name: s.score for s in assessment.competency_scores}


def expected_overall(plan: Plan, scores: dict[str, int]) -> int:
    total = sum(c.weight for c in plan.competencies)
    value = sum(c.weight * (scores[c.name] - 1) / 4 * 100 for c in plan.competencies) / total
    return math.floor(round(value, 9) + 0.5)


# --- offline: determinism and coverage -----------------------------------------------------


async def test_the_same_interview_gets_the_same_assessment() -> None:
    first = assess(STRONG)

    assert assess(STRONG) == first
    assert await offline_assessor().ainvoke(request(STRONG)) == first
    thought = await build_assessor().ainvoke(request(STRONG))
    assert thought.output.model_dump_json() == first.model_dump_json()
    assert thought.report.model == "offline"
    assert thought.report.agent == "assessor"
    assert thought.report.fallback_used is False
    assert [step.node for step in thought.report.steps] == ["offline"]


@pytest.mark.parametrize("lines", [STRONG, WEAK, []], ids=["strong", "weak", "empty"])
def test_every_planned_competency_is_scored_once_in_plan_order(lines: list[tuple[str, str]]) -> None:
    assessment = assess(lines)

    assert assessment.assessment_id == "asmt-1"
    assert assessment.plan_id == "plan-7"
    assert [s.name for s in assessment.competency_scores] == ["Python", "Kafka", "Machine Learning"]
    assert all(1 <= s.score <= 5 for s in assessment.competency_scores)
    assert 0 <= assessment.overall_score <= 100


# --- offline: evidence ---------------------------------------------------------------------


def test_evidence_is_quoted_from_the_candidates_lines_only() -> None:
    assessment = assess(STRONG)
    said = [text for speaker, text in STRONG if speaker == "candidate"]

    assert all(s.evidence for s in assessment.competency_scores)
    for score in assessment.competency_scores:
        for quote in score.evidence:
            assert quote in said
            assert score.name.split()[0].casefold() in quote.casefold()


def test_the_interviewer_naming_a_competency_is_no_evidence() -> None:
    lines = [("interviewer", "Kafka Kafka Kafka: tell me everything about Kafka " * 5), ("candidate", "I like Python.")]
    scores = assess(lines).competency_scores

    assert scores[1] == CompetencyScore(name="Kafka", score=1, evidence=[])
    assert scores[0].evidence == ["I like Python."]


def test_candidate_speaker_is_matched_case_insensitively() -> None:
    lines = [("Interviewer", "Python?"), ("CANDIDATE", "Python every day."), ("Candidate", "And Kafka too.")]
    assert candidate_lines(transcript(lines)) == ["Python every day.", "And Kafka too."]


def test_without_a_candidate_speaker_everyone_but_the_interviewing_side_counts() -> None:
    lines = [
        ("Interviewer", "Python?"),
        ("AI", "Python and Kafka are on the plan."),
        ("assistant", "Kafka noted."),
        ("System", "Recording Kafka session."),
        ("Ada", "I write Python daily."),
    ]
    assert candidate_lines(transcript(lines)) == ["I write Python daily."]
    scores = scores_of(assess(lines))
    assert scores == {"Python": 2, "Kafka": 1, "Machine Learning": 1}


@pytest.mark.parametrize(
    ("name", "text", "matches"),
    [
        ("Machine Learning", "I tune learning rates for our models.", True),
        ("Machine Learning", "I maintain the machine images.", True),
        ("Machine Learning", "We use ML a lot.", False),
        ("Go", "It was a good project and going well.", False),
        ("Go", "I rewrote the service in Go last year.", True),
        ("Java", "Mostly JavaScript on the front end.", False),
        ("C++", "I write C++ for trading systems.", True),
        ("Node.js", "Our API runs on node.js behind nginx.", True),
        ("Python programming", "Programming is fun.", False),
        ("Python programming", "python all the way", True),
    ],
)
def test_competency_names_match_whole_words(name: str, text: str, matches: bool) -> None:
    score = score_competency(competency(name, 1.0), [text])
    assert (score.score > 1) is matches
    assert score.evidence == ([text] if matches else [])


def test_evidence_keeps_the_three_longest_answers_in_order_and_quotes_long_ones_in_part() -> None:
    long_answer = "Kafka " + "partitions and offsets " * 40
    said = ["Kafka one.", "Kafka is a log, two.", long_answer, "Kafka three three three.", "Kafka ok."]
    score = score_competency(competency("Kafka", 1.0), said)

    assert len(score.evidence) == 3
    assert score.evidence[0] == "Kafka is a log, two."
    assert score.evidence[2] == "Kafka three three three."
    quoted = score.evidence[1]
    assert quoted.endswith("...")
    assert len(quoted) <= 300
    assert long_answer.startswith(quoted.removesuffix("..."))


# --- offline: scores -----------------------------------------------------------------------


def test_more_and_longer_answers_score_higher() -> None:
    kafka = competency("Kafka", 1.0)
    short = "I know Kafka."
    long = "With Kafka I designed the partitioning scheme, the retention policy and the consumer groups in production."
    longer = long + " I also ran the upgrade to KRaft and wrote the runbooks for rebalancing under load."

    assert score_competency(kafka, []).score == 1
    assert score_competency(kafka, ["Nothing relevant here."]).score == 1
    assert score_competency(kafka, [short]).score == 2
    assert score_competency(kafka, [short, short]).score == 3
    assert score_competency(kafka, [long]).score == 3
    assert score_competency(kafka, [long, longer]).score == 5
    assert score_competency(kafka, [long, longer, longer, longer]).score == 5  # capped
    growing = [score_competency(kafka, [short] * n + [long] * m).score for n in range(3) for m in range(3)]
    assert all(1 <= s <= 5 for s in growing)


def test_a_stronger_transcript_scores_higher() -> None:
    strong, weak = assess(STRONG), assess(WEAK)

    for better, worse in zip(strong.competency_scores, weak.competency_scores, strict=True):
        assert better.score >= worse.score
    assert strong.overall_score > weak.overall_score
    order = [Recommendation.NO_HIRE, Recommendation.MAYBE, Recommendation.HIRE, Recommendation.STRONG_HIRE]
    assert order.index(strong.recommendation) > order.index(weak.recommendation)
    assert strong.recommendation is Recommendation.STRONG_HIRE
    assert weak.recommendation is Recommendation.NO_HIRE


@pytest.mark.parametrize("lines", [STRONG, WEAK, STRONG[:4]], ids=["strong", "weak", "partial"])
def test_overall_is_the_weighted_average_of_the_scores(lines: list[tuple[str, str]]) -> None:
    assessment = assess(lines)
    assert assessment.overall_score == expected_overall(PLAN, scores_of(assessment))


def test_zero_weights_count_equally() -> None:
    plan = PLAN.model_copy(update={"competencies": [c.model_copy(update={"weight": 0}) for c in PLAN.competencies]})
    assessment = assess(WEAK, plan)

    assert scores_of(assessment) == {"Python": 2, "Kafka": 1, "Machine Learning": 1}
    assert assessment.overall_score == 8  # (25 + 0 + 0) / 3, rounded


@pytest.mark.parametrize(
    ("overall", "expected"),
    [
        (100, Recommendation.STRONG_HIRE),
        (80, Recommendation.STRONG_HIRE),
        (79, Recommendation.HIRE),
        (60, Recommendation.HIRE),
        (59, Recommendation.MAYBE),
        (35, Recommendation.MAYBE),
        (34, Recommendation.NO_HIRE),
        (0, Recommendation.NO_HIRE),
    ],
)
def test_recommendation_by_overall_score(overall: int, expected: Recommendation) -> None:
    all_fives = [CompetencyScore(name=c.name, score=5) for c in PLAN.competencies]
    assert recommendation(PLAN, all_fives, overall) is expected


def test_a_required_competency_below_its_minimum_caps_the_recommendation_at_maybe() -> None:
    python_answers = [
        ("candidate", "Python has been my main language for a decade, from Django monoliths to asyncio services."),
        ("candidate", "I led our Python typing migration and wrote the internal style guide and lint rules."),
        ("candidate", "I mentor juniors on Python testing with pytest and property based tests."),
    ]
    lines = [*python_answers, ("candidate", "Kafka I only read about.")]
    plan = Plan(
        plan_id="plan-7",
        competencies=[competency("Python", 0.7), competency("Kafka", 0.3, minimum=3)],
        duration_minutes=60,
        greeting="Hello.",
    )
    capped = assess(lines, plan)

    assert scores_of(capped) == {"Python": 5, "Kafka": 2}
    assert capped.overall_score == 78  # 0.7 * 100 + 0.3 * 25, half up
    assert capped.recommendation is Recommendation.MAYBE
    assert "Kafka (needs 3)" in capped.summary

    optional = plan.model_copy(
        update={"competencies": [plan.competencies[0], competency("Kafka", 0.3, required=False, minimum=3)]}
    )
    uncapped = assess(lines, optional)
    assert uncapped.overall_score == 78
    assert uncapped.recommendation is Recommendation.HIRE
    assert "needs" not in uncapped.summary

    # Meeting the minimum lifts the cap.
    lines_meeting = [*python_answers, ("candidate", "Kafka I ran in production."), ("candidate", "Kafka, yes.")]
    assert assess(lines_meeting, plan).recommendation in (Recommendation.HIRE, Recommendation.STRONG_HIRE)


def test_the_summary_names_the_strongest_and_weakest_competencies() -> None:
    lines = [*STRONG[1:3], ("candidate", "Kafka I only read about.")]
    assessment = assess(lines)

    assert scores_of(assessment) == {"Python": 5, "Kafka": 2, "Machine Learning": 1}
    assert "strongest Python (5/5)" in assessment.summary
    assert "weakest Machine Learning (1/5)" in assessment.summary
    assert f"{assessment.overall_score}/100" in assessment.summary


@pytest.mark.parametrize("lines", [[], [("interviewer", "Hello? Python? Kafka?")]], ids=["empty", "interviewer-only"])
def test_an_interview_without_answers_scores_all_ones(lines: list[tuple[str, str]]) -> None:
    assessment = assess(lines)

    assert all(s.score == 1 and s.evidence == [] for s in assessment.competency_scores)
    assert assessment.overall_score == 0
    assert assessment.recommendation is Recommendation.NO_HIRE
    assert "no answers from the candidate" in assessment.summary


def test_assessment_request_needs_only_ids_and_plan() -> None:
    req = AssessmentRequest(assessment_id="asmt-2", plan=PLAN, level=None, transcript=[])
    assert offline_assessment(req).plan_id == "plan-7"


# --- with a (fake) chat model --------------------------------------------------------------


def model_answer(scores: list[tuple[str, int]], **changes: Any) -> str:
    body: dict[str, Any] = {
        "assessmentId": "made-up",
        "planId": "made-up-too",
        "overallScore": 64,
        "recommendation": "HIRE",
        "competencyScores": [{"name": n, "score": s, "evidence": [f"said {n}"]} for n, s in scores],
        "summary": "Solid Python, thin on Kafka.",
    }
    return "```json\n" + json.dumps({**body, **changes}) + "\n```"


GOOD_SCORES = [("machine learning", 3), ("KAFKA", 0), ("python", 7)]


async def test_structured_output_from_the_model_becomes_the_assessment() -> None:
    model = FakeListChatModel(responses=[model_answer(GOOD_SCORES, overallScore=150)])
    thought = await build_assessor(chat_model=model).ainvoke(request(STRONG))

    assessment = thought.output
    assert (assessment.assessment_id, assessment.plan_id) == ("asmt-1", "plan-7")
    # The plan's spelling and order; out-of-range numbers clamped; nothing else recomputed.
    assert [(s.name, s.score) for s in assessment.competency_scores] == [
        ("Python", 5),
        ("Kafka", 1),
        ("Machine Learning", 3),
    ]
    assert assessment.competency_scores[0].evidence == ["said python"]
    assert assessment.overall_score == 100
    assert assessment.recommendation is Recommendation.HIRE
    assert assessment.summary == "Solid Python, thin on Kafka."
    report = thought.report
    assert (report.model, report.attempts, report.fallback_used) == ("FakeListChatModel", 1, False)
    assert report.tokens_used > 0
    assert [step.node for step in report.steps] == ["model_call", "parse", "validate"]


@pytest.mark.parametrize(
    ("first", "error"),
    [
        (model_answer([("Python", 4), ("Kafka", 3)]), "does not score Machine Learning"),
        (model_answer([*GOOD_SCORES, ("Rust", 4)]), "not in the plan: Rust"),
        (model_answer([*GOOD_SCORES, ("Python", 2)]), "scores 'Python' twice"),
        (model_answer(GOOD_SCORES, recommendation="HIRE!!"), "OutputParserException"),
        ("The candidate did great.", "OutputParserException"),
    ],
    ids=["missing", "unknown", "duplicate", "bad-recommendation", "prose"],
)
def test_an_assessment_not_meeting_the_plan_is_retried(first: str, error: str) -> None:
    model = FakeMessagesListChatModel(
        responses=[AIMessage(content=first), AIMessage(content=model_answer(GOOD_SCORES))]
    )
    thought = build_assessor(chat_model=model).invoke(request(STRONG))

    assert thought.report.attempts == 2
    assert thought.report.fallback_used is False
    assert error in " ".join(step.message for step in thought.report.steps)
    assert scores_of(thought.output) == {"Python": 5, "Kafka": 1, "Machine Learning": 3}


def test_only_bad_assessments_fall_back_to_the_offline_one() -> None:
    model = FakeListChatModel(responses=[model_answer([("Python", 4)])])
    thought = build_assessor(ModelSettings(max_attempts=3), chat_model=model).invoke(request(STRONG))

    assert thought.output == assess(STRONG)
    assert thought.report.attempts == 3
    assert thought.report.fallback_used is True
    assert thought.report.fallback_reason is not None
    assert thought.report.fallback_reason.startswith("model output unparsable after 3 attempts")
    assert "does not score Kafka, Machine Learning" in thought.report.fallback_reason


def test_a_transcript_beyond_the_token_budget_falls_back() -> None:
    long_interview = STRONG * 50
    model = FakeListChatModel(responses=[model_answer(GOOD_SCORES)])
    thought = build_assessor(ModelSettings(token_budget=2000), chat_model=model).invoke(request(long_interview))

    assert thought.report.budget_exceeded is True
    assert thought.report.attempts == 0
    assert thought.report.fallback_reason is not None
    assert thought.report.fallback_reason.startswith("token budget 2000 exceeded")
    assert thought.output == assess(long_interview)
