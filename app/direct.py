"""Topics whose messages the drain loop hands straight to a handler, with no Faust stream between.

A Faust agent gets each message through its channel's queue and its stream's iterator: an event
built, queued, taken out again in another task, sensors on the way in and out, the ack when the
agent asks for the next one. A handler registered here runs in the consumer's drain loop itself
(app/kafka_transport.py), in partition order, and the message is acked when it returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from faust.types import Message

Handler = Callable[[Message], Awaitable[None]]

handlers: dict[str, Handler] = {}
