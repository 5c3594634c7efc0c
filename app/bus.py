"""The small Kafka client other Python services use (the AEGIS seed's KafkaProducerManager/KafkaConsumerManager).

Synchronous on the outside, aiokafka on the inside: each manager owns one private asyncio event loop in a
daemon thread and every call hands a coroutine to it with a timeout, so the API is safe to call from plain
scripts, from threads and from code that already runs its own event loop, and no call blocks forever.

When no broker answers within ``connect_timeout`` (default 5 s), ``connect()`` logs ONE warning and the
manager goes into logging-only mode (SPEC section 3, both seeds): ``publish`` logs the event instead of
sending it; ``flush``, ``disconnect`` and ``ensure_topic`` do nothing; a consumer's ``consume`` returns 0.

Everything here is plain aiokafka + pydantic models: no Faust import (``models`` has none either).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar, overload

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from pydantic import BaseModel

from models.base import utc_timestamp
from models.codec import PAYLOAD_MODELS, BadMessage, decode_event, encode_event
from models.envelope import Envelope, new_event_id, new_run_id

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_CLIENT_ID = "interview-streams-bus"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_REQUEST_TIMEOUT = 10.0
_PROBE_INTERVAL = 0.25  # between TCP reachability attempts while connect() waits for a broker
_LOOP_SLACK = 5.0  # beyond a coroutine's own bound, before the calling thread stops waiting for it

Key = str | bytes | None
Headers = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]] | None


class BusError(RuntimeError):
    """Kafka refused or could not take a request (publish, ensure_topic) on a connected manager."""


class BrokerUnreachable(BusError):
    """No bootstrap address accepted a connection within the connect timeout."""


class InvalidEvent(ValueError):
    """An event ``build_event``/``publish_event`` refused before sending; ``fields`` names what is wrong."""

    def __init__(self, event_type: str, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(f"invalid {event_type} event: {message}")
        self.event_type = event_type
        self.fields = fields or []


def resolve_bootstrap(bootstrap_servers: str | None = None) -> str:
    """The argument, else ``KAFKA_BROKER``, else ``KAFKA_BOOTSTRAP_SERVERS`` (the seed's), else 127.0.0.1:9092."""
    for candidate in (
        bootstrap_servers,
        os.environ.get("KAFKA_BROKER"),
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
    ):
        if candidate and candidate.strip():
            return candidate.strip()
    return DEFAULT_BOOTSTRAP


def _bootstrap_hosts(bootstrap: str) -> list[tuple[str, int]]:
    """``host[:port][,host[:port]]`` (``kafka://`` prefixes and ``[v6]:port`` allowed) as (host, port)."""
    hosts: list[tuple[str, int]] = []
    for part in bootstrap.split(","):
        entry = part.strip().split("://", 1)[-1]
        if not entry:
            continue
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port_text = rest.lstrip(":")
        else:
            host, _, port_text = entry.partition(":")
        try:
            port = int(port_text or 9092)
        except ValueError:
            raise ValueError(f"bad Kafka bootstrap address {entry!r} in {bootstrap!r}") from None
        hosts.append((host, port))
    if not hosts:
        raise ValueError(f"no Kafka bootstrap address in {bootstrap!r}")
    return hosts


def _aiokafka_servers(hosts: list[tuple[str, int]]) -> list[str]:
    return [f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in hosts]


def _key_bytes(key: Key) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


def _header_list(headers: Headers) -> list[tuple[str, bytes]] | None:
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), value.encode() if isinstance(value, str) else bytes(value)) for name, value in items]


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


async def _wait_reachable(hosts: list[tuple[str, int]], timeout: float) -> None:
    """Return once any bootstrap address accepts a TCP connection; retry until ``timeout``.

    A plain TCP probe before aiokafka starts, so an absent broker costs one warning of ours rather
    than aiokafka's error lines, and a broker that is still starting gets the whole timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    while True:
        for host, port in hosts:
            remaining = deadline - loop.time()
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), max(min(remaining, 2.0), 0.05))
            except (OSError, TimeoutError) as exc:
                last_error = exc
                continue
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return
        if loop.time() + _PROBE_INTERVAL >= deadline:
            reason = f"{type(last_error).__name__}: {last_error}" if last_error else "timed out"
            raise BrokerUnreachable(reason)
        await asyncio.sleep(_PROBE_INTERVAL)


class _LoopThread:
    """One private event loop running in a daemon thread; ``run`` waits for a coroutine with a timeout."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                if tasks:
                    self.loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("the bus's synchronous API cannot be called from its own event loop thread")
        if not self._thread.is_alive() or self.loop.is_closed():
            coro.close()
            raise BusError("the manager's event loop has stopped")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():  # the coroutine itself raised TimeoutError
                raise
            future.cancel()
            raise TimeoutError(f"Kafka call did not finish within {timeout:.1f}s") from None

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                self.loop.call_soon_threadsafe(self.loop.stop)
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout)


MAX_QUEUED = 10_000  # messages publish() may hand over before it waits for the drain task
_Outgoing = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None] | concurrent.futures.Future[None]


class _EnsureTopic(Protocol):
    def __call__(
        self,
        name: str,
        partitions: int = 3,
        replication_factor: int = 1,
        *,
        bootstrap_servers: str | None = None,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> bool: ...


async def _create_topic(
    hosts: list[tuple[str, int]],
    name: str,
    partitions: int,
    replication_factor: int,
    timeout: float,
    connect_timeout: float,
) -> bool:
    await _wait_reachable(hosts, connect_timeout)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=_aiokafka_servers(hosts),
        client_id=DEFAULT_CLIENT_ID,
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        response = await asyncio.wait_for(
            admin.create_topics([NewTopic(name, partitions, replication_factor)], timeout_ms=int(timeout * 1000)),
            timeout + 1.0,
        )
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), 2.0)
    for topic_error in response.topic_errors:
        code = int(topic_error[1])
        if code == 0:
            return True
        error = for_code(code)
        if error is TopicAlreadyExistsError:
            return False
        detail = topic_error[2] if len(topic_error) > 2 and topic_error[2] else error.description
        raise BusError(f"could not create topic {name!r}: {error.__name__}: {detail}")
    return True


def ensure_topic(
    name: str,
    partitions: int = 3,
    replication_factor: int = 1,
    *,
    bootstrap_servers: str | None = None,
    timeout: float = DEFAULT_REQUEST_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> bool:
    """Create ``name`` unless it exists; True if this call created it.

    Idempotent: an existing topic (whatever its partition count) is left alone and gives False. With no
    broker reachable within ``connect_timeout`` it logs one warning and returns False. Raises BusError
    when the broker refuses the topic (an invalid name, a replication factor above the broker count).
    """
    bootstrap = resolve_bootstrap(bootstrap_servers)
    runner = _LoopThread("kafka-bus-admin")
    try:
        coro = _create_topic(
            _bootstrap_hosts(bootstrap), name, partitions, replication_factor, timeout, connect_timeout
        )
        return runner.run(coro, connect_timeout + 2 * timeout + _LOOP_SLACK)
    except BrokerUnreachable as exc:
        log.warning("Kafka broker %s not reachable (%s): topic %s not ensured", bootstrap, exc, name)
        return False
    except (KafkaError, TimeoutError) as exc:
        raise BusError(f"could not ensure topic {name!r} on {bootstrap}: {type(exc).__name__}: {exc}") from exc
    finally:
        runner.stop()


class _StaticOrBound:
    """``ensure_topic`` as the seed has it, static: ``KafkaProducerManager.ensure_topic(name)`` uses the
    environment's broker. Called on a manager, ``kp.ensure_topic(name)`` uses that manager's broker and does
    nothing when the manager is in logging-only mode."""

    def __get__(self, instance: KafkaProducerManager | None, owner: type[KafkaProducerManager]) -> _EnsureTopic:
        return ensure_topic if instance is None else instance._ensure_topic


class KafkaProducerManager:
    """Publish dicts as JSON (orjson) with an optional key and headers; see the module docstring.

    Thread-safe: one manager may be shared by threads. Use it as a context manager, or call
    ``connect()`` first and ``disconnect()`` (which flushes) at the end.
    """

    ensure_topic = _StaticOrBound()

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        logging_only_level: int = logging.INFO,
    ) -> None:
        self.bootstrap_servers = resolve_bootstrap(bootstrap_servers)
        self._hosts = _bootstrap_hosts(self.bootstrap_servers)
        self.client_id = client_id
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.logging_only_level = logging_only_level
        self.logging_only = False
        self.failed_deliveries = 0  # deliveries the broker did not confirm (each is logged as an error)
        self._runner: _LoopThread | None = None
        self._producer: Any = None
        self._pending: set[asyncio.Future[Any]] = set()  # touched on the loop thread only
        self._lock = threading.Lock()
        # publish() hands messages to one drain task on the loop, in order, without waiting for it;
        # the semaphore bounds how many may wait there (backpressure instead of unbounded memory).
        self._outbox: asyncio.Queue[_Outgoing] | None = None
        self._room = threading.BoundedSemaphore(MAX_QUEUED)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def __enter__(self) -> KafkaProducerManager:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.disconnect()

    def connect(self) -> None:
        """Connect, or after ``connect_timeout`` without a broker switch to logging-only mode (one warning).

        Does nothing when connected; called again in logging-only mode it tries the broker again.
        """
        with self._lock:
            if self._producer is not None:
                return
            runner = _LoopThread(f"kafka-producer-{self.client_id}")
            try:
                producer = runner.run(self._start(), self.connect_timeout + _LOOP_SLACK)
            except Exception as exc:
                runner.stop()
                self.logging_only = True
                log.warning(
                    "Kafka broker %s not reachable within %.1fs (%s): logging-only mode, events are logged, not sent",
                    self.bootstrap_servers,
                    self.connect_timeout,
                    exc,
                )
                return
            self._outbox = runner.run(self._start_drain(producer), self.request_timeout)
            self._runner, self._producer, self.logging_only = runner, producer, False

    async def _start_drain(self, producer: Any) -> asyncio.Queue[_Outgoing]:
        outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        asyncio.get_running_loop().create_task(self._drain(producer, outbox), name="bus-drain")
        return outbox

    async def _drain(self, producer: Any, outbox: asyncio.Queue[_Outgoing]) -> None:
        """Send queued messages one after another, so per-partition order is the publish order."""
        while True:
            item = await outbox.get()
            if isinstance(item, concurrent.futures.Future):  # a flush marker: all before it are sent
                item.set_result(None)
                continue
            topic, value, key, headers = item
            try:
                await self._send(producer, topic, value, key, headers)
            except Exception as exc:  # counted and logged like a failed delivery; publish has returned
                self.failed_deliveries += 1
                log.error("Kafka publish to %s failed: %s: %s", topic, type(exc).__name__, exc)
            finally:
                self._room.release()

    async def _start(self) -> Any:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _wait_reachable(self._hosts, self.connect_timeout)
        producer = AIOKafkaProducer(
            bootstrap_servers=_aiokafka_servers(self._hosts),
            client_id=self.client_id,
            acks="all",
            request_timeout_ms=int(self.request_timeout * 1000),
        )
        try:
            await asyncio.wait_for(producer.start(), max(self.connect_timeout - (loop.time() - started), 1.0))
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 2.0)
            raise
        return producer

    def _require(self) -> tuple[_LoopThread, Any]:
        runner, producer = self._runner, self._producer
        if runner is None or producer is None:
            raise RuntimeError("KafkaProducerManager is not connected: call connect() first (or use `with`)")
        return runner, producer

    def publish(self, topic: str, value: dict[str, Any], key: Key = None, headers: Headers = None) -> None:
        """Send ``value`` as JSON; returns at once, the message queued in order (``flush`` waits for delivery).

        Raises TypeError for a value orjson cannot serialise, and BusError when MAX_QUEUED messages are
        still waiting after ``request_timeout``. A message the producer then refuses (unknown topic,
        too large) is logged and counted in ``failed_deliveries``, as an unconfirmed delivery is.
        """
        self.publish_raw(topic, orjson.dumps(value), key=key, headers=headers)

    def publish_raw(self, topic: str, value: bytes | None, key: Key = None, headers: Headers = None) -> None:
        """``publish`` for a value that is already bytes (or None, a tombstone)."""
        key_bytes, header_list = _key_bytes(key), _header_list(headers)
        if self.logging_only:
            log.log(
                self.logging_only_level,
                "logging-only (no broker): topic=%s key=%s headers=%s value=%s",
                topic,
                _text(key_bytes),
                {name: _text(raw) for name, raw in header_list or []},
                _text(value),
            )
            return
        runner, _ = self._require()
        outbox = self._outbox
        assert outbox is not None
        if not self._room.acquire(timeout=self.request_timeout):
            raise BusError(
                f"could not publish to {topic!r}: {MAX_QUEUED} messages still queued after "
                f"{self.request_timeout:.1f}s (is the broker keeping up?)"
            )
        try:
            runner.loop.call_soon_threadsafe(outbox.put_nowait, (topic, value, key_bytes, header_list))
        except RuntimeError as exc:  # the loop has stopped
            self._room.release()
            raise BusError(f"could not publish to {topic!r}: the manager's event loop has stopped") from exc

    async def _send(
        self, producer: Any, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]] | None
    ) -> None:
        delivery: asyncio.Future[Any] = await producer.send(topic, value=value, key=key, headers=headers)
        self._pending.add(delivery)
        delivery.add_done_callback(lambda done: self._delivered(topic, done))

    def _delivered(self, topic: str, delivery: asyncio.Future[Any]) -> None:
        self._pending.discard(delivery)
        error = "cancelled" if delivery.cancelled() else delivery.exception()
        if error is not None:
            self.failed_deliveries += 1
            log.error("Kafka delivery to %s failed: %s", topic, error)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait up to ``timeout`` s for every published message's ack; the number still unconfirmed (0 = all).

        Failed deliveries are logged and counted in ``failed_deliveries``. Does nothing (0) when not
        connected or in logging-only mode.
        """
        runner, producer, outbox = self._runner, self._producer, self._outbox
        if runner is None or producer is None or outbox is None:
            return 0
        try:
            sent: concurrent.futures.Future[None] = concurrent.futures.Future()
            runner.loop.call_soon_threadsafe(outbox.put_nowait, sent)
            sent.result(timeout)  # everything published before this flush has been handed to the producer
            return runner.run(self._flush(timeout), timeout + _LOOP_SLACK)
        except Exception as exc:
            log.error("Kafka flush failed: %s", exc)
            return len(self._pending)

    async def _flush(self, timeout: float) -> int:
        pending = set(self._pending)
        if not pending:
            return 0
        _, not_done = await asyncio.wait(pending, timeout=timeout)
        return len(not_done)

    def disconnect(self, timeout: float = 10.0) -> None:
        """Flush (up to ``timeout`` s), close the producer and stop its loop thread. Never raises."""
        with self._lock:
            runner, producer = self._runner, self._producer
            if runner is None or producer is None:
                return
            try:
                remaining = self.flush(timeout)
                if remaining:
                    log.warning("%d Kafka message(s) not confirmed within %.1fs of disconnect", remaining, timeout)
                runner.run(asyncio.wait_for(producer.stop(), timeout), timeout + _LOOP_SLACK)
            except Exception as exc:
                log.error("closing the Kafka producer failed: %s", exc)
            finally:
                self._runner = self._producer = None
                runner.stop()

    def _ensure_topic(
        self,
        name: str,
        partitions: int = 3,
        replication_factor: int = 1,
        *,
        bootstrap_servers: str | None = None,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        connect_timeout: float | None = None,
    ) -> bool:
        if self.logging_only:
            log.log(self.logging_only_level, "logging-only (no broker): topic %s not ensured", name)
            return False
        return ensure_topic(
            name,
            partitions,
            replication_factor,
            bootstrap_servers=bootstrap_servers or self.bootstrap_servers,
            timeout=timeout,
            connect_timeout=self.connect_timeout if connect_timeout is None else connect_timeout,
        )


@dataclass(frozen=True, slots=True)
class ConsumedMessage:
    """What ``consume(..., with_metadata=True)`` hands the handler: the decoded value and the record.

    ``raw`` is the value's bytes as received (e.g. for ``models.codec.decode_event(raw, topic)``).
    """

    value: dict[str, Any]
    raw: bytes
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    @property
    def key_text(self) -> str | None:
        return _text(self.key)

    @property
    def headers_dict(self) -> dict[str, bytes]:
        """Headers by name (a repeated name keeps its last value)."""
        return dict(self.headers)


class _JoinListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Sets ``joined`` once the group has assigned this member its partitions (possibly none)."""

    def __init__(self) -> None:
        self.joined = asyncio.Event()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.joined.set()


class KafkaConsumerManager:
    """Consume JSON dicts from earliest (no committed offset) with auto-commit; see ``consume``."""

    def __init__(
        self,
        group_id: str,
        bootstrap_servers: str | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        join_timeout: float = 30.0,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        self.group_id = group_id
        self.bootstrap_servers = resolve_bootstrap(bootstrap_servers)
        self._hosts = _bootstrap_hosts(self.bootstrap_servers)
        self.client_id = client_id
        self.connect_timeout = connect_timeout
        self.join_timeout = join_timeout
        self.request_timeout = request_timeout
        self.logging_only = False
        self.topics: list[str] = []
        self._runner: _LoopThread | None = None
        self._consumer: Any = None
        self._listener: _JoinListener | None = None
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return self._consumer is not None

    def __enter__(self) -> KafkaConsumerManager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.disconnect()

    def connect(self, topics: list[str]) -> None:
        """Subscribe to ``topics``; with no broker within ``connect_timeout``: one warning, logging-only mode."""
        if isinstance(topics, str):
            topics = [topics]
        if not topics:
            raise ValueError("connect() needs at least one topic")
        with self._lock:
            if self._consumer is not None:
                raise RuntimeError(f"already connected to {self.topics}; disconnect() first")
            self.topics = list(topics)
            runner = _LoopThread(f"kafka-consumer-{self.group_id}")
            try:
                consumer, listener = runner.run(self._start(self.topics), self.connect_timeout + _LOOP_SLACK)
            except Exception as exc:
                runner.stop()
                self.logging_only = True
                log.warning(
                    "Kafka broker %s not reachable within %.1fs (%s): logging-only mode, consume() returns nothing",
                    self.bootstrap_servers,
                    self.connect_timeout,
                    exc,
                )
                return
            self._runner, self._consumer, self._listener, self.logging_only = runner, consumer, listener, False

    async def _start(self, topics: list[str]) -> tuple[Any, _JoinListener]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _wait_reachable(self._hosts, self.connect_timeout)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=_aiokafka_servers(self._hosts),
            client_id=self.client_id,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=True,
            request_timeout_ms=int(self.request_timeout * 1000),
            metadata_max_age_ms=5000,  # a topic created after connect() is picked up within seconds
        )
        listener = _JoinListener()
        consumer.subscribe(topics=topics, listener=listener)
        try:
            await asyncio.wait_for(consumer.start(), max(self.connect_timeout - (loop.time() - started), 1.0))
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 2.0)
            raise
        return consumer, listener

    @overload
    def consume(
        self,
        handler: Callable[[dict[str, Any]], object],
        max_messages: int | None = None,
        timeout: float = 1.0,
        *,
        with_metadata: Literal[False] = False,
    ) -> int: ...
    @overload
    def consume(
        self,
        handler: Callable[[ConsumedMessage], object],
        max_messages: int | None = None,
        timeout: float = 1.0,
        *,
        with_metadata: Literal[True],
    ) -> int: ...
    def consume(
        self,
        handler: Callable[[Any], object],
        max_messages: int | None = None,
        timeout: float = 1.0,
        *,
        with_metadata: bool = False,
    ) -> int:
        """Hand each message's decoded JSON object to ``handler`` (in the calling thread); the number handled.

        Returns once ``max_messages`` were handled (None: no limit) or no message arrived for ``timeout``
        seconds. The first call after ``connect()`` first waits (up to ``join_timeout``) for the group to
        assign partitions, so ``timeout`` counts from when messages can actually arrive. A value that is
        not a JSON object (or a tombstone) is logged and skipped, not counted. A handler that raises is
        logged with the record's position and consumption goes on: the message counts as handled and its
        offset is committed like any other (auto-commit), so a handler that must not lose a message has
        to deal with its own failures. ``with_metadata=True`` passes a ConsumedMessage (value, key,
        headers, topic, partition, offset, timestamp) instead of the bare dict. In logging-only mode it
        returns 0 at once.
        """
        if self.logging_only:
            return 0
        runner, consumer, listener = self._runner, self._consumer, self._listener
        if runner is None or consumer is None or listener is None:
            raise RuntimeError("KafkaConsumerManager is not connected: call connect(topics) first")
        handled = 0
        if not listener.joined.is_set():
            try:
                runner.run(asyncio.wait_for(listener.joined.wait(), self.join_timeout), self.join_timeout + _LOOP_SLACK)
            except TimeoutError:
                log.warning("group %s got no partition assignment within %.1fs", self.group_id, self.join_timeout)
                return 0
        while max_messages is None or handled < max_messages:
            limit = None if max_messages is None else max_messages - handled
            records = runner.run(self._poll(consumer, timeout, limit), timeout + self.request_timeout + _LOOP_SLACK)
            if not records:
                break
            for record in records:
                handled += self._dispatch(record, handler, with_metadata)
        return handled

    @staticmethod
    async def _poll(consumer: Any, timeout: float, limit: int | None) -> list[Any]:
        batches = await consumer.getmany(timeout_ms=int(timeout * 1000), max_records=limit)
        return [record for records in batches.values() for record in records]

    def _dispatch(self, record: Any, handler: Callable[[Any], object], with_metadata: bool) -> int:
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        if record.value is None:
            log.warning("skipped %s: no value (tombstone)", where)
            return 0
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError as exc:
            log.warning("skipped %s: value is not JSON (%s): %r", where, exc, bytes(record.value[:200]))
            return 0
        if not isinstance(value, dict):
            log.warning("skipped %s: value is JSON but not an object (%s)", where, type(value).__name__)
            return 0
        argument: dict[str, Any] | ConsumedMessage = value
        if with_metadata:
            argument = ConsumedMessage(
                value=value,
                raw=bytes(record.value),
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                headers=tuple((name, bytes(raw)) for name, raw in record.headers or ()),
                timestamp_ms=record.timestamp,
            )
        try:
            handler(argument)
        except Exception:
            log.exception("handler failed on %s; consumption continues (the offset is committed)", where)
        return 1

    def disconnect(self, timeout: float = 10.0) -> None:
        """Commit (auto-commit's last commit), leave the group, stop the loop thread. Never raises."""
        with self._lock:
            runner, consumer = self._runner, self._consumer
            self._runner = self._consumer = self._listener = None
            if runner is None or consumer is None:
                return
            try:
                runner.run(asyncio.wait_for(consumer.stop(), timeout), timeout + _LOOP_SLACK)
            except Exception as exc:
                log.error("closing the Kafka consumer failed: %s", exc)
            finally:
                runner.stop()


class RawPublisher(Protocol):
    """What ``publish_event`` needs: KafkaProducerManager, or anything with its ``publish_raw``."""

    def publish_raw(self, topic: str, value: bytes | None, key: Key = None, headers: Headers = None) -> None: ...


def build_event(
    event_type: str,
    *,
    tenant_id: str,
    interview_id: str,
    payload: Mapping[str, Any] | BaseModel,
    run_id: str | None = None,
    event_id: str | None = None,
    timestamp: str | None = None,
) -> Envelope[Any]:
    """The envelope of SPEC section 3 for a workflow event, validated exactly as the workers decode it.

    eventId defaults to a new uuid4, runId to ``new_run_id()``, timestamp to now (UTC, ms, ``Z``).
    Raises InvalidEvent (a ValueError) naming the bad fields, e.g. ``payload.level: Field required``.
    """
    model = PAYLOAD_MODELS.get(event_type)
    if model is None:
        raise InvalidEvent(event_type, f"unknown eventType; one of {sorted(PAYLOAD_MODELS)}")
    if isinstance(payload, BaseModel):
        if not isinstance(payload, model):
            raise InvalidEvent(
                event_type, f"payload is a {type(payload).__name__}, {event_type} takes a {model.__name__}"
            )
        payload_document: Any = payload.model_dump(mode="json", by_alias=True, exclude_none=True)
    else:
        payload_document = dict(payload)
    document = {
        "eventType": event_type,
        "eventId": event_id or new_event_id(),
        "tenantId": tenant_id,
        "runId": run_id or new_run_id(),
        "interviewId": interview_id,
        "timestamp": timestamp or utc_timestamp(),
        "payload": payload_document,
    }
    try:
        raw = orjson.dumps(document)
    except TypeError as exc:
        raise InvalidEvent(event_type, f"not JSON-serialisable: {exc}") from None
    try:  # the workers' own decoder: what passes here is what they accept
        return decode_event(raw, event_type)
    except BadMessage as exc:
        raise InvalidEvent(event_type, exc.message, exc.fields) from None


def publish_event(
    manager: RawPublisher,
    event_type: str,
    *,
    tenant_id: str,
    interview_id: str,
    payload: Mapping[str, Any] | BaseModel,
    run_id: str | None = None,
    event_id: str | None = None,
    timestamp: str | None = None,
    headers: Headers = None,
    topic: str | None = None,
) -> Envelope[Any]:
    """Validate (``build_event``; nothing is sent when it raises), then publish keyed by interviewId.

    The value is ``models.codec.encode_event``'s bytes. ``topic`` defaults to ``event_type`` (the workflow
    topic); another topic is for mirrors and tests, decode it with ``decode_event(raw, event_type)``.
    """
    envelope = build_event(
        event_type,
        tenant_id=tenant_id,
        interview_id=interview_id,
        payload=payload,
        run_id=run_id,
        event_id=event_id,
        timestamp=timestamp,
    )
    manager.publish_raw(topic or event_type, encode_event(envelope), key=envelope.interview_id, headers=headers)
    return envelope


__all__ = [
    "BrokerUnreachable",
    "BusError",
    "ConsumedMessage",
    "InvalidEvent",
    "KafkaConsumerManager",
    "KafkaProducerManager",
    "RawPublisher",
    "build_event",
    "ensure_topic",
    "publish_event",
    "resolve_bootstrap",
]
