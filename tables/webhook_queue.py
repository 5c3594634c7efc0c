"""Per-interview webhook queue: deliveries wait here, in order, until sent or given up."""

from __future__ import annotations

from pydantic import Field

from domain.webhooks import WebhookDelivery
from models.base import WireModel

DELIVERED_KEPT = 100
DEAD_KEPT = 50


class PendingDelivery(WireModel):
    delivery: WebhookDelivery
    attempts: int = 0
    first_attempt_at: float | None = None
    next_attempt_at: float = 0.0
    last_error: str | None = None


class DeadDelivery(WireModel):
    delivery: WebhookDelivery
    attempts: int
    last_error: str
    dead_at: float


class WebhookQueue(WireModel):
    pending: list[PendingDelivery] = Field(default_factory=list)
    delivered: list[str] = Field(default_factory=list)
    dead: list[DeadDelivery] = Field(default_factory=list)

    def knows(self, delivery_id: str) -> bool:
        return (
            delivery_id in self.delivered
            or any(p.delivery.delivery_id == delivery_id for p in self.pending)
            or any(d.delivery.delivery_id == delivery_id for d in self.dead)
        )

    def mark_delivered(self, delivery_id: str) -> None:
        self.delivered.append(delivery_id)
        del self.delivered[:-DELIVERED_KEPT]

    def mark_dead(self, pending: PendingDelivery, error: str, now: float) -> None:
        self.dead.append(
            DeadDelivery(delivery=pending.delivery, attempts=pending.attempts, last_error=error, dead_at=now)
        )
        del self.dead[:-DEAD_KEPT]

    @property
    def next_due(self) -> float | None:
        return self.pending[0].next_attempt_at if self.pending else None
