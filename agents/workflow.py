"""Workflow: plan.generated -> PENDING (or APPROVED for tenants that auto-approve)."""

from __future__ import annotations

from typing import Any

from faust.types import StreamT

from agents.runtime import apply_step, workflow_events
from app import topics
from app.main import app
from domain import steps
from models.topics import Topic


@app.agent(topics.workflow[Topic.PLAN_GENERATED], name="workflow-plan-generated")
async def plan_generated(stream: StreamT[Any]) -> None:
    async for event, envelope in workflow_events(stream):
        await apply_step(event, envelope, steps.plan_generated)
