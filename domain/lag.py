"""Consumer lag, Burrow-style: per-partition windows of samples, lag in messages and seconds, a status.

Pure: no Faust or Kafka import. ``app/lag_monitor.py`` polls the broker and feeds :class:`LagTracker`;
the tracker keeps, per (group, topic, partition), a sliding window of the last ``window_samples`` polls
``(at, committed offset | None, log-end offset)`` and, per (topic, partition), a lookup table of
``(log-end offset, time first seen)`` points for the lag in seconds.

Lag in seconds (as kafka-lag-exporter estimates it): the committed offset is looked up in the
partition's table; between two points the time the log end reached it is interpolated linearly,
beyond the table it is extrapolated along the table's whole trend line (its first and last point);
``lag_seconds = now - that time`` (0 when the lag is 0). With fewer than two points, or a table
that is one flat line, the answer is a lower bound: ``now - the oldest point's time``.

Status rules, after Burrow's consumer lag evaluation rules (``linkedin/Burrow``, evaluator
``calculatePartitionStatus``), adapted to polling: Burrow stores one window entry per *commit* with its
commit time, we store one per *poll* and only see the committed offset. A commit is therefore dated by
the poll that first saw the new offset, and whether a consumer is still there comes from the group's
membership (DescribeGroups), the one liveness signal a poller has.

1. ``committed`` is null (the group never committed the partition): OK when the log is empty, else
   WARN (messages wait and the lag can not be known until the group commits). Never dropped.
2. ERR when the lag is negative (committed beyond the log end: offsets reset or the topic recreated).
3. OK when the lag is 0 now or at any sample in the window (Burrow rule 1).
   Otherwise the lag is > 0 throughout the window:
4. ERR when the committed offset went backwards within the window (Burrow's REWIND, reported as ERR).
5. STOP when the consumer is gone: the group is not known to have members and its newest commit is
   older than the window's commits span (Burrow rule 3: ``now - newest commit > newest - oldest``);
   a group known to be empty stops as soon as its offset does not move, one with unknown membership
   needs two samples. STOP thus means "no commits in the window and nobody consuming".
6. STALL when the committed offset did not move across the window (>= 2 samples) while the group has
   live members: the consumer is there but does not advance (Burrow rule 4).
7. WARN when commits advance but the lag never decreased from one sample to the next (Burrow rule 5:
   the consumer is slower than the producers).
8. OK otherwise; also with a single sample of a live group (not enough history to say more).

Severity for "worst": OK < WARN < STALL < STOP < ERR. A group's status is its worst partition's (Burrow
caps a group at ERR; we keep the partition's own word); its worst partition is the one with the highest
severity, then the largest lag in messages, then in seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from typing import NamedTuple

from pydantic import ConfigDict

from models.base import WireModel, utc_timestamp


class LagStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    STALL = "STALL"
    STOP = "STOP"
    ERR = "ERR"


SEVERITY: dict[LagStatus, int] = {status: rank for rank, status in enumerate(LagStatus)}


class PartitionKey(NamedTuple):
    topic: str
    partition: int


class Sample(WireModel):
    """One poll's view of a group's partition."""

    model_config = ConfigDict(frozen=True)

    at: float
    committed: int | None
    log_end: int

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else self.log_end - self.committed


# --- lag in seconds -------------------------------------------------------------------------------


class Point(NamedTuple):
    offset: int
    time: float


class LagSecondsMethod(StrEnum):
    ZERO = "zero"
    INTERPOLATED = "interpolated"
    EXTRAPOLATED = "extrapolated"
    LOWER_BOUND = "lower_bound"


class LookupTable:
    """(log-end offset, time) points of one partition, oldest first, as kafka-lag-exporter keeps them."""

    def __init__(self, limit: int = 60) -> None:
        if limit < 2:
            raise ValueError("a lookup table needs room for at least two points")
        self.points: deque[Point] = deque(maxlen=limit)

    def add(self, offset: int, at: float) -> None:
        if self.points:
            last = self.points[-1]
            if at <= last.time:
                return  # out of order
            if offset < last.offset:
                self.points.clear()  # the log end went back: topic recreated, history is void
            elif offset == last.offset and len(self.points) > 1 and self.points[-2].offset == offset:
                # a flat line stays one segment: move its right end out until the offset moves again
                self.points[-1] = Point(offset, at)
                return
        self.points.append(Point(offset, at))

    def lookup(self, offset: int) -> tuple[float, LagSecondsMethod] | None:
        """When the log end reached ``offset`` (and how that was estimated); None for an empty table."""
        points = self.points
        if not points:
            return None
        if offset >= points[-1].offset:
            return points[-1].time, LagSecondsMethod.ZERO
        if len(points) < 2:
            return points[0].time, LagSecondsMethod.LOWER_BOUND
        for right_index in range(len(points) - 1, 0, -1):  # newest segment first
            left, right = points[right_index - 1], points[right_index]
            if left.offset <= offset <= right.offset:
                return _on_line(left, right, offset), LagSecondsMethod.INTERPOLATED
        first, last = points[0], points[-1]
        if last.offset == first.offset:
            return first.time, LagSecondsMethod.LOWER_BOUND
        return _on_line(first, last, offset), LagSecondsMethod.EXTRAPOLATED


def _on_line(left: Point, right: Point, offset: int) -> float:
    if right.offset == left.offset:
        return right.time
    slope = (right.time - left.time) / (right.offset - left.offset)
    return right.time - (right.offset - offset) * slope


def lag_seconds(
    table: LookupTable, committed: int | None, log_end: int, now: float
) -> tuple[float | None, LagSecondsMethod | None]:
    """Seconds since the log end was at ``committed`` and how that was estimated; None when unknowable."""
    if committed is None or committed > log_end:
        return None, None
    if committed == log_end:
        return 0.0, LagSecondsMethod.ZERO
    found = table.lookup(committed)
    if found is None:
        return None, None
    produced_at, method = found
    return max(0.0, now - produced_at), method


# --- status ---------------------------------------------------------------------------------------


def evaluate(samples: Sequence[Sample], active: bool | None) -> tuple[LagStatus, str]:
    """Status and reason of one partition from its window (oldest first); ``now`` is the newest sample."""
    if not samples:
        return LagStatus.ERR, "no samples"
    current = samples[-1]
    if current.committed is None:
        if current.log_end == 0:
            return LagStatus.OK, "no commit yet; the partition is empty"
        return LagStatus.WARN, f"no commit yet; {current.log_end} offsets on the log, lag unknown"
    window = _committed_tail(samples)
    lags = [sample.log_end - (sample.committed or 0) for sample in window]
    if lags[-1] < 0:
        return LagStatus.ERR, "committed offset beyond the log end (offsets reset or topic recreated)"
    if lags[-1] == 0:
        return LagStatus.OK, "caught up"
    if any(lag == 0 for lag in lags):
        return LagStatus.OK, "lag was zero within the window"
    offsets = [sample.committed or 0 for sample in window]
    if any(later < earlier for earlier, later in pairwise(offsets)):
        return LagStatus.ERR, "committed offset moved backwards within the window (rewind)"
    now = current.at
    change_times = [window[i].at for i in range(1, len(window)) if offsets[i] != offsets[i - 1]]
    if active is not True and (active is False or len(window) >= 2):
        newest = change_times[-1] if change_times else window[0].at
        if not change_times or now - newest > newest - window[0].at:
            gone = "the group has no members" if active is False else "no sign of a consumer"
            return LagStatus.STOP, f"no commits in the window and {gone}; lag {lags[-1]}"
    if len(window) < 2:
        return LagStatus.OK, f"lag {lags[-1]}; one sample so far"
    if not change_times:
        return LagStatus.STALL, f"committed offset unchanged across {len(window)} samples while lag is {lags[-1]}"
    if all(later >= earlier for earlier, later in pairwise(lags)):
        return LagStatus.WARN, f"commits advance but lag is not decreasing ({lags[0]} -> {lags[-1]})"
    return LagStatus.OK, "lag decreasing"


def _committed_tail(samples: Sequence[Sample]) -> list[Sample]:
    """The window from the first sample that has a commit (earlier ones are like Burrow's nil entries)."""
    for index, sample in enumerate(samples):
        if sample.committed is not None:
            return list(samples)[index:]
    return []


# --- report ---------------------------------------------------------------------------------------


class PartitionLag(WireModel):
    topic: str
    partition: int
    committed_offset: int | None
    log_end_offset: int
    lag_messages: int | None
    lag_seconds: float | None
    lag_seconds_method: LagSecondsMethod | None = None
    status: LagStatus
    reason: str
    samples: int


class GroupLag(WireModel):
    group: str
    own: bool = False
    status: LagStatus
    reason: str | None = None
    state: str | None = None
    active: bool | None = None
    total_lag_messages: int
    max_lag_seconds: float | None
    worst_partition: PartitionLag | None
    partitions: list[PartitionLag]


class LagReport(WireModel):
    groups: list[GroupLag] = []
    polled_at: str | None = None
    window_samples: int
    poll_seconds: float
    error: str | None = None


def worst_partition(partitions: Iterable[PartitionLag]) -> PartitionLag | None:
    def key(p: PartitionLag) -> tuple[int, int, float]:
        return SEVERITY[p.status], p.lag_messages or 0, p.lag_seconds or 0.0

    return max(partitions, key=key, default=None)


def group_lag(
    group: str,
    partitions: list[PartitionLag],
    *,
    own: bool = False,
    state: str | None = None,
    active: bool | None = None,
    error: str | None = None,
) -> GroupLag:
    """A group's totals, worst partition and status (worst of its partitions; ERR with ``error``)."""
    worst = worst_partition(partitions)
    seconds = [p.lag_seconds for p in partitions if p.lag_seconds is not None]
    if error is not None:
        status, reason = LagStatus.ERR, error
    elif worst is None:
        status, reason = LagStatus.OK, "no partitions of the workflow topics yet"
    else:
        status, reason = worst.status, None
    return GroupLag(
        group=group,
        own=own,
        status=status,
        reason=reason,
        state=state,
        active=active,
        total_lag_messages=sum(p.lag_messages for p in partitions if p.lag_messages and p.lag_messages > 0),
        max_lag_seconds=max(seconds, default=None),
        worst_partition=worst,
        partitions=partitions,
    )


@dataclass(frozen=True)
class GroupObservation:
    """What one poll read about a group: committed offsets (only those it has), membership, an error."""

    committed: Mapping[PartitionKey, int] = field(default_factory=dict)
    active: bool | None = None
    state: str | None = None
    error: str | None = None


class LagTracker:
    """The windows and lookup tables between polls; every call takes its time, nothing reads a clock."""

    def __init__(self, window_samples: int = 10, lookup_points: int = 60, poll_seconds: float = 5.0) -> None:
        if window_samples < 1:
            raise ValueError("window_samples must be at least 1")
        self.window_samples = window_samples
        self.lookup_points = lookup_points
        self.poll_seconds = poll_seconds
        self.windows: dict[tuple[str, PartitionKey], deque[Sample]] = {}
        self.tables: dict[PartitionKey, LookupTable] = {}
        self.report = LagReport(window_samples=window_samples, poll_seconds=poll_seconds)

    def observe(
        self,
        at: float,
        log_ends: Mapping[PartitionKey, int],
        groups: Mapping[str, GroupObservation],
        own_group: str,
    ) -> LagReport:
        """Record one poll and evaluate it.

        ``log_ends`` lists every partition of the (existing) workflow topics. A group is reported on every
        partition of each topic it committed at least one partition of; ``own_group`` on all of them, also
        before it commits. Groups with neither are left out.
        """
        for key, log_end in log_ends.items():
            self.tables.setdefault(key, LookupTable(self.lookup_points)).add(log_end, at)
        for key in set(self.tables) - set(log_ends):
            del self.tables[key]

        seen: set[tuple[str, PartitionKey]] = set()
        reported: list[GroupLag] = []
        for group in sorted(set(groups) | {own_group}):
            observation = groups.get(group, GroupObservation())
            own = group == own_group
            topics = {key.topic for key in log_ends} if own else {k.topic for k in observation.committed}
            if observation.error is not None and not own:  # keep what the last good read reported
                topics = {key.topic for window_group, key in self.windows if window_group == group}
            keys = sorted(key for key in log_ends if key.topic in topics)
            if not keys and not own and observation.error is None:
                continue
            partitions: list[PartitionLag] = []
            for key in keys:
                window_key = (group, key)
                seen.add(window_key)
                window = self.windows.setdefault(window_key, deque(maxlen=self.window_samples))
                if observation.error is None:
                    window.append(Sample(at=at, committed=observation.committed.get(key), log_end=log_ends[key]))
                if window:
                    partitions.append(self._partition(key, window, observation.active))
            reported.append(
                group_lag(
                    group,
                    partitions,
                    own=own,
                    state=observation.state,
                    active=observation.active,
                    error=observation.error,
                )
            )
        for window_key in set(self.windows) - seen:
            del self.windows[window_key]
        self.report = LagReport(
            groups=reported,
            polled_at=utc_timestamp_at(at),
            window_samples=self.window_samples,
            poll_seconds=self.poll_seconds,
        )
        return self.report

    def failed(self, at: float, error: str, own_group: str) -> LagReport:
        """A poll that could not reach the broker: every known group (at least our own) is ERR."""
        previous = {group.group: group for group in self.report.groups}
        previous.setdefault(own_group, group_lag(own_group, [], own=True))
        groups = [
            group.model_copy(update={"status": LagStatus.ERR, "reason": error}) for _, group in sorted(previous.items())
        ]
        self.report = LagReport(
            groups=groups,
            polled_at=utc_timestamp_at(at),
            window_samples=self.window_samples,
            poll_seconds=self.poll_seconds,
            error=error,
        )
        return self.report

    def _partition(self, key: PartitionKey, window: Sequence[Sample], active: bool | None) -> PartitionLag:
        current = window[-1]
        status, reason = evaluate(window, active)
        table = self.tables.get(key) or LookupTable(self.lookup_points)
        seconds, method = lag_seconds(table, current.committed, current.log_end, current.at)
        return PartitionLag(
            topic=key.topic,
            partition=key.partition,
            committed_offset=current.committed,
            log_end_offset=current.log_end,
            lag_messages=current.lag,
            lag_seconds=None if seconds is None else round(seconds, 3),
            lag_seconds_method=method,
            status=status,
            reason=reason,
            samples=len(window),
        )


def utc_timestamp_at(at: float) -> str:
    return utc_timestamp(datetime.fromtimestamp(at, UTC))
