"""Publishing an event from outside a stream (HTTP commands, CLI), waiting for the broker's ack."""

from __future__ import annotations

from typing import Any

from app import metrics, topics
from models.codec import MAX_MESSAGE_BYTES, encode_event
from models.envelope import Envelope


class EventTooLarge(ValueError):
    """The event would be over the consumers' limit: refused here instead of dead-lettered there."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the event would be {size} bytes, over the {MAX_MESSAGE_BYTES}-byte message limit")


async def publish_event(envelope: Envelope[Any]) -> None:
    """Send keyed by interviewId and return once the broker has the message (acks=all)."""
    value = encode_event(envelope)
    if len(value) > MAX_MESSAGE_BYTES:  # a body just under the limit plus the envelope is over it
        raise EventTooLarge(len(value))
    pending = await topics.send(envelope.event_type, envelope.interview_id, value)
    await pending
    metrics.produced(envelope.event_type)
