"""Intake validation (SPEC section 4): what is missing, how severe, what the recruiter is asked, the grade."""

from __future__ import annotations

from typing import Any

import pytest

from domain.intake import normalized_level, validate
from models.payloads import DataQuality, InterviewDetails, Level, MissingField, Severity

LONG_DESCRIPTION = "Build and operate scalable platform services for millions of users, " * 3
assert len(LONG_DESCRIPTION) >= 100

COMPLETE: dict[str, Any] = {
    "candidate_ref": "cand-1",
    "position": "Backend Engineer",
    "level": "SENIOR",
    "skills": ["Python", "Kafka", "PostgreSQL"],
    "qualifications": [],
    "job_description": LONG_DESCRIPTION,
}


def details(**changes: Any) -> InterviewDetails:
    return InterviewDetails(**{**COMPLETE, **changes})


def missing_by_field(result_missing: list[MissingField]) -> dict[str, MissingField]:
    return {m.field: m for m in result_missing}


def test_complete_details_pass_with_excellent_quality() -> None:
    result = validate(details())

    assert result.passed
    assert result.missing_fields == []
    assert result.warnings == []
    assert result.data_quality is DataQuality.EXCELLENT


# --- CRITICAL: candidate ------------------------------------------------------------------


@pytest.mark.parametrize(
    "candidate",
    [
        {"candidate_ref": "cand-1"},
        {"candidate_name": "Ada Lovelace"},
        {"candidate_email": "ada@example.com"},
        {"candidate_ref": "cand-1", "candidate_name": "Ada", "candidate_email": "ada@example.com"},
    ],
)
def test_any_one_candidate_field_is_enough(candidate: dict[str, str]) -> None:
    result = validate(details(**{"candidate_ref": None, **candidate}))

    assert "candidate" not in missing_by_field(result.missing_fields)
    assert result.passed


@pytest.mark.parametrize(
    "candidate",
    [
        {},
        {"candidate_ref": ""},
        {"candidate_ref": "   ", "candidate_name": "", "candidate_email": "\t"},
    ],
    ids=["absent", "empty", "blank"],
)
def test_no_candidate_is_critical(candidate: dict[str, str]) -> None:
    result = validate(details(**{"candidate_ref": None, **candidate}))

    missing = missing_by_field(result.missing_fields)
    assert not result.passed
    assert missing["candidate"].severity is Severity.CRITICAL
    assert result.data_quality is DataQuality.POOR


# --- CRITICAL: position -------------------------------------------------------------------


@pytest.mark.parametrize("position", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_no_position_is_critical(position: str | None) -> None:
    result = validate(details(position=position))

    missing = missing_by_field(result.missing_fields)
    assert set(missing) == {"position"}
    assert missing["position"].severity is Severity.CRITICAL
    assert result.data_quality is DataQuality.POOR


# --- HIGH: level --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("JUNIOR", Level.JUNIOR),
        ("MID", Level.MID),
        ("SENIOR", Level.SENIOR),
        ("LEAD", Level.LEAD),
        ("PRINCIPAL", Level.PRINCIPAL),
        ("senior", Level.SENIOR),
        ("Principal", Level.PRINCIPAL),
        ("  lead ", Level.LEAD),
    ],
)
def test_level_in_enum_is_accepted_case_insensitively(given: str, expected: Level) -> None:
    result = validate(details(level=given))

    assert result.passed
    assert normalized_level(details(level=given)) is expected


@pytest.mark.parametrize("level", [None, "", "  ", "STAFF", "intern", "SENIOR+", "SEN IOR"])
def test_level_outside_enum_is_high(level: str | None) -> None:
    result = validate(details(level=level))

    missing = missing_by_field(result.missing_fields)
    assert set(missing) == {"level"}
    assert missing["level"].severity is Severity.HIGH
    assert result.data_quality is DataQuality.FAIR


# --- HIGH: skills or qualifications, jobDescription -------------------------------------


@pytest.mark.parametrize(
    ("skills", "qualifications"),
    [
        (["Python"], []),
        ([], ["AWS Certified Architect"]),
        (["Python"], ["AWS Certified Architect"]),
    ],
)
def test_skills_or_qualifications_satisfy_the_topic_rule(skills: list[str], qualifications: list[str]) -> None:
    result = validate(details(skills=skills, qualifications=qualifications))

    assert "skills" not in missing_by_field(result.missing_fields)
    assert result.passed


@pytest.mark.parametrize(
    ("skills", "qualifications"),
    [([], []), (["", "  "], []), ([], [" "]), (["\t"], ["   "])],
    ids=["none", "blank-skills", "blank-qualifications", "all-blank"],
)
def test_no_skills_and_no_qualifications_is_high(skills: list[str], qualifications: list[str]) -> None:
    result = validate(details(skills=skills, qualifications=qualifications))

    missing = missing_by_field(result.missing_fields)
    assert missing["skills"].severity is Severity.HIGH
    assert "candidate" not in missing
    assert result.data_quality is DataQuality.FAIR


@pytest.mark.parametrize(
    ("skills", "qualifications", "description", "required"),
    [
        # Fewer than 2 qualifications and no skills: the description is required.
        ([], ["AWS"], None, True),
        ([], ["AWS"], "", True),
        ([], ["AWS"], "   ", True),
        ([], [], None, True),
        # ... and present, it satisfies the rule (even when short: that is only a warning).
        ([], ["AWS"], "Short one.", False),
        ([], ["AWS"], LONG_DESCRIPTION, False),
        # Two qualifications or any skill: the description is not required.
        ([], ["AWS", "CKA"], None, False),
        (["Python"], [], None, False),
        (["Python"], ["AWS"], None, False),
    ],
)
def test_job_description_required_only_with_few_topics(
    skills: list[str], qualifications: list[str], description: str | None, required: bool
) -> None:
    result = validate(details(skills=skills, qualifications=qualifications, job_description=description))

    missing = missing_by_field(result.missing_fields)
    assert ("jobDescription" in missing) is required
    if required:
        assert missing["jobDescription"].severity is Severity.HIGH


# --- every missing field carries severity and a question ---------------------------------


EXPECTED_SEVERITY: dict[str, Severity] = {
    "candidate": Severity.CRITICAL,
    "position": Severity.CRITICAL,
    "level": Severity.HIGH,
    "skills": Severity.HIGH,
    "jobDescription": Severity.HIGH,
}


def test_empty_details_miss_every_rule_with_severity_and_question() -> None:
    result = validate(InterviewDetails())

    missing = missing_by_field(result.missing_fields)
    assert set(missing) == set(EXPECTED_SEVERITY)
    for name, field in missing.items():
        assert field.severity is EXPECTED_SEVERITY[name]
        assert field.question.strip()
    assert len({m.question for m in result.missing_fields}) == len(result.missing_fields)
    assert result.data_quality is DataQuality.POOR
    assert not result.passed


@pytest.mark.parametrize("name", sorted(EXPECTED_SEVERITY))
def test_each_question_is_fixed_per_rule(name: str) -> None:
    first = missing_by_field(validate(InterviewDetails()).missing_fields)[name]
    again = missing_by_field(validate(InterviewDetails(candidate_name=" ", level="X")).missing_fields)[name]

    assert first.question == again.question
    assert first.to_wire() == {"field": name, "severity": str(EXPECTED_SEVERITY[name]), "question": first.question}


# --- MEDIUM warnings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "short"),
    [
        (None, True),
        ("", True),
        ("x" * 99, True),
        ("  " + "x" * 99 + "  ", True),
        ("x" * 100, False),
        (LONG_DESCRIPTION, False),
    ],
)
def test_short_job_description_is_a_warning_only(description: str | None, short: bool) -> None:
    result = validate(details(job_description=description))

    assert result.passed
    description_warnings = [w for w in result.warnings if "jobDescription" in w]
    assert bool(description_warnings) is short
    assert len(result.warnings) == (1 if short else 0)


@pytest.mark.parametrize(
    ("skills", "qualifications", "few"),
    [
        (["Python"], [], True),
        (["Python", "Kafka"], [], True),
        (["Python"], ["AWS"], True),
        (["Python", "", " "], [], True),
        (["Python", "Kafka", "SQL"], [], False),
        (["Python"], ["AWS", "CKA"], False),
        ([], ["AWS", "CKA", "PMP"], False),
    ],
)
def test_fewer_than_three_topics_is_a_warning_only(skills: list[str], qualifications: list[str], few: bool) -> None:
    result = validate(details(skills=skills, qualifications=qualifications))

    assert result.passed
    few_warnings = [w for w in result.warnings if "fewer than 3" in w]
    assert bool(few_warnings) is few
    assert len(result.warnings) == (1 if few else 0)


# --- dataQuality ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "grade"),
    [
        ({}, DataQuality.EXCELLENT),
        ({"job_description": "Short."}, DataQuality.GOOD),
        ({"skills": ["Python"]}, DataQuality.GOOD),
        ({"skills": ["Python"], "job_description": "Short."}, DataQuality.FAIR),
        ({"level": "STAFF"}, DataQuality.FAIR),
        ({"skills": [], "qualifications": []}, DataQuality.FAIR),
        ({"position": None}, DataQuality.POOR),
        ({"candidate_ref": None}, DataQuality.POOR),
        ({"candidate_ref": None, "level": None, "skills": []}, DataQuality.POOR),
    ],
    ids=[
        "complete",
        "one-warning",
        "other-one-warning",
        "two-warnings",
        "high-missing",
        "high-missing-topics",
        "critical-position",
        "critical-candidate",
        "critical-and-high",
    ],
)
def test_data_quality_grade(changes: dict[str, Any], grade: DataQuality) -> None:
    assert validate(details(**changes)).data_quality is grade


def test_warnings_do_not_fail_intake() -> None:
    result = validate(details(skills=["Python"], job_description="Short."))

    assert result.passed
    assert len(result.warnings) == 2
    assert result.missing_fields == []
