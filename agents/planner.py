"""Planner: skill.validation.requested -> the planner Runnable -> plan.generated."""

from __future__ import annotations

from functools import partial
from typing import Any

from faust.types import StreamT

from agents.runtime import apply_step, workflow_events
from app import topics
from app.main import app
from domain import steps
from domain.planner import build_planner
from models.topics import Topic

planner_runnable = build_planner()


@app.agent(topics.workflow[Topic.SKILL_VALIDATION_REQUESTED], name="planner")
async def plan_interviews(stream: StreamT[Any]) -> None:
    step = partial(steps.skill_validation_requested, planner=planner_runnable)
    async for event, envelope in workflow_events(stream):
        await apply_step(event, envelope, step)
