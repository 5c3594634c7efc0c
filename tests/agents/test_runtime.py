"""The drain-loop handlers of the workflow topics (agents/runtime.py ``direct_handler``), without a broker.

A good envelope on its interview's home partition reaches the step; a bad message is dead-lettered
with its reason and never reaches it; a step that raises is dead-lettered as processing_failed and
the handler returns, so the drain loop goes on with the next message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.types import Message

from agents import runtime
from app import direct
from app.main import app
from app.partitioning import partition_for
from app.settings import settings
from models.codec import BadMessage, Reason, encode_event
from models.envelope import Envelope
from models.payloads import CancelRequested
from models.topics import Topic

TOPIC = Topic.CANCEL_REQUESTED
INTERVIEW_ID = "iv-1"
HOME = partition_for(INTERVIEW_ID, settings.partitions)


def _message(value: bytes | None, *, partition: int = HOME) -> Message:
    return Message(TOPIC, partition, 41, 0.0, 0, [], INTERVIEW_ID.encode(), value, None)


def _good_value() -> bytes:
    cancel: Envelope[CancelRequested] = Envelope(
        event_type=TOPIC,
        event_id="ev-cancel",
        tenant_id="acme",
        interview_id=INTERVIEW_ID,
        timestamp="2024-01-15T10:01:00.000Z",
        payload=CancelRequested(cancelled_by="recruiter-1"),
    )
    return encode_event(cancel)


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Register a handler for TOPIC whose step records envelopes (or raises); dead letters recorded too."""
    seen: dict[str, list[Any]] = {"envelopes": [], "dead_letters": [], "raise": []}

    def step(event: Any, built: Envelope[Any]) -> None:
        if seen["raise"]:
            raise RuntimeError("the step broke")
        seen["envelopes"].append(built)

    async def dead_letter(event: Any, error: BadMessage, built: Envelope[Any] | None = None) -> None:
        seen["dead_letters"].append((event.message.offset, error.reason, error.message))

    monkeypatch.setattr(direct, "handlers", {})
    monkeypatch.setattr(app.topics, "add", lambda channel: None)  # no subscription in a unit test
    monkeypatch.setattr(runtime, "dead_letter", dead_letter)
    runtime.direct_handler(TOPIC, step, name="test-handler")
    return seen


def _handle(message: Message) -> None:
    async def handle() -> None:
        pending = direct.handlers[TOPIC](message)  # the step's part, at once
        if pending is not None:
            await pending.finish  # what it left: the dead letter, here

    asyncio.run(handle())


def test_a_good_envelope_on_its_home_partition_reaches_the_step(handled: dict[str, list[Any]]) -> None:
    _handle(_message(_good_value()))

    assert [(e.interview_id, e.payload.cancelled_by) for e in handled["envelopes"]] == [(INTERVIEW_ID, "recruiter-1")]
    assert handled["dead_letters"] == []


def test_a_bad_message_is_dead_lettered_with_its_reason_and_never_reaches_the_step(
    handled: dict[str, list[Any]],
) -> None:
    _handle(_message(b"{not json"))
    _handle(_message(None))  # a tombstone

    assert [(offset, reason) for offset, reason, _ in handled["dead_letters"]] == [
        (41, Reason.NOT_JSON),
        (41, Reason.NOT_JSON),
    ]
    assert handled["envelopes"] == []


def test_a_step_that_raises_is_dead_lettered_and_the_handler_returns(handled: dict[str, list[Any]]) -> None:
    handled["raise"].append(True)

    _handle(_message(_good_value()))  # does not raise: the drain loop goes on

    assert handled["dead_letters"] == [(41, Reason.PROCESSING_FAILED, "RuntimeError: the step broke")]
