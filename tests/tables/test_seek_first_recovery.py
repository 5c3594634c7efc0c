"""SeekFirstRecovery: stream partitions are sought while still paused, and resumed only after the seek.

Faust resumes them first and seeks while records flow, which lost acks (tables/recovery.py). The
fault suite's 1 -> 2 -> 1 workers case shows the outcome on a real broker; these tests pin the
order the fix relies on, on both of the paths that end a recovery.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from tables.recovery import SeekFirstRecovery

STREAM = TP("skill.validation.requested", 0)
CHANGELOG = TP("app-interviews-changelog", 0)


class RecordingConsumer:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.paused = {STREAM, CHANGELOG}

    def assignment(self) -> set[TP]:
        return {STREAM, CHANGELOG}

    async def perform_seek(self) -> None:
        await asyncio.sleep(0)  # a real seek waits on the broker: nothing may run meanwhile
        self.calls.append(f"seek with {sorted(tp.topic for tp in self.paused)} paused")

    def resume_partitions(self, tps: set[TP]) -> None:
        self.paused -= tps
        self.calls.append(f"resume {sorted(tp.topic for tp in tps)}")

    def resume_flow(self) -> None:
        self.calls.append("flow on")


class RecordingTables:
    changelog_topics = {CHANGELOG.topic}

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def values(self) -> list[Any]:
        return []

    def on_actives_ready(self) -> None:
        self.calls.append("actives ready")

    def on_standbys_ready(self) -> None:
        self.calls.append("standbys ready")


async def _signal() -> None:
    return None


def _recovery(calls: list[str]) -> SeekFirstRecovery:
    async def maybe_start() -> None:
        calls.append("fetcher on")

    app = SimpleNamespace(
        conf=SimpleNamespace(stream_recovery_delay=0.0, broker_request_timeout=5.0),
        consumer=RecordingConsumer(calls),
        consumer_generation_id=7,
        on_rebalance_complete=SimpleNamespace(send=_signal),
        flow_control=SimpleNamespace(resume=lambda: calls.append("flow control on")),
        _fetcher=SimpleNamespace(maybe_start=maybe_start),
        on_rebalance_end=lambda: calls.append("rebalance end"),
        assignor=SimpleNamespace(assigned_standbys=set),
    )
    return SeekFirstRecovery(app, RecordingTables(calls))  # type: ignore[arg-type]


EXPECTED = [
    "seek with ['app-interviews-changelog', 'skill.validation.requested'] paused",
    "resume ['skill.validation.requested']",
    "flow control on",
    "flow on",
    "fetcher on",
    "actives ready",
    "standbys ready",
    "rebalance end",
]


def test_a_completed_recovery_seeks_the_paused_stream_partitions_before_resuming_them() -> None:
    calls: list[str] = []
    recovery = _recovery(calls)

    asyncio.run(recovery.on_recovery_completed(generation_id=7))

    assert calls == EXPECTED
    assert recovery.completed.is_set()


def test_a_recovery_with_nothing_to_restore_seeks_before_resuming_too() -> None:
    calls: list[str] = []
    recovery = _recovery(calls)

    asyncio.run(recovery._resume_streams(generation_id=7))

    assert calls == EXPECTED


def test_a_newer_rebalance_leaves_the_partitions_paused() -> None:
    calls: list[str] = []
    recovery = _recovery(calls)

    asyncio.run(recovery.on_recovery_completed(generation_id=6))

    assert calls == []
    assert not recovery.completed.is_set()
