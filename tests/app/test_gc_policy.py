"""The worker's garbage-collector policy: start-up heap frozen once, thresholds raised, cycles still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app import gc_policy


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def tracked(obj: object) -> bool:
    """Whether later collections still walk ``obj`` (frozen objects are in none of the generations)."""
    return any(candidate is obj for candidate in gc.get_objects())


@pytest.fixture
def fresh_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    thresholds = gc.get_threshold()
    monkeypatch.setattr(gc_policy, "_frozen", False)
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_start_up_objects_leave_collection_and_thresholds_rise(fresh_policy: None) -> None:
    before = Node()
    assert tracked(before)

    gc_policy.tune_for_worker()

    assert not tracked(before)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, gc_policy.MIDDLE_THRESHOLD, gc_policy.OLD_THRESHOLD)


def test_only_the_first_call_freezes(fresh_policy: None) -> None:
    gc_policy.tune_for_worker()
    later = Node()

    gc_policy.tune_for_worker()  # every rebalance calls it again

    assert tracked(later)


def test_cycles_made_after_tuning_are_still_freed_automatically(fresh_policy: None) -> None:
    gc_policy.tune_for_worker()
    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second

    # Kept alive: CPython counts allocations net of deallocations towards the next young collection.
    allocations: list[list[int]] = [[] for _ in range(gc_policy.YOUNG_THRESHOLD + 1_000)]

    assert gone() is None
    del allocations
