"""Webhook delivery: its own stream, so a slow or failing receiver never holds up the workflow.

Deliveries for one interview are sent in the order their transitions happened (the queue puts
numbered deliveries back in order, see tables/webhook_queue.py). The first attempt
is made as the delivery arrives; a failure parks it (and everything after it for that interview)
in the webhook-queues table. A timer sends a tick through the same topic when a parked delivery
is due, so retries are table writes inside the owning partition's stream, as Faust requires.
After WEBHOOK_RETRY_SECONDS a delivery is given up: kept as dead on the row and dead-lettered.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from faust.types import EventT, StreamT

from agents.runtime import dead_letter, header_items, rewrite_for_changelog
from app import metrics, topics
from app.main import app
from app.settings import settings
from app.webhook_client import DeliveryFailed, WebhookClient
from domain.webhooks import WebhookDelivery, backoff_seconds
from models.codec import BadMessage, Reason
from models.deadletter import REPLAYED_FROM_HEADER
from models.topics import Topic
from tables.faust_tables import webhook_queues
from tables.rows import write_row
from tables.webhook_queue import WebhookQueue

log = logging.getLogger(__name__)

TICK_FIELD = "tick"
TICK_SCAN_SECONDS = 0.5

client = WebhookClient(allow_private=settings.webhook_allow_private, timeout_seconds=settings.webhook_timeout_seconds)
# interviewId -> when its head delivery is due; rebuilt from the table by the slow scan.
_due: dict[str, float] = {}
_ticked: dict[str, float] = {}


def _decode(value: bytes) -> WebhookDelivery | None:
    """A delivery, or None for a retry tick."""
    document = orjson.loads(value)
    if isinstance(document, dict) and TICK_FIELD in document:
        return None
    return WebhookDelivery.model_validate(document)


async def _attempt(queue: WebhookQueue, event: EventT[Any], now: float) -> None:
    """Send due deliveries from the head of the queue until one fails or none is due."""
    while queue.pending and queue.pending[0].next_attempt_at <= now:
        head = queue.pending[0]
        tenant = settings.tenants.get(head.delivery.tenant_id)
        head.attempts += 1
        head.first_attempt_at = head.first_attempt_at or now
        try:
            if tenant is None:
                raise DeliveryFailed(f"tenant {head.delivery.tenant_id!r} is not configured", permanent=True)
            await client.deliver(head.delivery, tenant.webhook_secret)
        except DeliveryFailed as exc:
            head.last_error = str(exc)
            gave_up = exc.permanent or now - head.first_attempt_at >= settings.webhook_retry_seconds
            if not gave_up:
                head.next_attempt_at = now + backoff_seconds(
                    head.attempts,
                    base=settings.webhook_backoff_base_seconds,
                    cap=settings.webhook_backoff_cap_seconds,
                )
                log.info("webhook %s attempt %d failed: %s", head.delivery.delivery_id, head.attempts, exc)
                metrics.webhook_outcome(head.delivery.event, "retry")
                return
            queue.pending.pop(0)
            queue.mark_dead(head, str(exc), now)
            metrics.webhook_outcome(head.delivery.event, "failed")
            reason = f"webhook {head.delivery.event} {head.delivery.delivery_id} gave up after {head.attempts} tries"
            await dead_letter(event, BadMessage(Reason.WEBHOOK_FAILED, f"{reason}: {exc}"))
            continue
        queue.pending.pop(0)
        queue.mark_delivered(head.delivery.delivery_id)
        metrics.webhook_outcome(head.delivery.event, "delivered")


@app.agent(topics.webhook_outbox, name="webhooks")
async def deliver_webhooks(stream: StreamT[Any]) -> None:
    async for event in stream.events():
        interview_id: str = event.key
        try:
            delivery = _decode(event.value)
        except Exception as exc:
            await dead_letter(event, BadMessage(Reason.SCHEMA, f"not a webhook delivery: {exc}"))
            continue
        queue = webhook_queues.get(interview_id) or WebhookQueue()
        now = time.time()
        if delivery is not None:
            replayed = any(name == REPLAYED_FROM_HEADER for name, _ in header_items(event.message.headers))
            if not queue.accept(delivery, now, revive=replayed):
                await rewrite_for_changelog(event, webhook_queues, interview_id, queue)  # a redelivery: see there
                continue
        else:
            _ticked.pop(interview_id, None)
        if queue.release_overdue(now, settings.webhook_order_hold_seconds):
            log.warning("webhooks for %s released without a missing predecessor", interview_id)
        try:
            await _attempt(queue, event, now)
        except Exception as exc:  # never let one receiver's surprise stop the stream
            log.exception("webhook delivery for %s failed unexpectedly", interview_id)
            await dead_letter(event, BadMessage(Reason.PROCESSING_FAILED, f"{type(exc).__name__}: {exc}"))
        await write_row(webhook_queues, interview_id, queue, partition=event.message.partition)
        next_due = queue.next_due(settings.webhook_order_hold_seconds)
        if next_due is None:
            _due.pop(interview_id, None)
        else:
            _due[interview_id] = next_due


@app.timer(TICK_SCAN_SECONDS)
async def send_due_ticks() -> None:
    now = time.time()
    for interview_id, due in list(_due.items()):
        if due <= now and _ticked.get(interview_id, 0) < now - 5 * TICK_SCAN_SECONDS:
            _ticked[interview_id] = now
            await topics.send(Topic.WEBHOOK_OUTBOX, interview_id, orjson.dumps({TICK_FIELD: now}))


@app.timer(30.0)
async def rescan_pending() -> None:
    """Pick up parked deliveries this process did not queue itself (restart, rebalance)."""
    for interview_id, queue in list(webhook_queues.items()):
        next_due = queue.next_due(settings.webhook_order_hold_seconds)
        if next_due is not None:
            _due.setdefault(interview_id, next_due)
