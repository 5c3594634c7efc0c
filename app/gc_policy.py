"""Garbage-collector settings for a long-running worker.

Measured in a worker with ``gc.callbacks`` timings (``python -m bench --only sse_fanout``):

- Every full collection walked the ~160,000 objects left from start-up (modules, Faust's and
  pydantic's machinery), about 50 ms each and often five in a row. With 5,000 open streams a
  full collection took 230 to 470 ms: that pause was the whole tail of SSE delivery latency.
- At the default first-generation threshold (700 allocations) a busy worker collects the young
  generation every millisecond or so, so an object alive across one await (a message in flight,
  a row waiting for its subscribers) is promoted to the old generations and soon forces a full
  collection. 50,000 gives such objects time to die by reference counting first.

Objects in reference cycles are still collected, only later. The one exception is a frozen
object that later ends up in a garbage cycle, which is never collected; the heap frozen (once,
right after a collection) is start-up state that lives as long as the worker anyway.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)
MIDDLE_THRESHOLD = 20  # young collections between middle ones (default 10)
OLD_THRESHOLD = 10  # middle collections between full ones (default 10)

_frozen = False


def tune_for_worker() -> None:
    """Freeze what is alive now out of every later collection and raise the thresholds; once per process.

    Called when the worker joins its group for the first time: start-up is done, recovery has not begun.
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    log.info("garbage collector: %d start-up objects frozen, thresholds %s", gc.get_freeze_count(), gc.get_threshold())
