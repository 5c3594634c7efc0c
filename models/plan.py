"""The interview plan the planner drafts (SPEC section 6)."""

from __future__ import annotations

from pydantic import Field

from models.base import WireModel


class Competency(WireModel):
    name: str
    weight: float = Field(ge=0, le=1)
    required: bool
    minimum_score: int = Field(ge=1, le=5)
    questions: list[str] = Field(min_length=1)


class Plan(WireModel):
    plan_id: str
    competencies: list[Competency] = Field(min_length=1)
    duration_minutes: int = Field(gt=0)
    greeting: str
    revision_instructions: str | None = None  # the recruiter's, when this plan revises another
