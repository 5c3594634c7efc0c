"""Assessor: interview.completed -> the assessor Runnable over the transcript -> assessment.completed."""

from __future__ import annotations

from agents.runtime import thinking_agent
from app.settings import settings
from domain import steps
from domain.assessor import build_assessor
from models.topics import Topic

assessor_runnable = build_assessor(settings.assessor_model)

thinking_agent(
    Topic.INTERVIEW_COMPLETED, steps.interview_completed, assessor_runnable, steps.assessment_ready, name="assessor"
)
