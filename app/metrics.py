"""Every Prometheus metric the worker exports, on its own registry (served at GET /metrics).

The registry is not prometheus-client's global default, so tests and several apps in one process
never collide. Labels are bounded: topic, step, model, state, trigger, reason, webhook event,
outcome, consumer group and partition; never an interview, tenant or delivery id.
Durations are measured with ``time.perf_counter`` around the work itself.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from models.topics import Topic

log = logging.getLogger(__name__)

PREFIX = "interview_streams_"
REGISTRY = CollectorRegistry(auto_describe=True)

# 0.1 ms .. 10 s: a pure step takes well under a millisecond, a chat model call seconds.
DURATION_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

EVENTS_CONSUMED = Counter(
    PREFIX + "events_consumed",
    "Messages taken off a workflow topic, good or bad (dead-lettered and re-routed ones included).",
    ["topic"],
    registry=REGISTRY,
)
EVENTS_PRODUCED = Counter(
    PREFIX + "events_produced",
    "Messages the worker sent to a topic: follow-on events, webhook deliveries, re-routes, dead letters "
    "and events published by HTTP commands.",
    ["topic"],
    registry=REGISTRY,
)
STEP_SECONDS = Histogram(
    PREFIX + "step_duration_seconds",
    "Time a workflow step (a pure function of row and event) took, by step name.",
    ["step"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
MODEL_RUN_SECONDS = Histogram(
    PREFIX + "model_run_duration_seconds",
    "Time a planner or assessor run took (model calls, retries and fallback), by runnable name.",
    ["model"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    PREFIX + "transitions",
    "State transitions applied to interviews, by target state and trigger.",
    ["state", "trigger"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    PREFIX + "dead_letters",
    "Messages sent to the dead-letter topic, by reason and the topic they came from.",
    ["reason", "topic"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    PREFIX + "webhook_deliveries",
    "Webhook delivery attempts by webhook event and outcome (delivered, retry, failed).",
    ["event", "outcome"],
    registry=REGISTRY,
)
SSE_STREAMS = Gauge(
    PREFIX + "sse_streams_open",
    "Server-sent-event streams currently open, by stream kind.",
    ["stream"],
    registry=REGISTRY,
)

LAG_MESSAGES_NAME = PREFIX + "consumer_lag_messages"
LAG_SECONDS_NAME = PREFIX + "consumer_lag_seconds"
LAG_LABELS = ["group", "topic", "partition"]


# --- helpers the instrumented code calls (one line at each point) ---------------------------------


@functools.cache
def labelled(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once per label set.

    ``labels()`` checks its arguments and takes a lock on every call, and a planning event
    makes about ten such calls; labels are bounded (see above), so this cache is too.
    """
    return metric.labels(*values)


def step_name(step: Callable[..., Any]) -> str:
    """A step function's name, also through ``functools.partial``."""
    while isinstance(step, functools.partial):
        step = step.func
    return str(getattr(step, "__name__", type(step).__name__))


class _Timer:
    """Observes into ``histogram`` how long its ``with`` block took, whether it returned or raised.

    A class, not a ``contextmanager`` generator: that cost ~1.5 µs per block on top of the
    observation, and a planning step times two blocks.
    """

    __slots__ = ("histogram", "started")

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        self.histogram.observe(time.perf_counter() - self.started)


def step_timer(step: Callable[..., Any]) -> _Timer:
    """Times the block (one step)."""
    return _Timer(labelled(STEP_SECONDS, step_name(step)))


def model_timer(model: str) -> _Timer:
    """Times the block (one model run)."""
    return _Timer(labelled(MODEL_RUN_SECONDS, model))


class _HasHistory(Protocol):
    @property
    def history(self) -> Any: ...


def history_length(row: _HasHistory | None) -> int:
    return len(row.history) if row is not None else 0


def count_transitions(row: _HasHistory | None, seen: int) -> None:
    """Count the history entries a step added to ``row`` (``seen`` = its history length before)."""
    if row is None:
        return
    for entry in list(row.history)[seen:]:
        labelled(TRANSITIONS, str(entry.to_state), str(entry.trigger)).inc()


def consumed(topic: str) -> None:
    labelled(EVENTS_CONSUMED, topic).inc()


def produced(topic: str) -> None:
    labelled(EVENTS_PRODUCED, topic).inc()


def dead_lettered(reason: str, source_topic: str) -> None:
    labelled(DEAD_LETTERS, reason, source_topic).inc()
    produced(Topic.DEADLETTER)


def webhook_outcome(event: str, outcome: str) -> None:
    labelled(WEBHOOK_DELIVERIES, str(event), outcome).inc()


# --- consumer lag, read at scrape time ---------------------------------------------------------------


def _field(obj: Any, *names: str) -> Any:
    """The first of ``names`` that ``obj`` has (attribute or mapping key), else None."""
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, str | bytes):
        return []
    return list(value) if isinstance(value, Iterable) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def lag_samples(status: Any) -> Iterator[tuple[tuple[str, str, str], float | None, float | None]]:
    """(group, topic, partition), lag in messages, lag in seconds for every partition of ``status``.

    Reads whatever the lag model offers: groups as a list or mapping, each with partitions whose
    lag is ``lag``/``lag_messages``/``lagMessages`` and ``lag_seconds``/``lagSeconds``.
    """
    groups = _field(status, "groups") if not isinstance(status, list | tuple) else status
    for group in _items(groups):
        group_id = _field(group, "group", "group_id", "groupId", "name")
        for part in _items(_field(group, "partitions")):
            topic = _field(part, "topic")
            partition = _field(part, "partition")
            if topic is None or partition is None:
                continue
            labels = (str(_field(part, "group", "group_id", "groupId") or group_id or ""), str(topic), str(partition))
            messages = _number(_field(part, "lag_messages", "lagMessages", "lag"))
            seconds = _number(_field(part, "lag_seconds", "lagSeconds"))
            yield labels, messages, seconds


def _latest_lag_status() -> Any:
    """``app.lag_monitor.latest_status()``, or None when that module or a status is not there."""
    try:
        module = importlib.import_module("app.lag_monitor")
    except ImportError:
        return None
    latest = getattr(module, "latest_status", None)
    if not callable(latest):
        return None
    status = latest()
    if inspect.isawaitable(status):  # a scrape cannot await; only a cached status is usable
        close = getattr(status, "close", None)
        if callable(close):
            close()
        return None
    return status


class LagCollector(Collector):
    """Consumer lag gauges, filled at scrape time from the lag monitor's latest status."""

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                LAG_MESSAGES_NAME,
                "Consumer lag in messages (log-end offset minus committed offset), per group and partition.",
                labels=LAG_LABELS,
            ),
            GaugeMetricFamily(
                LAG_SECONDS_NAME,
                "Consumer lag in seconds (age of the message at the committed offset), per group and partition.",
                labels=LAG_LABELS,
            ),
        )

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        messages, seconds = self._families()
        try:
            status = _latest_lag_status()
            if status:
                for labels, lag, lag_seconds in lag_samples(status):
                    if lag is not None:
                        messages.add_metric(list(labels), lag)
                    if lag_seconds is not None:
                        seconds.add_metric(list(labels), lag_seconds)
        except Exception:  # a scrape must never fail because the lag monitor did
            log.exception("consumer lag unavailable for /metrics")
        return [messages, seconds]


LAG = LagCollector()
REGISTRY.register(LAG)
