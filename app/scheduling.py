"""The order in which a fetched batch's records are handed out: runs of one partition, partitions in turn.

Faust's ``DefaultSchedulingStrategy`` hands out one record of each topic in turn (and within a topic,
one of each partition), so a worker that is sent both kinds alternates between two steps record by
record: a ``skill.validation.requested``, a ``plan.generated``, another ``skill.validation.requested``.
Each step then starts with little of its code and data in the CPU's caches, which on this machine
are shared with the broker and everything else on the other core. Here each partition hands out up
to ``RUN_RECORDS`` records before the next one's turn: the same step runs on several records in a
row, while a sparse topic (a cancel, a recruiter's decision) still waits for at most one run per
busier partition in the batch rather than for all of it.

Order within a partition is Kafka's, as before. Records of different partitions or topics never
had an order between them: an interview's follow-on event comes after its input only because it
is sent after the input is handled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

from faust.types import TP
from faust.types.transports import SchedulingStrategyT

from app.kafka_transport import RUN_MESSAGES

# Records of one partition handed out before the next partition's turn: as many as the drain loop's
# runs of handled messages, so such a run is mostly one partition's.
RUN_RECORDS = RUN_MESSAGES


class PartitionRuns(SchedulingStrategyT):
    """Up to ``RUN_RECORDS`` records of each partition in turn, until the batch is out."""

    def __init__(self) -> None:  # abstract in Faust's interface
        pass

    def iterate(self, records: Mapping[TP, list[Any]]) -> Iterator[tuple[TP, Any]]:
        turns = [(tp, iter(batch)) for tp, batch in records.items() if batch]
        while turns:
            again = []
            for tp, batch in turns:
                handed = 0
                for record in islice(batch, RUN_RECORDS):
                    yield tp, record
                    handed += 1
                if handed == RUN_RECORDS:
                    again.append((tp, batch))
            turns = again
