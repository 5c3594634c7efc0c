"""PartitionRuns: a fetched batch handed out in runs of one partition, every record once, in partition order."""

from __future__ import annotations

import pytest
from faust.types import TP

from app import scheduling
from app.main import app
from app.scheduling import PartitionRuns

SVR0, SVR1, PG0 = TP("skill.validation.requested", 0), TP("skill.validation.requested", 1), TP("plan.generated", 0)


@pytest.fixture
def runs_of_two(monkeypatch: pytest.MonkeyPatch) -> PartitionRuns:
    monkeypatch.setattr(scheduling, "RUN_RECORDS", 2)
    return PartitionRuns()


def test_the_worker_hands_records_out_in_partition_runs() -> None:
    scheduler: object = app.conf.ConsumerScheduler  # Faust's consumer builds its scheduler from this class
    assert scheduler is PartitionRuns


def test_each_partition_hands_out_a_run_before_the_next_ones_turn(runs_of_two: PartitionRuns) -> None:
    batch = {SVR0: ["a0", "a1", "a2", "a3", "a4"], PG0: ["p0"], SVR1: ["b0", "b1", "b2"]}

    handed = list(runs_of_two.iterate(batch))

    assert handed == [
        (SVR0, "a0"), (SVR0, "a1"), (PG0, "p0"), (SVR1, "b0"), (SVR1, "b1"),
        (SVR0, "a2"), (SVR0, "a3"), (SVR1, "b2"),
        (SVR0, "a4"),
    ]  # fmt: skip


def test_every_record_is_handed_out_once_in_its_partitions_order(runs_of_two: PartitionRuns) -> None:
    batch = {TP("t", p): [f"{p}-{i}" for i in range(size)] for p, size in enumerate([0, 1, 2, 3, 7])}

    handed = list(runs_of_two.iterate(batch))

    assert sorted(record for _, record in handed) == sorted(r for records in batch.values() for r in records)
    for tp, records in batch.items():
        assert [record for at, record in handed if at == tp] == records


def test_a_sparse_partition_waits_for_one_run_of_each_busier_partition_at_most(runs_of_two: PartitionRuns) -> None:
    batch = {SVR0: [f"a{i}" for i in range(100)], SVR1: [f"b{i}" for i in range(100)], PG0: ["cancel"]}

    handed = [record for _, record in runs_of_two.iterate(batch)]

    assert handed.index("cancel") == 2 * scheduling.RUN_RECORDS
