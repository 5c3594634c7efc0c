"""Intake: create requests and supplied info -> intake rules -> info_needed or skill validation."""

from __future__ import annotations

from agents.runtime import step_agent
from domain import steps
from models.topics import Topic

step_agent(Topic.INTERVIEW_REQUESTED, steps.interview_requested, name="intake-requested")
step_agent(Topic.INFO_PROVIDED, steps.info_provided, name="intake-info-provided")
