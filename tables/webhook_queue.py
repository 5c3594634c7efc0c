"""Per-interview webhook queue: deliveries wait here, in transition order, until sent or given up.

Deliveries are numbered per interview when the transition happens (``sequence``), but different
agents queue them, so number 3 can arrive before number 2. A delivery that arrives ahead of a
missing one is held until the gap fills; if it does not fill within the hold time (its event was
dead-lettered, say) the held ones are released anyway, so a lost predecessor never blocks the rest.
"""

from __future__ import annotations

from pydantic import Field

from domain.webhooks import WebhookDelivery
from models.base import WireModel

DELIVERED_KEPT = 100
DEAD_KEPT = 50


class PendingDelivery(WireModel):
    delivery: WebhookDelivery
    queued_at: float = 0.0
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
    pending: list[PendingDelivery] = Field(default_factory=list)  # released, in sending order
    held: list[PendingDelivery] = Field(default_factory=list)  # arrived ahead of a lower sequence
    last_sequence: int = 0  # the highest sequence released to ``pending``
    delivered: list[str] = Field(default_factory=list)
    dead: list[DeadDelivery] = Field(default_factory=list)

    def knows(self, delivery_id: str) -> bool:
        return (
            delivery_id in self.delivered
            or any(p.delivery.delivery_id == delivery_id for p in self.pending)
            or any(p.delivery.delivery_id == delivery_id for p in self.held)
            or any(d.delivery.delivery_id == delivery_id for d in self.dead)
        )

    def accept(self, delivery: WebhookDelivery, now: float, *, revive: bool = False) -> bool:
        """Queue a delivery in its place; False when it is already known (a redelivery).

        ``revive``: an operator replays a delivery that was given up; it is sent again, once.
        """
        if revive and any(d.delivery.delivery_id == delivery.delivery_id for d in self.dead):
            self.dead = [d for d in self.dead if d.delivery.delivery_id != delivery.delivery_id]
            self.pending.append(PendingDelivery(delivery=delivery, queued_at=now))
            return True
        if self.knows(delivery.delivery_id):
            return False
        arrived = PendingDelivery(delivery=delivery, queued_at=now)
        sequence = delivery.sequence
        if sequence is None or sequence <= self.last_sequence + 1:
            self._release(arrived)
            self._release_held(up_to_gap=True)
        else:
            self.held.append(arrived)
            self.held.sort(key=lambda p: p.delivery.sequence or 0)
        return True

    def release_overdue(self, now: float, hold_seconds: float) -> bool:
        """Give up waiting for a missing predecessor once the oldest held delivery waited too long."""
        if not self.held or min(p.queued_at for p in self.held) + hold_seconds > now:
            return False
        self._release_held(up_to_gap=False)
        return True

    def _release(self, pending: PendingDelivery) -> None:
        self.pending.append(pending)
        self.last_sequence = max(self.last_sequence, pending.delivery.sequence or 0)

    def _release_held(self, *, up_to_gap: bool) -> None:
        while self.held:
            sequence = self.held[0].delivery.sequence or 0
            if up_to_gap and sequence > self.last_sequence + 1:
                return
            self._release(self.held.pop(0))

    def mark_delivered(self, delivery_id: str) -> None:
        self.delivered.append(delivery_id)
        del self.delivered[:-DELIVERED_KEPT]

    def mark_dead(self, pending: PendingDelivery, error: str, now: float) -> None:
        self.dead.append(
            DeadDelivery(delivery=pending.delivery, attempts=pending.attempts, last_error=error, dead_at=now)
        )
        del self.dead[:-DEAD_KEPT]

    def next_due(self, hold_seconds: float) -> float | None:
        """When this queue next needs attention: its head is due, or held ones stop waiting."""
        due = [self.pending[0].next_attempt_at] if self.pending else []
        if self.held:
            due.append(min(p.queued_at for p in self.held) + hold_seconds)
        return min(due) if due else None
