"""AppRecovery: long backlogs restored in bulk before Faust reads; stream partitions sought before they resume.

Faust resumes them first and seeks while records flow, which lost acks (tables/recovery.py). The
fault suite's 1 -> 2 -> 1 workers case shows the outcome on a real broker; these tests pin the
order the fix relies on, on both of the paths that end a recovery. The bulk restore itself runs on
a real worker in tests/integration/test_restore_in_bulk.py; here, what Faust's reading starts from.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from tables import recovery as recovery_module
from tables.bulk_restore import BulkRestoringStore
from tables.recovery import AppRecovery

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


def _recovery(calls: list[str]) -> AppRecovery:
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
    return AppRecovery(app, RecordingTables(calls))  # type: ignore[arg-type]


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


class OffsetStore(BulkRestoringStore):
    """The store's persisted offset only (no RocksDB): what the bulk restore moves on."""

    def __init__(self, persisted: int | None) -> None:  # no Store.__init__: nothing is opened
        self.persisted = persisted

    def persisted_offset(self, tp: TP) -> int | None:
        return self.persisted


class EarliestConsumer:
    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 0)


def _table(store: OffsetStore) -> Any:
    return SimpleNamespace(data=store, persisted_offset=lambda tp: store.persisted_offset(tp))


STANDBY = TP("app-interviews-changelog", 1)


def _recovery_with(store: OffsetStore, highwater: int) -> AppRecovery:
    recovery = _recovery([])
    recovery.tp_to_table[CHANGELOG] = _table(store)
    recovery.tp_to_table[STANDBY] = _table(store)
    recovery.active_offsets[CHANGELOG] = store.persisted  # type: ignore[assignment]  # as Faust's on_rebalance
    recovery.standby_offsets[STANDBY] = store.persisted  # type: ignore[assignment]
    recovery.active_highwaters[CHANGELOG] = highwater
    return recovery


def test_faust_reads_actives_on_from_where_the_bulk_restore_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    store = OffsetStore(persisted=None)
    asked: list[dict[TP, int]] = []

    async def restore(app: object, stores: dict[TP, OffsetStore], ends: dict[TP, int], *, seconds: float) -> int:
        asked.append(ends)
        stores[CHANGELOG].persisted = 89_999  # what its write batches persisted
        return 90_000

    monkeypatch.setattr(recovery_module, "restore_in_bulk", restore)
    recovery = _recovery_with(store, highwater=99_999)

    asyncio.run(recovery._build_offsets(EarliestConsumer(), {CHANGELOG}, recovery.active_offsets, "active"))  # type: ignore[arg-type]

    assert asked == [{CHANGELOG: 100_000}]  # Faust's highwater is the last offset: the end is one past it
    assert recovery.active_offsets[CHANGELOG] == 89_999


def test_standby_partitions_are_left_to_faust(monkeypatch: pytest.MonkeyPatch) -> None:
    async def restore(*args: object, **kwargs: object) -> int:
        raise AssertionError("standbys are not restored in bulk")

    monkeypatch.setattr(recovery_module, "restore_in_bulk", restore)
    recovery = _recovery_with(OffsetStore(persisted=None), highwater=99_999)

    asyncio.run(recovery._build_offsets(EarliestConsumer(), {STANDBY}, recovery.standby_offsets, "standby"))  # type: ignore[arg-type]

    assert recovery.standby_offsets[STANDBY] == -1  # Faust's own start: the earliest offset minus one


def test_a_failed_bulk_restore_leaves_faust_to_read_from_what_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    store = OffsetStore(persisted=None)

    async def restore(app: object, stores: dict[TP, OffsetStore], ends: dict[TP, int], *, seconds: float) -> int:
        stores[CHANGELOG].persisted = 4_999  # one write batch landed, then the broker went away
        raise ConnectionError("broker gone")

    monkeypatch.setattr(recovery_module, "restore_in_bulk", restore)
    recovery = _recovery_with(store, highwater=99_999)

    asyncio.run(recovery._build_offsets(EarliestConsumer(), {CHANGELOG}, recovery.active_offsets, "active"))  # type: ignore[arg-type]

    assert recovery.active_offsets[CHANGELOG] == 4_999
