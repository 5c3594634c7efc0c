"""Notifications: interview.info_needed / info_completed -> a notification on record and its webhook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from domain.steps.base import WEBHOOK_SEQUENCE_HEADER, StepContext, require_row, webhook_message
from domain.webhooks import WebhookEvent
from models.base import ascii_int
from models.envelope import Envelope
from models.payloads import InfoCompleted, InfoNeeded
from tables.interview import Interview, SentMessage
from tables.notifications import Notification, NotificationLog


@dataclass
class NotificationResult:
    log: NotificationLog | None  # None: nothing to write (a redelivery)
    sent: list[SentMessage] = field(default_factory=list)


def notification(
    current: Interview | None, log: NotificationLog | None, envelope: Envelope[Any], ctx: StepContext
) -> NotificationResult:
    """Record the notification and queue its webhook, numbered where intake placed it.

    A redelivery re-sends the same delivery (same deliveryId), which the webhook queue drops.
    """
    interview = require_row(current, envelope)
    log = log or NotificationLog()
    event = WebhookEvent(envelope.event_type)
    payload: InfoNeeded | InfoCompleted = envelope.payload
    sequence = ascii_int(ctx.headers.get(WEBHOOK_SEQUENCE_HEADER, ""))
    sent = webhook_message(
        interview,
        event,
        source_event_id=envelope.id,
        tenant=ctx.tenant,
        data=payload.to_wire(),
        now=ctx.now,
        sequence=sequence,
    )
    if log.knows(envelope.id):
        return NotificationResult(log=None, sent=sent)
    delivery_id = orjson.loads(sent[0].value)["deliveryId"] if sent else None
    log.add(
        Notification(
            notification_id=envelope.id,
            event=event,
            missing_fields=payload.missing_fields if isinstance(payload, InfoNeeded) else [],
            warnings=payload.warnings if isinstance(payload, InfoNeeded) else [],
            provided_fields=payload.provided_fields if isinstance(payload, InfoCompleted) else [],
            data_quality=payload.data_quality,
            delivery_id=delivery_id,
            at=ctx.now,
        )
    )
    return NotificationResult(log=log, sent=sent)
