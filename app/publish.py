"""Publishing an event from outside a stream (HTTP commands, CLI), waiting for the broker's ack."""

from __future__ import annotations

from typing import Any

from app import metrics, topics
from models.codec import encode_event
from models.envelope import Envelope


async def publish_event(envelope: Envelope[Any]) -> None:
    """Send keyed by interviewId and return once the broker has the message (acks=all)."""
    pending = await topics.by_name[envelope.event_type].send(key=envelope.interview_id, value=encode_event(envelope))
    await pending
    metrics.produced(envelope.event_type)
