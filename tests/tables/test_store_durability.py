"""BulkRestoringStore without RocksDB's write-ahead log: a crash loses a prefix-closed tail, a clean stop nothing.

Recovery replays the changelog from the store's persisted offset, so what a crash leaves must never
hold an offset past a row it lost. Rows are written as the agents write them (the row, then its
changelog offset once delivered), in a real RocksDB store in a child process that is SIGKILLed.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from faust.types import TP
from store_support import open_store

from tables.bulk_restore import BulkRestoringStore

CHANGELOG = TP("app-webhook-queues-changelog", 0)
# Past RocksDB's 64 MiB memtable (Faust's write buffer size) more than once: some rows reach table files.
ROWS = 30_000
ROW = b"x" * 5_500


def write_rows(store: BulkRestoringStore, rows: int) -> None:
    """Row i, then the changelog offset i: as write_row puts a row and records its delivered offset."""
    for i in range(rows):
        store.put_row(0, f"row-{i}".encode(), ROW)
        store.set_persisted_offset(CHANGELOG, i)


CHILD = textwrap.dedent(
    f"""
    import os, signal, sys
    from pathlib import Path
    sys.path[:0] = [{str(Path(__file__).parent)!r}, {os.getcwd()!r}]
    from test_store_durability import open_store, write_rows
    write_rows(open_store(Path(sys.argv[1])), {ROWS})
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def surviving_rows(store: BulkRestoringStore) -> set[int]:
    db: Any = store._db_for_partition(0)
    keys = db.keys()  # a raw-mode Rdict is not iterable itself
    return {int(key.decode().removeprefix("row-")) for key in keys if key.startswith(b"row-")}


def test_a_killed_writer_leaves_no_persisted_offset_past_a_row_it_lost(tmp_path: Path) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()

    store = open_store(tmp_path)
    offset = store.persisted_offset(CHANGELOG)
    rows = surviving_rows(store)
    assert offset is not None, "no memtable reached a table file: the test wrote too little to show anything"
    assert len(rows) < ROWS, "nothing was lost: the writes did not skip the write-ahead log"
    # Recovery reads the changelog from offset + 1 on: every row up to the offset must be here.
    assert set(range(offset + 1)) <= rows
    assert rows == set(range(len(rows))), "a crash keeps a prefix of the writes"


def test_a_clean_stop_keeps_every_row_and_the_last_offset(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    write_rows(store, 1_000)
    store._dbs.clear()  # what Faust's Store.stop does: the databases close as they are dropped
    del store
    gc.collect()

    reopened = open_store(tmp_path)
    assert reopened.persisted_offset(CHANGELOG) == 999
    assert surviving_rows(reopened) == set(range(1_000))
    assert os.listdir(tmp_path)  # the store lives in the table directory given
