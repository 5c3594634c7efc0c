"""Intake validation (SPEC section 4): which fields are missing, the questions, the grade."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.payloads import DataQuality, InterviewDetails, Level, MissingField, Severity

QUESTIONS: dict[str, tuple[Severity, str]] = {
    "candidate": (
        Severity.CRITICAL,
        "Who is the candidate? Provide a candidateRef, candidateName or candidateEmail.",
    ),
    "position": (Severity.CRITICAL, "Which position is this interview for?"),
    "level": (
        Severity.HIGH,
        "What level is the role: JUNIOR, MID, SENIOR, LEAD or PRINCIPAL?",
    ),
    "skills": (
        Severity.HIGH,
        "Which skills or qualifications should the interview assess?",
    ),
    "jobDescription": (
        Severity.HIGH,
        "Please provide the job description: with fewer than two qualifications and no skills, the planner needs it.",
    ),
}

SHORT_DESCRIPTION_CHARS = 100
FEW_TOPICS = 3


@dataclass(frozen=True)
class IntakeResult:
    missing_fields: list[MissingField]
    warnings: list[str] = field(default_factory=list)
    data_quality: DataQuality = DataQuality.EXCELLENT

    @property
    def passed(self) -> bool:
        return not self.missing_fields


def _missing(name: str) -> MissingField:
    severity, question = QUESTIONS[name]
    return MissingField(field=name, severity=severity, question=question)


def _present(value: str | None) -> bool:
    return bool(value and value.strip())


def _entries(values: list[str]) -> list[str]:
    return [v for v in values if v.strip()]


def validate(details: InterviewDetails) -> IntakeResult:
    missing: list[MissingField] = []
    if not any(_present(v) for v in (details.candidate_ref, details.candidate_name, details.candidate_email)):
        missing.append(_missing("candidate"))
    if not _present(details.position):
        missing.append(_missing("position"))
    if (details.level or "").strip().upper() not in Level.__members__:
        missing.append(_missing("level"))
    skills, qualifications = _entries(details.skills), _entries(details.qualifications)
    if not skills and not qualifications:
        missing.append(_missing("skills"))
    if len(qualifications) < 2 and not skills and not _present(details.job_description):
        missing.append(_missing("jobDescription"))

    warnings: list[str] = []
    if len((details.job_description or "").strip()) < SHORT_DESCRIPTION_CHARS:
        warnings.append(f"jobDescription is shorter than {SHORT_DESCRIPTION_CHARS} characters")
    if len(skills) + len(qualifications) < FEW_TOPICS:
        warnings.append(f"fewer than {FEW_TOPICS} skills and qualifications in total")

    return IntakeResult(missing_fields=missing, warnings=warnings, data_quality=_grade(missing, warnings))


def _grade(missing: list[MissingField], warnings: list[str]) -> DataQuality:
    if any(m.severity is Severity.CRITICAL for m in missing):
        return DataQuality.POOR
    if missing:
        return DataQuality.FAIR
    if not warnings:
        return DataQuality.EXCELLENT
    return DataQuality.GOOD if len(warnings) == 1 else DataQuality.FAIR


def normalized_level(details: InterviewDetails) -> Level:
    """The level of details that passed intake."""
    return Level((details.level or "").strip().upper())
