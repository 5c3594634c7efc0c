"""What every workflow agent shares: decode, route, dead-letter, run one step, write, send.

The workflow topics' steps (and a planner or assessor that answers at once) run in the consumer's
drain loop itself (``direct_handler``, app/direct.py): no Faust stream, queue or agent task per
message, which was about 40% of a busy worker's CPU per event. There a handler steps and puts the
row at once and leaves its sends (``Staged``) for the end of the run of messages it is in. A model
that takes its time runs in a Faust agent instead (``thinking_agent``), so waiting for it holds up
only its own topic; its steps make their sends at once (``apply_step``).

Either way a message is acked once its sends are made, and a commit flushes the producer first;
so everything a step sends is enqueued before its input is acked, and at-least-once holds for
follow-on events, table writes and dead letters alike. Nothing here raises out of a handler: an
exception in an agent would make Faust ack and skip the message silently, and one in the drain
loop would stop the consumer; it is dead-lettered instead.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple, cast

from faust.serializers.codecs import Codec
from faust.types import EventT, Message, StreamT
from langchain_core.runnables import Runnable

from app import direct, metrics, topics
from app.main import app
from app.partitioning import partition_for
from app.settings import settings
from domain.steps import Step, StepContext, StepResult, run_within
from domain.thinking import Thought, answers_at_once
from models.base import utc_timestamp
from models.codec import BadMessage, Reason, complete_envelope
from models.deadletter import DeadLetter
from models.envelope import Envelope, derived_id
from models.topics import Topic
from tables.faust_tables import interviews
from tables.interview import SentMessage
from tables.rows import ChangelogRecord, drop_staged, read_row, send_staged, stage_row, write_row

log = logging.getLogger(__name__)


def header_items(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None) -> list[tuple[str, bytes]]:
    """Kafka headers as a list of pairs, whichever shape the client handed them over in."""
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


async def dead_letter(event: EventT[Any], error: BadMessage, envelope: Envelope[Any] | None = None) -> None:
    message = event.message
    record = DeadLetter.of(
        error,
        dead_letter_id=derived_id("deadletter", message.topic, message.partition, message.offset),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
        key=message.key,
        value=message.value,
        headers=header_items(message.headers),
        failed_at=utc_timestamp(),
        tenant_id=envelope.tenant_id if envelope else None,
        interview_id=envelope.interview_id if envelope else None,
        event_id=envelope.event_id if envelope else None,
    )
    log.warning(
        "dead-lettered %s[%s]@%s: %s: %s",
        message.topic,
        message.partition,
        message.offset,
        error.reason,
        error.message[:300],
    )
    await topics.send(Topic.DEADLETTER, message.key, record.model_dump_json(by_alias=True).encode())
    metrics.dead_lettered(error.reason, message.topic)


async def _reroute(event: EventT[Any], envelope: Envelope[Any], partition: int) -> None:
    """Send a message that landed on the wrong partition to the one its interview lives on.

    Table rows live in the partition of the event that wrote them, so an outside producer using
    another partitioner (librdkafka's default, say) would otherwise split an interview's state.
    """
    message = event.message
    log.info("re-routing %s[%s]@%s to partition %s", message.topic, message.partition, message.offset, partition)
    await topics.send(
        message.topic, envelope.interview_id, message.value, partition=partition, headers=header_items(message.headers)
    )
    metrics.produced(message.topic)


def checked_envelope(event: EventT[Any]) -> tuple[Envelope[Any] | None, Callable[[], Awaitable[None]] | None]:
    """The envelope of a workflow topic's message, or None and the send to make instead.

    A bad message is dead-lettered, a misrouted one moved to its home partition (``_reroute``); the
    send is returned, not made, so a drain-loop handler can leave it until its run ends.
    """
    message, value = event.message, cast(Any, event.value)
    metrics.consumed(message.topic)
    try:
        if isinstance(value, BadMessage):
            raise value
        if value is None:  # a tombstone: Faust hands it over without calling the codec
            raise BadMessage(Reason.NOT_JSON, "message has no value (tombstone)")
        envelope = complete_envelope(
            value,
            key=message.key,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
    except BadMessage as exc:
        return None, partial(dead_letter, event, exc)
    home = partition_for(envelope.interview_id, settings.partitions)
    if message.key is None or message.partition != home:
        return None, partial(_reroute, event, envelope, home)
    return envelope, None


async def good_envelope(event: EventT[Any]) -> Envelope[Any] | None:
    """The envelope of a workflow topic's message; None if it was bad (dead-lettered) or misrouted (moved)."""
    envelope, instead = checked_envelope(event)
    if instead is not None:
        await instead()
    return envelope


async def workflow_events(stream: StreamT[Any]) -> AsyncIterator[tuple[EventT[Any], Envelope[Any]]]:
    """Good envelopes of a workflow topic; bad messages are dead-lettered, misrouted ones moved."""
    async for event in stream.events():
        envelope = await good_envelope(event)
        if envelope is not None:
            yield event, envelope


class Delivered(NamedTuple):
    """What a handler in the drain loop (app/direct.py) gets instead of a Faust event: message, decoded value."""

    message: Message
    value: Any


class Staged(NamedTuple):
    """What a drain-loop handler leaves once its row is in the store: the sends, for the end of the run.

    ``finish`` sends the row's changelog record (``changelog``, staged in tables/rows.py), then the
    follow-on events and dead letters. ``abandon`` is for a run a rebalance cut short: the input is
    read again, and its redelivery rewrites the row for the changelog (``rewrite_for_changelog``).
    """

    finish: Coroutine[Any, Any, None]
    changelog: ChangelogRecord | None = None

    def abandon(self) -> None:
        if inspect.getcoroutinestate(self.finish) == inspect.CORO_CREATED:  # else its task is being cancelled
            self.finish.close()
        if self.changelog is not None:
            drop_staged(self.changelog)


StagedHandler = Callable[[EventT[Any], Envelope[Any]], Staged | None]


def direct_handler(topic: Topic, handle: StagedHandler, *, name: str) -> None:
    """Subscribe to ``topic``; the drain loop calls ``handle`` for each good envelope of it (app/direct.py)."""
    channel = topics.workflow[topic]
    codec = cast(Codec, cast(Any, channel).value_serializer)  # an EnvelopeCodec (app/topics.py)

    def handle_message(message: Message) -> Staged | None:
        # The codec never raises: a bad value decodes to its BadMessage (app/codecs.py).
        event = cast(EventT[Any], Delivered(message, None if message.value is None else codec.loads(message.value)))
        try:
            envelope, instead = checked_envelope(event)
            if envelope is None:
                return None if instead is None else Staged(_guarded(instead, event, name))
            return handle(event, envelope)
        except Exception as exc:  # as in apply_step: a bug must not stop the partition
            return Staged(_failed(event, exc, name))

    app.topics.add(channel)
    direct.handlers[channel.get_topic_name()] = handle_message


async def _guarded(send: Callable[[], Awaitable[None]], event: EventT[Any], name: str) -> None:
    try:
        await send()
    except Exception as exc:  # a send that failed: dead-lettered, the partition goes on
        await _failed(event, exc, name)


async def _failed(event: EventT[Any], exc: Exception, name: str) -> None:
    message = event.message
    log.error("%s failed on %s[%s]@%s", name, message.topic, message.partition, message.offset, exc_info=exc)
    await dead_letter(event, BadMessage(Reason.PROCESSING_FAILED, f"{type(exc).__name__}: {exc}"))


async def send_all(sent: list[SentMessage]) -> None:
    for message in sent:
        headers = [(name, value.encode()) for name, value in message.headers.items()] or None
        await topics.send(message.topic, message.key, message.value.encode(), headers=headers)
        metrics.produced(message.topic)


def step_context(event: EventT[Any], envelope: Envelope[Any]) -> StepContext:
    headers = {name: value.decode(errors="replace") for name, value in header_items(event.message.headers)}
    return StepContext(
        tenant=settings.tenants.get(envelope.tenant_id),
        now=utc_timestamp(),
        access=settings.access_link,
        headers=headers,
    )


async def rewrite_for_changelog(event: EventT[Any], table: Any, key: str, row: Any) -> None:
    """Write an unchanged row again when its input is redelivered.

    A worker killed after writing its local RocksDB but before the changelog write left the
    process leaves the store ahead of the changelog; the redelivered input changes nothing, so
    without this write the changelog would never get that version, and a worker rebuilding the
    table from the changelog (a new host, a lost data dir) would lose it.
    """
    await write_row(table, key, row, partition=event.message.partition)


def stage_step(event: EventT[Any], envelope: Envelope[Any], step: Step) -> tuple[StepResult | None, Staged]:
    """Run ``step`` on the interview row and put the row back now; what it sends is left in the Staged.

    Steps are synchronous: the row is read, changed and written with no await in between, so
    the agents of other topics never interleave a write to the same interview.
    """
    try:
        row = read_row(interviews, envelope.interview_id, partition=event.message.partition)
        seen = metrics.history_length(row)
        with metrics.step_timer(step):
            result = step(row, envelope, step_context(event, envelope))
    except BadMessage as exc:
        return None, Staged(dead_letter(event, exc, envelope))
    except Exception as exc:  # a bug must not stop the partition
        log.exception("step %s failed on %s", metrics.step_name(step), envelope.event_id)
        failure = BadMessage(Reason.PROCESSING_FAILED, f"{type(exc).__name__}: {exc}")
        return None, Staged(dead_letter(event, failure, envelope))
    changelog: ChangelogRecord | None = None
    if result.interview is not None:
        changelog = stage_row(interviews, envelope.interview_id, result.interview, partition=event.message.partition)
        metrics.count_transitions(result.interview, seen)
    elif result.duplicate and row is not None:  # as rewrite_for_changelog explains
        changelog = stage_row(interviews, envelope.interview_id, row, partition=event.message.partition)
    sends = partial(_after_step, event, envelope, result, changelog)
    return result, Staged(_guarded(sends, event, metrics.step_name(step)), changelog)


async def _after_step(
    event: EventT[Any], envelope: Envelope[Any], result: StepResult, changelog: ChangelogRecord | None
) -> None:
    if changelog is not None:
        await send_staged(changelog)
    await send_all(result.sent)
    if result.dead_letter is not None:
        await dead_letter(event, result.dead_letter, envelope)


async def apply_step(event: EventT[Any], envelope: Envelope[Any], step: Step) -> StepResult | None:
    """``stage_step`` and its sends at once: for the Faust agents, which have no run to end."""
    result, staged = stage_step(event, envelope, step)
    await staged.finish
    return result


async def think(
    event: EventT[Any],
    envelope: Envelope[Any],
    begin: Step,
    runnable: Runnable[Any, Thought[Any]],
    ready: Callable[..., StepResult],
) -> None:
    """A step that needs a model that takes its time: ``begin`` (row write), the model call, ``ready`` (row write).

    The model runs with no row held, so a cancel arriving meanwhile is applied at once and the
    late result is dropped by ``ready``. A failure of the model and its fallback dead-letters the
    event; replaying it resumes the run. A model that answers at once has no meanwhile: see
    ``think_at_once``.
    """
    started = await apply_step(event, envelope, begin)
    if started is None or started.work is None:
        return
    try:
        with metrics.model_timer(runnable.get_name()):
            thought = await runnable.ainvoke(started.work)
    except Exception as exc:
        log.exception("%s run failed on %s", runnable.get_name(), envelope.event_id)
        await dead_letter(event, BadMessage(Reason.PROCESSING_FAILED, f"{type(exc).__name__}: {exc}"), envelope)
        return
    await apply_step(event, envelope, partial(ready, thought=thought))


def think_at_once(
    event: EventT[Any],
    envelope: Envelope[Any],
    begin: Step,
    runnable: Runnable[Any, Thought[Any]],
    ready: Callable[..., StepResult],
) -> Staged:
    """``think`` for a model that answers at once: the three as one step, with one row write."""
    return stage_step(event, envelope, run_within(begin, partial(_run_at_once, runnable), ready))[1]


def _run_at_once(runnable: Runnable[Any, Thought[Any]], work: Any) -> Thought[Any]:
    with metrics.model_timer(runnable.get_name()):
        return runnable.invoke(work)


def step_agent(topic: Topic, step: Step, *, name: str) -> None:
    """Have the drain loop apply ``step`` to every good event of ``topic`` (steps are synchronous)."""
    direct_handler(topic, lambda event, envelope: stage_step(event, envelope, step)[1], name=name)


def thinking_agent(
    topic: Topic, begin: Step, runnable: Runnable[Any, Thought[Any]], ready: Callable[..., StepResult], *, name: str
) -> None:
    """Register what runs ``think`` for every good event of ``topic``.

    A model that answers at once runs in the drain loop, like a step; one that takes its time gets a
    Faust agent, so waiting for it holds up only this topic.
    """
    if answers_at_once(runnable):
        direct_handler(topic, partial(think_at_once, begin=begin, runnable=runnable, ready=ready), name=name)
        return

    async def think_each(stream: StreamT[Any]) -> None:
        async for event, envelope in workflow_events(stream):
            await think(event, envelope, begin, runnable, ready)

    app.agent(topics.workflow[topic], name=name)(think_each)
