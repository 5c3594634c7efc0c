"""The worker's producer: Faust's, with every record sent through librdkafka (confluent-kafka).

aiokafka's producer appends each record to its batch, compresses the batch, encodes the produce
request and reads the response in Python, on the event loop's thread, which the steps need: at
1,000 inputs/s that was about a tenth of a core (docs/performance.md, What was tuned, 21).
librdkafka does all of it in its own threads, outside the GIL; a send here is one C call and a
future. Faust's settings still apply (acks, linger, batch size, request size, compression), and
Faust's aiokafka producer is still started for what it does besides sending: creating topics
(``create_topic``) and placing keys (``key_partition``).

- **Deliveries.** librdkafka reports each delivery when polled, and runs the report's callback in
  the polling thread. A task of the event loop polls every ``POLL_SECONDS`` while records are out,
  so the reports resolve the sends' futures (aiokafka's ``RecordMetadata``, as Faust and
  ``tables/rows.py`` expect) in the loop's own thread: no thread of ours wanting the GIL, no
  hand-off between threads. A report comes up to 5 ms late, which only a commit's flush waits on
  (it polls for itself) and which moves a store's persisted offset (``tables/rows.py``) that much later.
- **At-least-once.** Faust's commit awaits ``flush`` before it commits offsets; ``flush`` waits for
  every record sent before it and raises ``ProducerSendError`` if any of them failed since the last
  flush, so a commit never passes a record the broker did not take (the worker stops instead, and
  its inputs are read again: tests/integration/test_faults_refused_record.py). aiokafka's flush
  returned all the same.
- **Order, no duplicates.** Idempotence keeps each partition's records in the order they were
  sent, through retries, and keeps a retry from writing a record twice.
- **Placement.** ``murmur2_random`` is the Java client's murmur2 for keyed records, as
  ``app/partitioning.py`` (tested against each other on the broker).

Not supported, and refused at start rather than sent without: transactions (exactly-once) and
SSL/SASL credentials (this app configures neither).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import Any

import confluent_kafka
from aiokafka.structs import RecordMetadata, TopicPartition
from faust.exceptions import ImproperlyConfigured, ProducerSendError
from faust.transport.drivers import aiokafka as faust_aiokafka

# How often the loop polls librdkafka for delivery reports while records are out (docstring).
POLL_SECONDS = 0.005
# How long a flush, or a send that found librdkafka's queue full, waits between two polls.
WAIT_SECONDS = 0.001
# librdkafka's timestamp type for a broker-set time; aiokafka calls it 1 (LogAppendTime), else 0.
_LOG_APPEND_TIME = confluent_kafka.TIMESTAMP_LOG_APPEND_TIME


def librdkafka_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """librdkafka's configuration for the settings Faust gives aiokafka's producer (``_settings_default``)."""
    acks = settings["acks"]
    servers = settings["bootstrap_servers"]
    return {
        "bootstrap.servers": servers if isinstance(servers, str) else ",".join(servers),
        "client.id": settings["client_id"],
        "acks": "all" if acks in (-1, "all") else str(acks),
        "enable.idempotence": acks in (-1, "all"),  # librdkafka requires acks=all for it
        "linger.ms": settings["linger_ms"],
        "batch.size": settings["max_batch_size"],
        "message.max.bytes": settings["max_request_size"],
        "compression.type": settings["compression_type"] or "none",
        # How long a record may take to be delivered, retries included, as aiokafka's request timeout bounds it.
        "message.timeout.ms": settings["request_timeout_ms"],
        "partitioner": "murmur2_random",
    }


class LibrdkafkaProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer, sending through librdkafka (module docstring)."""

    _native: confluent_kafka.Producer | None = None

    async def on_start(self) -> None:
        if self.app.in_transaction:
            raise ImproperlyConfigured("the librdkafka producer does not do transactions (exactly-once)")
        if self.ssl_context is not None or self.credentials is not None:
            raise ImproperlyConfigured("the librdkafka producer is not configured for SSL or SASL")
        await super().on_start()
        self._running_loop = asyncio.get_running_loop()
        self._unresolved: set[asyncio.Future[RecordMetadata]] = set()
        self._failures: list[str] = []
        self._records_out = asyncio.Event()
        self._native = confluent_kafka.Producer(librdkafka_config(self._settings_default()))
        self._poller = asyncio.ensure_future(self._poll_deliveries())

    async def on_stop(self) -> None:
        if self._native is not None:
            try:
                await self.flush()
            except ProducerSendError as exc:  # nothing commits after this: the inputs are read again
                self.log.error("stopping with records not delivered: %s", exc)
            finally:
                self._poller.cancel()
                self._native = None
        await super().on_stop()

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
        *,
        transactional_id: str | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Hand the record to librdkafka; the future resolves once the broker has it."""
        native = self._native
        if native is None:
            raise ProducerSendError("producer not started")
        if isinstance(headers, Mapping):
            headers = list(headers.items())
        self._send_on_produce_message(key=key, value=value, partition=partition, timestamp=timestamp, headers=headers)
        future: asyncio.Future[RecordMetadata] = self._running_loop.create_future()
        while True:
            try:
                native.produce(
                    topic,
                    value,
                    key,
                    -1 if partition is None else partition,  # -1: the partitioner places it
                    on_delivery=partial(self._delivered, future),
                    timestamp=int(timestamp * 1000) if timestamp else 0,
                    headers=headers,
                )
                break
            except BufferError:  # librdkafka's queue is full: deliveries make room
                native.poll(0)
                await asyncio.sleep(WAIT_SECONDS)
            except confluent_kafka.KafkaException as exc:  # refused before sending (too large, unknown partition)
                raise ProducerSendError(f"Error while sending: {exc!r}") from exc
        if not self._unresolved:
            self._records_out.set()
        self._unresolved.add(future)
        return future

    async def send_and_wait(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
        *,
        transactional_id: str | None = None,
    ) -> RecordMetadata:
        return await (await self.send(topic, key, value, partition, timestamp, headers))

    async def flush(self) -> None:
        """Wait for every record sent so far; raise if any record failed since the last flush (docstring)."""
        await self.buffer.flush()
        native = self._native
        if native is None:
            return
        # Every record sent before this flush, not those sent while it waits: a busy loop never runs dry.
        waiting = set(self._unresolved)
        while waiting:
            native.poll(0)
            waiting &= self._unresolved
            if waiting:
                await asyncio.sleep(WAIT_SECONDS)
        if self._failures:
            failures, self._failures = self._failures, []
            raise ProducerSendError(f"{len(failures)} records not delivered, the first: {failures[0]}")

    async def _poll_deliveries(self) -> None:
        """Serve librdkafka's delivery reports every ``POLL_SECONDS`` while records are out."""
        native = self._native
        assert native is not None
        while True:
            if not self._unresolved:
                self._records_out.clear()
                await self._records_out.wait()
            await asyncio.sleep(POLL_SECONDS)
            native.poll(0)  # runs _delivered for each report

    def _delivered(self, future: asyncio.Future[RecordMetadata], error: Any, message: Any) -> None:
        self._unresolved.discard(future)
        topic, partition = message.topic(), message.partition()
        if error is not None:
            failure = f"{topic}[{partition}]: {error}"
            self._failures.append(failure)
            if not future.done():
                future.set_exception(ProducerSendError(failure))
        elif not future.done():
            timestamp_type, timestamp = message.timestamp()
            future.set_result(
                RecordMetadata(
                    topic,
                    partition,
                    TopicPartition(topic, partition),
                    message.offset(),
                    timestamp,
                    1 if timestamp_type == _LOG_APPEND_TIME else 0,
                    None,
                )
            )
