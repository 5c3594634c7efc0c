"""Rows kept decoded beside their bytes, so the next step on an interview need not decode its row.

A row is JSON in RocksDB, and a step reads the row the step before it wrote: decoding a 3.6 KiB
interview row costs ~25 µs alone, more in a busy worker, about a third of a ``plan.generated``
step. ``DecodedRows`` keeps the last rows written, each with the bytes it was encoded to.

- **Checked against the store.** A read still fetches the row's bytes and takes the kept row only
  when they are equal, so whatever else changed the store (a restore, Faust's own writes, a
  partition that went to another worker and came back) is seen as it would be without it.
- **Taken, not shared.** A step changes the row it reads in place, so a read takes the row out;
  only the write of the row a step produced puts one back. A step that fails half-way leaves
  nothing behind that the store does not hold.
- **Bounded.** The least recently written rows go first (``ROWS_KEPT`` per table).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

# ~12 KiB of Python objects for a planned interview's row (3.6 KiB of JSON): ~25 MiB a table.
ROWS_KEPT = 2_048


class DecodedRows:
    """The last ``capacity`` rows written, by (partition, key), with the bytes each was encoded to."""

    __slots__ = ("_rows", "capacity")

    def __init__(self, capacity: int = ROWS_KEPT) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[tuple[int, bytes], tuple[bytes, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def take(self, partition: int, key: bytes, stored: bytes) -> Any | None:
        """The row kept for ``key`` if it was encoded to exactly ``stored`` (the store's bytes), else None.

        Either way nothing is kept for ``key`` afterwards: the caller owns the row it got.
        """
        kept = self._rows.pop((partition, key), None)
        if kept is None or kept[0] != stored:
            return None
        return kept[1]

    def keep(self, partition: int, key: bytes, encoded: bytes, row: Any) -> None:
        """Remember ``row``, just written as ``encoded``; the row must not change after this."""
        if self.capacity <= 0:
            return
        rows = self._rows
        rows[(partition, key)] = (encoded, row)
        rows.move_to_end((partition, key))
        if len(rows) > self.capacity:
            rows.popitem(last=False)
