"""start_eagerly: a coroutine runs at once, and only one that suspends continues in a task, as ``await`` would."""

from __future__ import annotations

import asyncio

import pytest

from app.eager import start_eagerly


async def test_a_coroutine_that_never_waits_finishes_on_the_spot() -> None:
    ran: list[str] = []

    async def deliver() -> None:
        ran.append("delivered")

    assert start_eagerly(deliver()) is None
    assert ran == ["delivered"]


async def test_an_error_before_any_wait_is_raised_at_once() -> None:
    async def deliver() -> None:
        raise ValueError("bad message")

    with pytest.raises(ValueError, match="bad message"):
        start_eagerly(deliver())


async def test_a_coroutine_that_waits_runs_up_to_the_wait_then_finishes_in_a_task() -> None:
    room = asyncio.get_running_loop().create_future()
    ran: list[str] = []

    async def deliver() -> str:
        ran.append("before")
        got = await room
        ran.append(f"after {got}")
        await asyncio.sleep(0)  # a bare yield as well
        return "done"

    task = start_eagerly(deliver())
    assert task is not None and ran == ["before"]
    room.set_result("room")

    assert await task == "done"
    assert ran == ["before", "after room"]


async def test_a_failed_wait_raises_inside_the_coroutine() -> None:
    room = asyncio.get_running_loop().create_future()

    async def deliver() -> str:
        try:
            await room
        except ConnectionError as exc:
            return f"handled {exc}"
        return "not reached"

    task = start_eagerly(deliver())
    assert task is not None
    room.set_exception(ConnectionError("broker gone"))

    assert await task == "handled broker gone"


@pytest.mark.parametrize("waits_on", ["future", "bare yield"])
async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits(waits_on: str) -> None:
    room = asyncio.get_running_loop().create_future()
    cleaned_up: list[bool] = []

    async def deliver() -> None:
        try:
            if waits_on == "future":
                await room
            else:
                while True:
                    await asyncio.sleep(0)
        finally:
            cleaned_up.append(True)

    task = start_eagerly(deliver())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up == [True]
