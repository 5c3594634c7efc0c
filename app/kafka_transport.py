"""Faust's aiokafka transport: its consumer mended where it lost records or time, its producer librdkafka.

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

**A message is handed to its streams without four tasks.** Faust's drain loop delivers each message
through ``wait_first(callback(message), suspend_flow.wait())``: a task for the callback, one each
for the suspend, stop and crash events, and an ``asyncio.wait``, about a tenth of a busy worker's
CPU. The callback almost never waits (it puts the event in its stream's queue), so here it runs at
once (``app/eager.py``) and only one that does wait goes through ``wait_first``, as in Faust, so a
rebalance that suspends the flow still interrupts it. The loop still yields once per message it
delivers to Faust's streams, as ``wait_first`` made it: without that turn the drain ran ahead of the
agents, the stream queues passed their pressure mark, and pausing and resuming the partitions'
fetches cost more than the tasks saved (1,000 µs of CPU per planning event instead of 700; with the
turn, 520).

**The workflow topics are handled in the drain loop** (``app/direct.py``). A message of a topic with
a handler there goes to that handler instead of Faust's conductor, streams and agents. The handler
puts its row in the store at once and leaves its sends (changelog record, follow-on events, dead
letters); the loop makes them in order at the end of the run (``_finish_staged``) and acks each
message once its sends are made. A message is tracked as unacked from its handling on, so a
rebalance waits for it as Faust waits for its streams; a send that has to wait (the producer's
buffer full) goes through ``wait_first`` like a delivery, so a rebalance that suspends the flow cuts
the run short, and the rest of it is neither acked nor tracked and is read again from the committed
offset. A run ends at the end of the fetched batch, at a message for Faust's streams, after
``RUN_MESSAGES`` messages, and, while something waits for the sends (a live stream is open:
``direct.sends_awaited``), at the loop's next turn. Measured in the throughput scenario, runs as long
as a fetched batch cost 270-297 µs of CPU per planning event, against 319-337 µs for runs ended at every
turn and 344-351 µs with each message's sends made at once; but with streams open they put
SSE delivery p99 at 310-365 ms against 204-239, since a stream sees a row only once it is sent.

Handled messages need no turn of the loop each, since no stream waits for them: the loop yields once
they have held it for ``DIRECT_TURN_SECONDS`` (1 ms, three or four planning steps), so the producer's
sender, the live streams' changelog tail, the web server and the remaining Faust agents still run
every millisecond or so. Fewer turns cost less CPU (each task that runs in a turn handles more
records at once: fewer fetches, produce requests and wake-ups) but hold the live streams back: 1 ms
measured 388 µs of CPU per planning event and SSE delivery p99 202-223 ms; a turn per 16 messages
308-332 µs but SSE p99 321-344 ms (target 250); a turn per message, with the queues gone, 458-468 µs
and 159 ms. Faust's streams with a turn per message: 536-564 µs.

**Fetches are made in a session** (``app/fetch_sessions.py``, KIP-227, which aiokafka lacks): a request
names only the partitions whose fetch offset moved, a response only those with records, instead of all
of the worker's partitions each time, most of them idle.

**Records are sent through librdkafka** (``app/librdkafka_producer.py``): Faust's producer, with
aiokafka's batching, compression and produce requests moved out of the event loop's thread.

Registered as the ``kafka+app`` transport (a ``faust.transports`` entry point in pyproject.toml);
``Settings.broker_urls`` names it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from time import monotonic
from typing import Any, ClassVar, cast

import aiokafka
from faust.transport.consumer import CONSUMER_FETCHING, RecordMap
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT, Message, ProducerT
from mode import Service, ServiceT

from app import direct
from app.eager import start_eagerly
from app.fetch_sessions import SessionFetcher
from app.librdkafka_producer import LibrdkafkaProducer

SCHEME = "kafka+app"
FETCH_MAX_WAIT_MS = 100
# How long messages of topics handled in the drain loop (app/direct.py) may hold the loop between two
# turns (docstring).
DIRECT_TURN_SECONDS = 0.001
# The most handled messages whose sends wait for the end of their run (docstring).
RUN_MESSAGES = 64


class WorkerConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def on_start(self) -> None:
        await super().on_start()
        SessionFetcher.adopt(self._ensure_consumer()._fetcher)  # before the group assigns it anything to fetch

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
        tracked: set[TP] = set()  # Faust tracked each record's partition end; once per fetched batch is as fresh
        for tp, record in self.scheduler.iterate(records):
            if not self.flow_active or self.app.consumer_generation_id != generation:
                handed_out_all = False
                break
            if active_partitions is None or tp in active_partitions or tp in self._buffered_partitions:
                if tp not in tracked:
                    tracked.add(tp)
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                yield tp, self._to_message(tp, record)
            else:
                handed_out_all = False
        if not handed_out_all:
            await self._rewind_to_committed()

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust 0.15.3's drain loop (its comments dropped), delivering each message eagerly (module docstring).

        Faust's loop also yielded after every 100 messages; this one yields after each message it hands to
        Faust's streams, and once handled messages (app/direct.py) have held it ``DIRECT_TURN_SECONDS``.
        """
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        handlers_get = direct.handlers.get
        flow_active = self.app.flow_control.is_active
        staged: list[tuple[Message, direct.Pending | None]] = []  # handled, their sends not made yet
        turn_due = 0.0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self._finish_staged(staged)
                                await self.commit()
                            handle = handlers_get(message.topic)
                            if handle is not None:
                                if flow_active() or await self._flow_resumed():
                                    self.track_message(message)
                                    staged.append((message, handle(message)))
                                    if len(staged) >= RUN_MESSAGES:
                                        await self._finish_staged(staged)
                                if monotonic() >= turn_due:
                                    if staged and direct.sends_awaited():
                                        await self._finish_staged(staged)
                                    await asyncio.sleep(0)  # the turn the other tasks get (docstring)
                                    turn_due = monotonic() + DIRECT_TURN_SECONDS
                            else:
                                if staged:
                                    await self._finish_staged(staged)
                                delivery = callback(message)  # Faust: await wait_first(delivery, suspend_flow.wait())
                                delivering = start_eagerly(delivery) if asyncio.iscoroutine(delivery) else delivery
                                if delivering is not None:
                                    await self.wait_first(delivering, self.suspend_flow.wait())
                                else:
                                    await asyncio.sleep(0)  # the turn wait_first gave the streams (docstring)
                                    turn_due = monotonic() + DIRECT_TURN_SECONDS
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                    if staged:
                        await self._finish_staged(staged)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self._abandon_staged(staged, 0)
            unset_flag(CONSUMER_FETCHING)

    async def _flow_resumed(self) -> bool:
        """Wait, as Faust's conductor does before a delivery, for a suspended flow; False if a rebalance came first."""
        resumed = asyncio.ensure_future(self.app.flow_control.acquire())
        await self.wait_first(resumed, self.suspend_flow.wait())
        return resumed.done() and not resumed.cancelled()

    async def _finish_staged(self, staged: list[tuple[Message, direct.Pending | None]]) -> None:
        """Make the sends the handled messages left, in order, acking each message once its sends are made.

        A send that has to wait (the producer's buffer full) goes through ``wait_first`` like a delivery,
        so a rebalance that suspends the flow cuts the run short: the rest are neither acked nor tracked,
        and are read again from the committed offset.
        """
        for index, (message, pending) in enumerate(staged):
            if pending is not None:
                finishing = start_eagerly(pending.finish)
                if finishing is not None:
                    await self.wait_first(finishing, self.suspend_flow.wait())
                    if not finishing.done():  # cancelled by wait_first: the rebalance came first
                        self._abandon_staged(staged, index)
                        return
            self.ack(message)
        staged.clear()

    def _abandon_staged(self, staged: list[tuple[Message, direct.Pending | None]], start: int) -> None:
        # Never acked: a rebalance must not wait for them (wait_empty would, for ever).
        for message, pending in staged[start:]:
            self._unacked_messages.discard(message)
            if pending is not None:
                pending.abandon()
        staged.clear()

    async def _rewind_to_committed(self) -> None:
        try:
            await self.perform_seek()
        except Exception as exc:  # a rebalance under way: it ends with a seek of its own (tables/recovery.py)
            self.log.warning("rewind to the committed offsets failed: %s: %s", type(exc).__name__, exc)


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[ConsumerT]] = Consumer
    Producer: ClassVar[type[ProducerT]] = LibrdkafkaProducer
