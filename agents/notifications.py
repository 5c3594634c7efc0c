"""Notifications: interview.info_needed / info_completed -> the webhooks of the same names."""

from __future__ import annotations

from typing import Any

from faust.types import StreamT

from agents.runtime import apply_step, workflow_events
from app import topics
from app.main import app
from domain import steps
from models.topics import Topic


@app.agent(topics.workflow[Topic.INFO_NEEDED], name="notifications-info-needed")
async def info_needed(stream: StreamT[Any]) -> None:
    async for event, envelope in workflow_events(stream):
        await apply_step(event, envelope, steps.notification)


@app.agent(topics.workflow[Topic.INFO_COMPLETED], name="notifications-info-completed")
async def info_completed(stream: StreamT[Any]) -> None:
    async for event, envelope in workflow_events(stream):
        await apply_step(event, envelope, steps.notification)
