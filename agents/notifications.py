"""Notifications: interview.info_needed / info_completed -> the notifications table and the webhooks."""

from __future__ import annotations

from typing import Any

from faust.types import StreamT

from agents.runtime import dead_letter, rewrite_for_changelog, send_all, step_context, workflow_events
from app import topics
from app.main import app
from domain import steps
from models.codec import BadMessage, Reason
from models.topics import Topic
from tables.faust_tables import interviews, notifications
from tables.rows import write_row


async def notify_each(stream: StreamT[Any]) -> None:
    async for event, envelope in workflow_events(stream):
        log = notifications.get(envelope.interview_id)
        try:
            result = steps.notification(
                interviews.get(envelope.interview_id), log, envelope, step_context(event, envelope)
            )
        except BadMessage as exc:
            await dead_letter(event, exc, envelope)
            continue
        except Exception as exc:  # a bug must not stop the partition
            await dead_letter(event, BadMessage(Reason.PROCESSING_FAILED, f"{type(exc).__name__}: {exc}"), envelope)
            continue
        if result.log is not None:
            await write_row(notifications, envelope.interview_id, result.log, partition=event.message.partition)
        elif log is not None:
            await rewrite_for_changelog(event, notifications, envelope.interview_id, log)
        await send_all(result.sent)


for topic in (Topic.INFO_NEEDED, Topic.INFO_COMPLETED):
    # One agent per topic (each its own stream); the loop body is shared.
    app.agent(topics.workflow[topic], name=f"notifications-{topic}")(notify_each)
