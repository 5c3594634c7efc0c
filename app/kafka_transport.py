"""Faust's aiokafka transport, with the worker's consumer mended where it lost records or time.

**No record is dropped without a rewind.** Faust's ``Consumer.getmany`` hands out a fetched batch
only for partitions that are active (not paused) and only while the flow and the generation stay
what they were; the rest it dropped silently, though aiokafka's position had already moved past
it. Nothing read those records again unless a seek to the committed offsets came after, and Faust's
gap handling then took the jump to the next record handed out for a "gap" and acked it. Seen in the
fault suite's 1 -> 2 -> 1 workers case (2 to 26 of 240 interviews lost in 5 of 7 runs here, their
input committed, nothing processed): a fetch started in the old generation returned while the
rebalance's recovery was seeking the partitions to their committed offsets, with every partition
paused, so Faust dropped the records fetched from the sought positions. Here a batch is read
against the generation from *before* the fetch, and any record not handed out sends the worker
back to its committed offsets (Faust's own ``perform_seek``, which it already does when the flow
is stopped): at-least-once, and the handlers are idempotent. Also, aiokafka takes an empty
partition set for "every partition", and Faust passes its live set of active partitions, which
a rebalance empties while the fetch waits; a fetch for no partition now returns nothing.

**The fetch long-poll is 100 ms instead of 1.5 s.** Faust builds the worker's consumer with
``fetch_max_wait_ms=1500``, hard-coded. A fetch with nothing to return waits that long on the
broker, and Kafka answers a connection's requests in order, so every offsets request the worker
sent while its partitions were quiet or paused (highwaters and earliest offsets in each recovery,
for instance) waited behind one: 1.5 s each, measured in the recovery benchmark, where it was a
fifth of a 100,000-row restore. A busy partition answers a fetch at once either way; an idle worker
sends a fetch per 100 ms instead of per 1.5 s.

Registered as the ``kafka+app`` transport (a ``faust.transports`` entry point in pyproject.toml);
``Settings.broker_urls`` names it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import aiokafka
from faust.transport.consumer import RecordMap
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT, Message

SCHEME = "kafka+app"
FETCH_MAX_WAIT_MS = 100


class WorkerConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher when the consumer starts, which is after this returns.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> RecordMap:
        partitions = set(active_partitions)  # Faust's set is live: a rebalance may empty it meanwhile
        if not partitions:  # aiokafka would read an empty set as every partition
            return {}
        return await super()._fetch_records(consumer, partitions, timeout=timeout, max_records=max_records)


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's ``getmany``, except that a record it does not hand out is read again (module docstring)."""
        generation = self.app.consumer_generation_id  # before the fetch, not after it as in Faust
        records, active_partitions = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return
        handed_out_all = True
        for tp, record in self.scheduler.iterate(records):
            if not self.flow_active or self.app.consumer_generation_id != generation:
                handed_out_all = False
                break
            if active_partitions is None or tp in active_partitions or tp in self._buffered_partitions:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                yield tp, self._to_message(tp, record)
            else:
                handed_out_all = False
        if not handed_out_all:
            await self._rewind_to_committed()

    async def _rewind_to_committed(self) -> None:
        try:
            await self.perform_seek()
        except Exception as exc:  # a rebalance under way: it ends with a seek of its own (tables/recovery.py)
            self.log.warning("rewind to the committed offsets failed: %s: %s", type(exc).__name__, exc)


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[ConsumerT]] = Consumer
