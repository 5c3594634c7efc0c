"""Intake: create requests and supplied info -> intake rules -> info_needed or skill validation."""

from __future__ import annotations

from typing import Any

from faust.types import StreamT

from agents.runtime import apply_step, workflow_events
from app import topics
from app.main import app
from domain import steps
from models.topics import Topic


@app.agent(topics.workflow[Topic.INTERVIEW_REQUESTED], name="intake-requested")
async def interview_requested(stream: StreamT[Any]) -> None:
    async for event, envelope in workflow_events(stream):
        await apply_step(event, envelope, steps.interview_requested)


@app.agent(topics.workflow[Topic.INFO_PROVIDED], name="intake-info-provided")
async def info_provided(stream: StreamT[Any]) -> None:
    async for event, envelope in workflow_events(stream):
        await apply_step(event, envelope, steps.info_provided)
