"""DecodedRows: a row taken only for the bytes it was written as, taken once, the oldest written dropped first."""

from __future__ import annotations

from tables.row_cache import DecodedRows


def test_a_row_is_taken_for_its_own_bytes_and_only_once() -> None:
    rows = DecodedRows(4)
    row = {"state": "PENDING"}
    rows.keep(0, b"iv-1", b"v1", row)

    assert rows.take(0, b"iv-1", b"v1") is row
    assert rows.take(0, b"iv-1", b"v1") is None
    assert len(rows) == 0


def test_other_bytes_in_the_store_drop_the_kept_row() -> None:
    rows = DecodedRows(4)
    rows.keep(0, b"iv-1", b"v1", {"version": 1})

    assert rows.take(0, b"iv-1", b"v2") is None
    assert rows.take(0, b"iv-1", b"v1") is None  # dropped, not left for a later read


def test_a_key_is_kept_per_partition_and_a_new_write_replaces_the_old_row() -> None:
    rows = DecodedRows(4)
    rows.keep(0, b"iv-1", b"v1", "old")
    rows.keep(0, b"iv-1", b"v2", "new")
    rows.keep(1, b"iv-1", b"v2", "elsewhere")

    assert len(rows) == 2
    assert rows.take(0, b"iv-1", b"v2") == "new"
    assert rows.take(1, b"iv-1", b"v2") == "elsewhere"


def test_the_least_recently_written_row_goes_first() -> None:
    rows = DecodedRows(2)
    rows.keep(0, b"a", b"a1", "a")
    rows.keep(0, b"b", b"b1", "b")
    rows.keep(0, b"a", b"a2", "a again")  # written again: now the most recent
    rows.keep(0, b"c", b"c1", "c")

    assert len(rows) == 2
    assert rows.take(0, b"b", b"b1") is None
    assert rows.take(0, b"a", b"a2") == "a again"
    assert rows.take(0, b"c", b"c1") == "c"


def test_no_capacity_keeps_nothing() -> None:
    rows = DecodedRows(0)
    rows.keep(0, b"iv-1", b"v1", "row")

    assert len(rows) == 0 and rows.take(0, b"iv-1", b"v1") is None
