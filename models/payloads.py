"""Payloads of every topic (SPEC section 3), one model per topic.

Outside producers may add fields we do not know yet; they are ignored rather than rejected, as
schema evolution on Kafka expects. Missing or mistyped fields are schema violations.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from models.base import WireModel
from models.plan import Plan

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Level(StrEnum):
    JUNIOR = "JUNIOR"
    MID = "MID"
    SENIOR = "SENIOR"
    LEAD = "LEAD"
    PRINCIPAL = "PRINCIPAL"


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"


class DataQuality(StrEnum):
    EXCELLENT = "EXCELLENT"
    GOOD = "GOOD"
    FAIR = "FAIR"
    POOR = "POOR"


class MissingField(WireModel):
    field: str
    severity: Severity
    question: str


class InterviewDetails(WireModel):
    """What a recruiting system tells us about an interview; every field may still be missing."""

    candidate_ref: str | None = None
    candidate_name: str | None = None
    candidate_email: str | None = None
    position: str | None = None
    level: str | None = None
    skills: list[str] = Field(default_factory=list, max_length=200)
    qualifications: list[str] = Field(default_factory=list, max_length=200)
    job_description: str | None = Field(default=None, max_length=100_000)
    duration_minutes: int | None = Field(default=None, gt=0, le=480)

    def merged_with(self, update: InterviewDetailsUpdate) -> InterviewDetails:
        return self.model_copy(update=update.details_supplied())


class InterviewDetailsUpdate(WireModel):
    """A partial update of InterviewDetails: only the fields present are changed."""

    candidate_ref: str | None = None
    candidate_name: str | None = None
    candidate_email: str | None = None
    position: str | None = None
    level: str | None = None
    skills: list[str] | None = Field(default=None, max_length=200)
    qualifications: list[str] | None = Field(default=None, max_length=200)
    job_description: str | None = Field(default=None, max_length=100_000)
    duration_minutes: int | None = Field(default=None, gt=0, le=480)

    def details_supplied(self) -> dict[str, object]:
        """The interview fields this update sets (not who sent it or other metadata)."""
        own = set(InterviewDetailsUpdate.model_fields)
        return self.model_dump(include=own, exclude_unset=True, exclude_none=True)

    def provided_fields(self) -> list[str]:
        fields = InterviewDetailsUpdate.model_fields
        return sorted(fields[name].alias or name for name in self.details_supplied())


# --- internal command topics (HTTP -> stream) ---------------------------------------------


class InterviewRequested(InterviewDetails):
    """interview.requested: a recruiting system asks for an interview (POST /api/v1/interviews)."""

    external_id: str | None = Field(default=None, max_length=200)
    callback_url: str | None = Field(default=None, max_length=2048)


class InfoProvided(InterviewDetailsUpdate):
    """interview.info_provided: a person supplies missing data (PATCH .../info)."""

    provided_by: str | None = None


# --- workflow topics ------------------------------------------------------------------------


class InfoNeeded(WireModel):
    missing_fields: list[MissingField]
    warnings: list[str] = Field(default_factory=list)
    data_quality: DataQuality | None = None


class InfoCompleted(WireModel):
    provided_fields: list[str]
    data_quality: DataQuality | None = None


class SkillValidationRequested(WireModel):
    skills: list[str] = Field(max_length=200)
    job_description: str = Field(max_length=100_000)
    level: Level
    callback_url: str | None = Field(default=None, max_length=2048)
    position: str | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=480)


class PlanGenerated(WireModel):
    plan_id: NonEmptyStr
    validated_skills: list[str]
    duration: int = Field(gt=0)
    plan: Plan | None = None


class ApprovalApproved(WireModel):
    plan_id: NonEmptyStr
    approved_by: NonEmptyStr
    comment: str | None = None


class ApprovalRejected(WireModel):
    plan_id: NonEmptyStr
    rejected_by: NonEmptyStr
    reason: NonEmptyStr
    retry: bool = False


class ModificationRequested(WireModel):
    plan_id: NonEmptyStr
    requested_by: NonEmptyStr
    instructions: NonEmptyStr


class TranscriptLine(WireModel):
    speaker: NonEmptyStr
    text: str


class InterviewCompleted(WireModel):
    session_id: str | None = None
    ended_at: str
    transcript: list[TranscriptLine]


class Recommendation(StrEnum):
    STRONG_HIRE = "STRONG_HIRE"
    HIRE = "HIRE"
    MAYBE = "MAYBE"
    NO_HIRE = "NO_HIRE"


class CompetencyScore(WireModel):
    name: str
    score: int = Field(ge=1, le=5)
    evidence: list[str] = Field(default_factory=list)


class AssessmentCompleted(WireModel):
    assessment_id: NonEmptyStr
    plan_id: NonEmptyStr
    overall_score: int = Field(ge=0, le=100)
    recommendation: Recommendation
    competency_scores: list[CompetencyScore]
    summary: str


# --- internal command topics for decisions the contract names no topic for ------------------


class AssessmentReviewed(WireModel):
    """interview.assessment_reviewed: a person approves or rejects the assessment."""

    assessment_id: NonEmptyStr
    approved: bool
    reviewed_by: NonEmptyStr
    comment: str | None = Field(default=None, max_length=10_000)


class CancelRequested(WireModel):
    """interview.cancel_requested: DELETE /api/v1/interviews/{id}, or any producer."""

    cancelled_by: NonEmptyStr
    reason: str | None = Field(default=None, max_length=10_000)
