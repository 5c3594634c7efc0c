"""Topics whose messages the drain loop hands straight to a handler, with no Faust stream between.

A Faust agent gets each message through its channel's queue and its stream's iterator: an event
built, queued, taken out again in another task, sensors on the way in and out, the ack when the
agent asks for the next one. A handler registered here runs in the consumer's drain loop itself
(app/kafka_transport.py), in partition order. It does its synchronous part at once (the row read,
the step, the row put in the store) and returns what it leaves to send; the loop makes those sends
at the end of a run of such messages, in order, and acks each message once its sends are made.
Running the steps of a run back to back and their sends after them, instead of each message's
step and sends in turn, keeps each part's code and data warm (app/kafka_transport.py, figures).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from faust.types import Message


class Pending(Protocol):
    """What a handler leaves to do: ``finish`` (the sends), or ``abandon`` when a rebalance cuts the run short."""

    @property
    def finish(self) -> Coroutine[Any, Any, None]: ...

    def abandon(self) -> None: ...


Handler = Callable[[Message], Pending | None]


def _nothing_awaits_them() -> bool:
    return False


# Whether something waits for the handlers' sends to be made soon (the live streams, which see a row
# once its changelog record is sent): runs then end at the loop's next turn (app/kafka_transport.py).
sends_awaited: Callable[[], bool] = _nothing_awaits_them

handlers: dict[str, Handler] = {}
