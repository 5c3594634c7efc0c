"""The per-interview webhook queue puts numbered deliveries back in transition order."""

from __future__ import annotations

from domain.webhooks import WebhookDelivery, WebhookEvent
from tables.webhook_queue import WebhookQueue

HOLD = 10.0


def delivery(sequence: int | None, delivery_id: str | None = None) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=delivery_id or f"d{sequence}",
        tenant_id="acme",
        interview_id="iv-1",
        event=WebhookEvent.CANCELLED,
        url="https://ats.example.com/hook",
        body="{}",
        created_at="2024-01-15T10:01:00.000Z",
        sequence=sequence,
    )


def order(queue: WebhookQueue) -> list[int | None]:
    return [p.delivery.sequence for p in queue.pending]


def test_in_order_arrivals_are_released_at_once() -> None:
    queue = WebhookQueue()
    for sequence in (1, 2, 3):
        assert queue.accept(delivery(sequence), now=0.0)
    assert order(queue) == [1, 2, 3]
    assert queue.held == []


def test_an_early_arrival_waits_for_the_gap_then_all_go_in_order() -> None:
    queue = WebhookQueue()
    queue.accept(delivery(1), now=0.0)
    queue.accept(delivery(3), now=1.0)
    queue.accept(delivery(4), now=1.0)
    assert order(queue) == [1]
    assert [p.delivery.sequence for p in queue.held] == [3, 4]

    queue.accept(delivery(2), now=2.0)

    assert order(queue) == [1, 2, 3, 4]
    assert queue.held == []
    assert queue.last_sequence == 4


def test_a_gap_that_never_fills_is_given_up_after_the_hold_time() -> None:
    queue = WebhookQueue()
    queue.accept(delivery(2), now=100.0)
    assert queue.next_due(HOLD) == 100.0 + HOLD
    assert not queue.release_overdue(now=100.0 + HOLD - 0.1, hold_seconds=HOLD)

    assert queue.release_overdue(now=100.0 + HOLD, hold_seconds=HOLD)

    assert order(queue) == [2]
    assert queue.held == []


def test_a_redelivered_delivery_is_known_wherever_it_waits() -> None:
    queue = WebhookQueue()
    queue.accept(delivery(1), now=0.0)
    queue.accept(delivery(3), now=0.0)
    assert not queue.accept(delivery(1), now=1.0)  # pending
    assert not queue.accept(delivery(3), now=1.0)  # held
    queue.pending.pop(0)
    queue.mark_delivered("d1")
    assert not queue.accept(delivery(1), now=2.0)  # delivered
    assert order(queue) == []


def test_unnumbered_deliveries_are_not_held() -> None:
    queue = WebhookQueue()
    queue.accept(delivery(5), now=0.0)
    queue.accept(delivery(None, "outside"), now=0.0)
    assert [p.delivery.delivery_id for p in queue.pending] == ["outside"]


def test_a_replayed_dead_delivery_is_sent_again_once() -> None:
    queue = WebhookQueue()
    queue.accept(delivery(1), now=0.0)
    pending = queue.pending.pop(0)
    queue.mark_dead(pending, "HTTP 503", now=1.0)
    assert not queue.accept(delivery(1), now=2.0)  # an ordinary redelivery of a dead one: ignored

    assert queue.accept(delivery(1), now=3.0, revive=True)

    assert order(queue) == [1]
    assert queue.dead == []
    assert not queue.accept(delivery(1), now=4.0, revive=True)  # already pending again
