"""Where a bulk restore starts and how much it has to read (tables/bulk_restore.backlog)."""

from __future__ import annotations

from tables.bulk_restore import backlog


def test_an_empty_store_reads_the_whole_changelog() -> None:
    assert backlog(None, 0, 100_000) == 100_000


def test_a_store_reads_on_from_the_record_after_its_last_applied_offset() -> None:
    assert backlog(99, 0, 1_000) == 900
    assert backlog(999, 0, 1_000) == 0


def test_a_trimmed_or_compacted_changelog_is_read_from_its_first_offset() -> None:
    assert backlog(None, 400, 1_000) == 600
    assert backlog(10, 400, 1_000) == 600


def test_a_store_ahead_of_the_changelog_has_nothing_to_read() -> None:
    assert backlog(2_000, 0, 1_000) == 0
