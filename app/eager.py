"""Run a coroutine up to its first suspension at once; only one that suspends gets a task.

asyncio (before 3.12's eager tasks) always schedules a coroutine through a task, even one that
never waits for anything. The worker's drain loop hands each fetched message to Faust's delivery
callback inside ``wait_first``, which makes four tasks and an ``asyncio.wait`` per message, though
the callback almost always finishes without waiting (its stream's queue has room, the flow runs).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run ``coro`` now; None if it finished without suspending, else a task that finishes it.

    An exception raised before the first suspension propagates from here, as it would from ``await``.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_resume(coro, waiting_on))


async def _resume(coro: Coroutine[Any, Any, Any], waiting_on: asyncio.Future[Any] | None) -> Any:
    """Drive ``coro`` on from where it suspended: on an asyncio future, or on a bare yield (None)."""
    while True:
        error: BaseException | None = None
        try:
            if waiting_on is None:
                await _one_loop_turn()
            else:
                # The coroutine's yield marked it blocking for a task to take it, as a task would.
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except BaseException as exc:
            error = exc
        try:
            # A done future: the coroutine's own ``await`` reads its result, exception or cancellation.
            # Otherwise this task was cancelled (or interrupted) while the future still runs.
            waiting_on = coro.send(None) if error is None or _raised_by(waiting_on, error) else coro.throw(error)
        except StopIteration as stop:
            return stop.value


def _raised_by(future: asyncio.Future[Any] | None, error: BaseException) -> bool:
    if future is None or not future.done():
        return False
    return future.cancelled() or future.exception() is error


@types.coroutine
def _one_loop_turn() -> Generator[None, None, None]:
    yield  # what asyncio.sleep(0) does
