"""Consumer lag (SPEC section 7): lag in messages and seconds, Burrow-style status, totals and worst."""

from __future__ import annotations

import pytest

from domain.lag import (
    GroupObservation,
    LagSecondsMethod,
    LagStatus,
    LagTracker,
    LookupTable,
    PartitionKey,
    PartitionLag,
    Sample,
    evaluate,
    group_lag,
    lag_seconds,
    worst_partition,
)

T = "skill.validation.requested"
P0, P1, P2 = (PartitionKey(T, n) for n in range(3))
OTHER = PartitionKey("plan.generated", 0)


def table(*points: tuple[int, float], limit: int = 60) -> LookupTable:
    lookup = LookupTable(limit)
    for offset, at in points:
        lookup.add(offset, at)
    return lookup


def samples(*rows: tuple[float, int | None, int]) -> list[Sample]:
    return [Sample(at=at, committed=committed, log_end=log_end) for at, committed, log_end in rows]


# --- lookup table and lag in seconds ----------------------------------------------------------------


def test_lookup_table_keeps_points_in_order_and_compresses_flat_lines() -> None:
    lookup = table((100, 10.0), (100, 20.0), (100, 30.0), (150, 40.0), (140, 35.0), (160, 40.0))

    # (100, 20) was moved out to (100, 30); the out-of-order and same-time points were ignored.
    assert list(lookup.points) == [(100, 10.0), (100, 30.0), (150, 40.0)]


def test_lookup_table_starts_over_when_the_log_end_goes_back() -> None:
    lookup = table((100, 10.0), (200, 20.0), (5, 30.0))

    assert list(lookup.points) == [(5, 30.0)]


def test_lookup_table_is_a_sliding_window() -> None:
    lookup = table((1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), limit=3)

    assert list(lookup.points) == [(2, 2.0), (3, 3.0), (4, 4.0)]


def test_lag_seconds_interpolates_between_the_two_points_around_the_committed_offset() -> None:
    lookup = table((100, 10.0), (200, 20.0), (400, 30.0))

    assert lookup.lookup(150) == (15.0, LagSecondsMethod.INTERPOLATED)
    assert lookup.lookup(300) == (25.0, LagSecondsMethod.INTERPOLATED)
    assert lag_seconds(lookup, 150, 400, now=40.0) == (25.0, LagSecondsMethod.INTERPOLATED)
    assert lag_seconds(lookup, 200, 400, now=40.0) == (20.0, LagSecondsMethod.INTERPOLATED)


def test_lag_seconds_extrapolates_along_the_whole_table_below_its_oldest_point() -> None:
    lookup = table((100, 10.0), (200, 20.0), (300, 30.0))

    # The trend line through (100, 10) and (300, 30): offset 50 was the log end at t=5.
    assert lookup.lookup(50) == (5.0, LagSecondsMethod.EXTRAPOLATED)
    assert lag_seconds(lookup, 50, 300, now=30.0) == (25.0, LagSecondsMethod.EXTRAPOLATED)


def test_lag_seconds_is_zero_when_caught_up_and_unknown_without_a_commit() -> None:
    lookup = table((100, 10.0), (200, 20.0))

    assert lag_seconds(lookup, 200, 200, now=99.0) == (0.0, LagSecondsMethod.ZERO)
    assert lag_seconds(lookup, None, 200, now=99.0) == (None, None)
    assert lag_seconds(lookup, 250, 200, now=99.0) == (None, None)  # negative lag: can't be known
    assert lag_seconds(LookupTable(), 100, 200, now=99.0) == (None, None)


def test_lag_seconds_is_a_lower_bound_with_one_point_or_a_flat_table() -> None:
    assert lag_seconds(table((200, 10.0)), 150, 200, now=14.0) == (4.0, LagSecondsMethod.LOWER_BOUND)
    flat = table((200, 10.0), (200, 20.0), (200, 30.0))
    assert lag_seconds(flat, 150, 200, now=31.0) == (21.0, LagSecondsMethod.LOWER_BOUND)
    # never negative, even when the estimate lands after now
    assert lag_seconds(table((200, 10.0)), 150, 200, now=10.0) == (0.0, LagSecondsMethod.LOWER_BOUND)


# --- status ---------------------------------------------------------------------------------------


def test_ok_when_caught_up_or_lag_was_zero_within_the_window() -> None:
    assert evaluate(samples((1, 100, 100)), active=True)[0] is LagStatus.OK
    # Burrow rule 1: a zero anywhere in the window makes the period OK, even with lag now
    zero_then_lag = samples((1, 100, 100), (2, 100, 105), (3, 100, 110))
    assert evaluate(zero_then_lag, active=False) == (LagStatus.OK, "lag was zero within the window")


def test_ok_when_lag_decreases() -> None:
    window = samples((1, 100, 150), (2, 120, 160), (3, 150, 165))

    assert evaluate(window, active=True) == (LagStatus.OK, "lag decreasing")


def test_warn_when_commits_advance_but_lag_does_not_decrease() -> None:
    growing = samples((1, 100, 110), (2, 105, 120), (3, 110, 140))
    flat = samples((1, 100, 110), (2, 110, 120), (3, 120, 130))

    status, reason = evaluate(growing, active=True)
    assert status is LagStatus.WARN
    assert "10 -> 30" in reason
    assert evaluate(flat, active=True)[0] is LagStatus.WARN  # Burrow: "not decreasing", not "increasing"


def test_stall_when_a_live_group_does_not_move_its_offset_while_lag_is_positive() -> None:
    window = samples((1, 100, 120), (2, 100, 125), (3, 100, 130))

    status, reason = evaluate(window, active=True)
    assert status is LagStatus.STALL
    assert "unchanged across 3 samples" in reason


def test_stop_when_no_commits_in_the_window_and_the_consumer_is_gone() -> None:
    window = samples((1, 100, 120), (2, 100, 125))

    assert evaluate(window, active=False)[0] is LagStatus.STOP
    assert evaluate(samples((1, 100, 120)), active=False)[0] is LagStatus.STOP  # known empty: at once
    # Unknown membership needs two samples; with one there is not enough to say.
    assert evaluate(window, active=None)[0] is LagStatus.STOP
    assert evaluate(samples((1, 100, 120)), active=None)[0] is LagStatus.OK
    assert evaluate(samples((1, 100, 120)), active=True)[0] is LagStatus.OK


def test_stop_follows_burrows_time_rule_after_the_last_commit() -> None:
    # The group committed at t=2 (first seen), then left. At t=3 the last commit is 1s old and the
    # commits spanned 1s: not yet stopped (WARN: lag not decreasing). At t=4 it is 2s old: STOP.
    moving = [(1.0, 100, 120), (2.0, 110, 130), (3.0, 110, 135)]
    assert evaluate(samples(*moving), active=False)[0] is LagStatus.WARN
    assert evaluate(samples(*moving, (4.0, 110, 140)), active=False)[0] is LagStatus.STOP
    # A live group is never STOP: the same window is a WARN (lag not decreasing) then a STALL later.
    assert evaluate(samples(*moving, (4.0, 110, 140)), active=True)[0] is LagStatus.WARN


def test_err_when_lag_is_negative_or_the_offset_rewinds() -> None:
    status, reason = evaluate(samples((1, 300, 200)), active=True)
    assert status is LagStatus.ERR
    assert "beyond the log end" in reason
    status, reason = evaluate(samples((1, 150, 200), (2, 120, 210)), active=True)
    assert status is LagStatus.ERR
    assert "rewind" in reason


def test_never_committed_partition_is_ok_when_empty_and_warn_when_messages_wait() -> None:
    assert evaluate(samples((1, None, 0)), active=True) == (LagStatus.OK, "no commit yet; the partition is empty")
    status, reason = evaluate(samples((1, None, 7)), active=True)
    assert status is LagStatus.WARN
    assert "no commit yet" in reason
    # samples before the first commit are ignored, like Burrow's empty window slots
    assert evaluate(samples((1, None, 7), (2, 90, 100), (3, 100, 100)), active=True)[0] is LagStatus.OK


# --- groups, totals, worst ------------------------------------------------------------------------


def partition(status: LagStatus, lag: int | None, seconds: float | None = None, n: int = 0) -> PartitionLag:
    return PartitionLag(
        topic=T,
        partition=n,
        committed_offset=None if lag is None else 0,
        log_end_offset=lag or 0,
        lag_messages=lag,
        lag_seconds=seconds,
        status=status,
        reason="",
        samples=1,
    )


def test_worst_partition_is_by_status_then_lag() -> None:
    big_ok = partition(LagStatus.OK, 1000, 1.0, n=0)
    small_stall = partition(LagStatus.STALL, 3, 50.0, n=1)
    bigger_stall = partition(LagStatus.STALL, 4, 10.0, n=2)

    assert worst_partition([big_ok, small_stall, bigger_stall]) == bigger_stall
    assert worst_partition([]) is None


def test_group_status_is_its_worst_partition_with_totals() -> None:
    parts = [
        partition(LagStatus.OK, 10, 2.5, n=0),
        partition(LagStatus.WARN, 5, 7.0, n=1),
        partition(LagStatus.WARN, None, None, n=2),
    ]
    group = group_lag("g", parts)

    assert group.status is LagStatus.WARN
    assert group.total_lag_messages == 15
    assert group.max_lag_seconds == 7.0
    assert group.worst_partition == parts[1]
    assert group_lag("g", [], error="boom").status is LagStatus.ERR


def test_tracker_reports_groups_windows_and_the_own_group_before_it_commits() -> None:
    tracker = LagTracker(window_samples=3, poll_seconds=5.0)
    ends = {P0: 10, P1: 0, P2: 4, OTHER: 2}
    other = GroupObservation(committed={P0: 10, P2: 1}, active=False, state="Empty")
    unrelated = GroupObservation(committed={}, active=True, state="Stable")

    report = tracker.observe(100.0, ends, {"other": other, "unrelated": unrelated}, own_group="own")

    assert [g.group for g in report.groups] == ["other", "own"]
    own = report.groups[1]
    assert own.own is True
    assert [(p.topic, p.partition, p.committed_offset) for p in own.partitions] == [
        ("plan.generated", 0, None),
        (T, 0, None),
        (T, 1, None),
        (T, 2, None),
    ]
    assert [p.status for p in own.partitions] == [LagStatus.WARN, LagStatus.WARN, LagStatus.OK, LagStatus.WARN]
    assert own.status is LagStatus.WARN
    assert own.total_lag_messages == 0

    theirs = report.groups[0]
    by_partition = {p.partition: p for p in theirs.partitions}
    assert set(by_partition) == {0, 1, 2}  # every partition of the topic it committed, and only that topic
    assert (by_partition[0].lag_messages, by_partition[0].status) == (0, LagStatus.OK)
    assert (by_partition[1].committed_offset, by_partition[1].lag_messages) == (None, None)
    assert (by_partition[2].lag_messages, by_partition[2].status) == (3, LagStatus.STOP)
    assert theirs.status is LagStatus.STOP
    assert theirs.worst_partition is not None and theirs.worst_partition.partition == 2
    assert theirs.total_lag_messages == 3

    # Producers write on, nobody consumes: lag grows, lag in seconds follows the log end's history.
    for at, end in ((105.0, 14), (110.0, 24), (115.0, 34)):
        report = tracker.observe(at, {**ends, P2: end}, {"other": other}, own_group="own")
    p2 = report.groups[0].partitions[2]
    assert (p2.committed_offset, p2.log_end_offset, p2.lag_messages, p2.samples) == (1, 34, 33, 3)
    # offset 1 is below the table (4 at t=100 .. 34 at t=115): extrapolated, slope 0.5 s/offset
    assert p2.lag_seconds_method is LagSecondsMethod.EXTRAPOLATED
    assert p2.lag_seconds == pytest.approx(115.0 - (100.0 - 3 * 0.5))
    assert report.groups[0].max_lag_seconds == p2.lag_seconds
    assert ("unrelated", P0) not in tracker.windows


def test_tracker_interpolates_lag_seconds_for_a_commit_inside_the_history() -> None:
    tracker = LagTracker(window_samples=5)
    ends = [(0.0, 10), (10.0, 20), (20.0, 40)]
    for at, end in ends:
        report = tracker.observe(at, {P0: end}, {"g": GroupObservation(committed={P0: 10}, active=True)}, "own")
    lagging = report.groups[0].partitions[0]
    assert lagging.lag_messages == 30
    assert lagging.lag_seconds == 20.0  # the log end reached 10 at t=0: on the segment (10, 0)-(20, 10)
    report = tracker.observe(30.0, {P0: 40}, {"g": GroupObservation(committed={P0: 30}, active=True)}, "own")
    assert report.groups[0].partitions[0].lag_seconds == pytest.approx(30.0 - 15.0)


def test_tracker_failure_makes_every_known_group_err_and_keeps_their_last_numbers() -> None:
    tracker = LagTracker(window_samples=3)
    assert tracker.report.polled_at is None and tracker.report.groups == []
    assert [g.status for g in tracker.failed(1.0, "broker down", "own").groups] == [LagStatus.ERR]

    tracker.observe(2.0, {P0: 5}, {"g": GroupObservation(committed={P0: 2}, active=True)}, "own")
    report = tracker.failed(3.0, "broker down", "own")

    assert report.error == "broker down"
    assert [(g.group, g.status, g.reason) for g in report.groups] == [
        ("g", LagStatus.ERR, "broker down"),
        ("own", LagStatus.ERR, "broker down"),
    ]
    assert report.groups[0].partitions[0].lag_messages == 3


def test_a_group_whose_offsets_can_not_be_read_is_err() -> None:
    tracker = LagTracker(window_samples=3)
    tracker.observe(1.0, {P0: 5}, {"g": GroupObservation(committed={P0: 2}, active=True)}, "own")

    report = tracker.observe(2.0, {P0: 6}, {"g": GroupObservation(error="coordinator loading")}, "own")

    group = report.groups[0]
    assert (group.group, group.status, group.reason) == ("g", LagStatus.ERR, "coordinator loading")
    assert group.partitions[0].samples == 1  # no sample was recorded for the failed read


def test_windows_of_groups_that_disappear_are_dropped() -> None:
    tracker = LagTracker(window_samples=3)
    tracker.observe(1.0, {P0: 5}, {"g": GroupObservation(committed={P0: 2})}, "own")
    assert ("g", P0) in tracker.windows

    tracker.observe(2.0, {P0: 5}, {}, "own")

    assert ("g", P0) not in tracker.windows
    assert ("own", P0) in tracker.windows


def test_report_wire_shape_is_camel_case_with_explicit_nulls() -> None:
    tracker = LagTracker(window_samples=4, poll_seconds=2.0)
    report = tracker.observe(1_705_312_860.0, {P0: 3}, {}, "own").to_wire(exclude_none=False)

    assert report["polledAt"] == "2024-01-15T10:01:00.000Z"
    assert report["windowSamples"] == 4
    assert report["pollSeconds"] == 2.0
    group = report["groups"][0]  # type: ignore[index]
    assert set(group) >= {"group", "status", "totalLagMessages", "maxLagSeconds", "worstPartition", "partitions"}
    assert group["partitions"][0] == {
        "topic": T,
        "partition": 0,
        "committedOffset": None,
        "logEndOffset": 3,
        "lagMessages": None,
        "lagSeconds": None,
        "lagSecondsMethod": None,
        "status": "WARN",
        "reason": "no commit yet; 3 offsets on the log, lag unknown",
        "samples": 1,
    }
