"""Planner: skill validation, a retried rejection or a revision -> the planner Runnable -> plan.generated.

The planner consumes approval.rejected itself (SPEC section 3): the rejection and the re-plan it
may ask for are one step on one row, so nothing can come between them.
"""

from __future__ import annotations

from agents.runtime import thinking_agent
from app.settings import settings
from domain import steps
from domain.planner import build_planner
from models.topics import Topic

planner_runnable = build_planner(settings.planner_model)

thinking_agent(
    Topic.SKILL_VALIDATION_REQUESTED,
    steps.skill_validation_requested,
    planner_runnable,
    steps.plan_ready,
    name="planner",
)
thinking_agent(
    Topic.APPROVAL_REJECTED, steps.plan_rejected, planner_runnable, steps.plan_ready, name="planner-rejections"
)
thinking_agent(
    Topic.MODIFICATION_REQUESTED,
    steps.modification_requested,
    planner_runnable,
    steps.plan_ready,
    name="planner-revisions",
)
