"""What every step shares: the result type, the context, replay, refusal and outgoing messages.

A step is a pure, synchronous function (current row, event, context) -> StepResult. Being
synchronous matters: agents read the row, run the step and write the row with no await in
between, so agents of other topics touching the same interview never interleave a write.
Slow work (a planner or assessor model call) is returned as ``work`` and run by the agent
between two steps: one that starts it and one that applies its result to the row read afresh.
A model that answers without waiting (the offline one) runs inside one step instead (``run_within``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from domain.access import AccessLinkSettings
from domain.tenants import TenantSettings
from domain.webhooks import WEBHOOK_FOR_TRIGGER, WebhookDelivery, WebhookEvent, webhook_body
from models.base import parse_timestamp
from models.codec import BadMessage, Reason, encode_event
from models.envelope import Envelope, derived_id, run_id_for
from models.topics import Topic
from tables.interview import Interview, SentMessage
from tables.state_machine import TransitionNotAllowed, Trigger, next_state

GATEWAY_ACTOR = "gateway"
PLANNER_ACTOR = "planner"
WORKFLOW_ACTOR = "workflow"

# Kafka header carrying a webhook's place in its interview's order to the agent that sends it.
WEBHOOK_SEQUENCE_HEADER = "webhook-sequence"


@dataclass
class StepResult:
    """What a step decided. ``interview`` is None when the row must not be written."""

    interview: Interview | None
    sent: list[SentMessage] = field(default_factory=list)
    dead_letter: BadMessage | None = None
    duplicate: bool = False
    work: Any = None  # a PlanRequest / AssessmentRequest the agent must run next


Step = Callable[[Interview | None, Envelope[Any], "StepContext"], StepResult]


@dataclass(frozen=True)
class StepContext:
    tenant: TenantSettings | None
    now: str  # envelope-format timestamp of this processing step
    access: AccessLinkSettings = field(default_factory=AccessLinkSettings)
    headers: dict[str, str] = field(default_factory=dict)


def replay_if_duplicate(current: Interview | None, envelope: Envelope[Any]) -> StepResult | None:
    """A redelivered input changes nothing and re-sends exactly what it sent the first time."""
    if current is None or current.tenant_id != envelope.tenant_id:
        return None  # another tenant's event never replays this row's messages
    processed = current.processed_event(envelope.id)
    if processed is None or not processed.done:
        return None
    return StepResult(interview=None, sent=list(processed.sent), duplicate=True)


def require_row(current: Interview | None, envelope: Envelope[Any]) -> Interview:
    if current is None:
        raise BadMessage(Reason.UNKNOWN_INTERVIEW, f"interview {envelope.interview_id!r} does not exist")
    require_same_tenant(current, envelope)
    return current


def require_same_tenant(current: Interview, envelope: Envelope[Any]) -> None:
    """Another tenant's event never touches a row. Its dead letter (admin only) says why, where the
    HTTP API answers 404 as for a missing interview; neither names the owner."""
    if current.tenant_id != envelope.tenant_id:
        raise BadMessage(
            Reason.TENANT_MISMATCH, f"interview {envelope.interview_id!r} belongs to another tenant than the event's"
        )


def outgoing_event(
    topic: Topic,
    interview: Interview,
    source: Envelope[Any],
    payload: BaseModel,
    *,
    now: str,
    headers: dict[str, str] | None = None,
) -> SentMessage:
    """A follow-on event whose eventId derives from its source, so redelivery re-sends the same id."""
    envelope: Envelope[Any] = Envelope(
        event_type=topic,
        event_id=derived_id(topic, source.id),
        tenant_id=interview.tenant_id,
        run_id=interview.run_id,
        interview_id=interview.interview_id,
        timestamp=now,
        payload=payload,
    )
    return SentMessage(
        topic=topic, key=interview.interview_id, value=encode_event(envelope).decode(), headers=headers or {}
    )


def webhook_url(interview: Interview, tenant: TenantSettings | None) -> str | None:
    return interview.callback_url or (tenant.webhook_url if tenant else None)


def webhook_message(
    interview: Interview,
    event: WebhookEvent,
    *,
    source_event_id: str,
    tenant: TenantSettings | None,
    data: dict[str, object],
    now: str,
    sequence: int | None,
) -> list[SentMessage]:
    """The webhook delivery for ``event``, or nothing when neither interview nor tenant has a URL."""
    url = webhook_url(interview, tenant)
    if url is None:
        return []
    delivery_id = derived_id("webhook", source_event_id, event)
    delivery = WebhookDelivery(
        delivery_id=delivery_id,
        tenant_id=interview.tenant_id,
        interview_id=interview.interview_id,
        event=event,
        url=url,
        body=webhook_body(
            event=event,
            delivery_id=delivery_id,
            run_id=interview.run_id,
            interview_id=interview.interview_id,
            tenant_id=interview.tenant_id,
            candidate_ref=interview.details.candidate_ref,
            state=interview.state,
            timestamp=now,
            data=data,
        ),
        created_at=now,
        sequence=sequence,
    )
    return [
        SentMessage(
            topic=Topic.WEBHOOK_OUTBOX,
            key=interview.interview_id,
            value=delivery.model_dump_json(by_alias=True),
        )
    ]


def transition_webhook(
    interview: Interview,
    event: WebhookEvent | None,
    source: Envelope[Any],
    ctx: StepContext,
    data: dict[str, object],
) -> list[SentMessage]:
    """The webhook for a transition just applied, numbered in this interview's webhook order."""
    if event is None or webhook_url(interview, ctx.tenant) is None:
        return []
    return webhook_message(
        interview,
        event,
        source_event_id=source.id,
        tenant=ctx.tenant,
        data=data,
        now=ctx.now,
        sequence=interview.next_webhook_sequence(),
    )


def trigger_webhook(
    interview: Interview, trigger: Trigger, source: Envelope[Any], ctx: StepContext, data: dict[str, object]
) -> list[SentMessage]:
    return transition_webhook(interview, WEBHOOK_FOR_TRIGGER.get(trigger), source, ctx, data)


def notification_headers(interview: Interview, ctx: StepContext) -> dict[str, str]:
    """Numbers the webhook the notifications agent will send for an info_needed/info_completed event."""
    if webhook_url(interview, ctx.tenant) is None:
        return {}
    return {WEBHOOK_SEQUENCE_HEADER: str(interview.next_webhook_sequence())}


def finish(interview: Interview, event_id: str, sent: list[SentMessage]) -> StepResult:
    interview.mark_processed(event_id, sent)
    return StepResult(interview=interview, sent=sent)


def refuse(
    interview: Interview,
    envelope: Envelope[Any],
    trigger: Trigger,
    error: TransitionNotAllowed | BadMessage,
    ctx: StepContext,
) -> StepResult:
    """Record a refused trigger on the row and dead-letter the event that carried it."""
    if isinstance(error, TransitionNotAllowed):
        error = BadMessage(Reason.TRANSITION_FORBIDDEN, str(error))
    interview.record_rejection(
        trigger, event_id=envelope.id, actor=envelope.event_type, at=ctx.now, reason=error.message
    )
    interview.mark_processed(envelope.id, [])
    return StepResult(interview=interview, dead_letter=error)


def check_allowed(interview: Interview, trigger: Trigger) -> TransitionNotAllowed | None:
    try:
        next_state(interview.state, trigger)
    except TransitionNotAllowed as exc:
        return exc
    return None


def stale(what: str, given: str, current: str | None) -> BadMessage:
    return BadMessage(Reason.STALE_REFERENCE, f"{what} {given!r} is not the current one ({current!r})")


def refuse_decision(
    interview: Interview,
    envelope: Envelope[Any],
    trigger: Trigger,
    ctx: StepContext,
    *,
    about: tuple[str, str, str | None],
) -> StepResult | None:
    """The refusal of a decision the state forbids or that is ``about`` (name, given, current) an
    id that is no longer current; None when it may be applied."""
    if (forbidden := check_allowed(interview, trigger)) is not None:
        return refuse(interview, envelope, trigger, forbidden, ctx)
    what, given, current = about
    if given != current:
        return refuse(interview, envelope, trigger, stale(what, given, current), ctx)
    return None


def new_interview(envelope: Envelope[Any], ctx: StepContext, **fields: Any) -> Interview:
    """A row for an interview first heard of in ``envelope``; its runId, when absent, derives from it."""
    run_id = envelope.run_id or run_id_for(envelope.id, parse_timestamp(envelope.timestamp).timestamp())
    return Interview.create(
        interview_id=envelope.interview_id,
        tenant_id=envelope.tenant_id,
        run_id=run_id,
        event_id=envelope.id,
        actor=GATEWAY_ACTOR,
        at=ctx.now,
        **fields,
    )


def run_within(begin: Step, run: Callable[[Any], Any], ready: Callable[..., StepResult]) -> Step:
    """``begin``, the model run and ``ready`` as one step: one row write instead of two.

    Only for a ``run`` that never waits: with no await between them nothing can reach the row in
    between, so the row ``ready`` gets is the one ``begin`` left, and what both send goes out after
    the one write. A crash before that write leaves no trace of the run: the redelivered input does it all again.
    """

    def step(current: Interview | None, envelope: Envelope[Any], ctx: StepContext) -> StepResult:
        started = begin(current, envelope, ctx)
        if started.work is None:
            return started
        begun = started.interview if started.interview is not None else current
        finished = ready(begun, envelope, ctx, thought=run(started.work))
        return StepResult(
            interview=finished.interview if finished.interview is not None else started.interview,
            sent=[*started.sent, *finished.sent],
            dead_letter=finished.dead_letter or started.dead_letter,
            duplicate=finished.duplicate and started.interview is None,
        )

    step.__name__ = getattr(begin, "__name__", "step")
    return step
