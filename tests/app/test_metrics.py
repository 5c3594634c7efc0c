"""The Prometheus registry: it renders and parses, timers measure real time, counters count what happened."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
import types
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field

import streams_web  # noqa: F401  (the views, with the real lag monitor, before any test fakes it)
from app import metrics
from tables.interview import Interview
from tables.state_machine import State, Trigger

FAMILIES = {
    "interview_streams_events_consumed": "counter",
    "interview_streams_events_produced": "counter",
    "interview_streams_step_duration_seconds": "histogram",
    "interview_streams_model_run_duration_seconds": "histogram",
    "interview_streams_transitions": "counter",
    "interview_streams_dead_letters": "counter",
    "interview_streams_webhook_deliveries": "counter",
    "interview_streams_sse_streams_open": "gauge",
    "interview_streams_consumer_lag_messages": "gauge",
    "interview_streams_consumer_lag_seconds": "gauge",
}


def families() -> dict[str, Any]:
    text = generate_latest(metrics.REGISTRY).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def no_lag_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "app.lag_monitor", None)  # importing it raises ImportError


def test_own_registry_renders_every_family_with_help(no_lag_monitor: None) -> None:
    assert metrics.REGISTRY is not prometheus_client.REGISTRY
    found = families()
    for name, kind in FAMILIES.items():
        assert name in found, name
        assert found[name].type == kind
        assert found[name].documentation
    assert all(name.startswith("interview_streams_") for name in found)


def test_step_timer_observes_real_duration() -> None:
    def some_step() -> None:
        time.sleep(0.02)

    step = functools.partial(some_step)
    assert metrics.step_name(step) == "some_step"
    count = value("interview_streams_step_duration_seconds_count", step="some_step")
    total = value("interview_streams_step_duration_seconds_sum", step="some_step")
    with metrics.step_timer(step):
        step()
    assert value("interview_streams_step_duration_seconds_count", step="some_step") == count + 1
    assert value("interview_streams_step_duration_seconds_sum", step="some_step") - total >= 0.02
    # Under 10 ms is not where it landed; it is in the 25 ms bucket.
    assert value("interview_streams_step_duration_seconds_bucket", step="some_step", le="0.01") == 0
    assert value("interview_streams_step_duration_seconds_bucket", step="some_step", le="10.0") == count + 1

    parsed = families()["interview_streams_step_duration_seconds"]
    sums = [s.value for s in parsed.samples if s.name.endswith("_sum") and s.labels["step"] == "some_step"]
    assert sums and sums[0] > 0
    buckets = {s.labels["le"] for s in parsed.samples if s.name.endswith("_bucket")}
    assert {"0.0001", "10.0", "+Inf"} <= buckets


def test_timers_observe_steps_that_raise() -> None:
    def failing_step() -> None:
        raise ValueError("boom")

    count = value("interview_streams_step_duration_seconds_count", step="failing_step")
    with pytest.raises(ValueError), metrics.step_timer(failing_step):
        failing_step()
    assert value("interview_streams_step_duration_seconds_count", step="failing_step") == count + 1


async def test_model_timer_observes_an_awaited_run() -> None:
    before = value("interview_streams_model_run_duration_seconds_sum", model="test_model")
    with metrics.model_timer("test_model"):
        await asyncio.sleep(0.01)
    assert value("interview_streams_model_run_duration_seconds_count", model="test_model") >= 1
    assert value("interview_streams_model_run_duration_seconds_sum", model="test_model") - before >= 0.01


def test_transitions_count_only_the_history_a_step_added() -> None:
    labels = {"state": "VALIDATING_SKILLS", "trigger": "intake_passed"}
    created = {"state": "RECEIVED", "trigger": "created"}
    passed, received = (
        value("interview_streams_transitions_total", **labels),
        value("interview_streams_transitions_total", **created),
    )
    row = Interview.create(
        interview_id="iv-metrics", tenant_id="t", run_id="r", event_id="e0", actor="test", at="2024-01-01T00:00:00Z"
    )
    metrics.count_transitions(row, metrics.history_length(None))  # a new row: its creation counts
    seen = metrics.history_length(row)
    row.apply(Trigger.INTAKE_PASSED, event_id="e1", actor="test", at="2024-01-01T00:00:01Z")
    metrics.count_transitions(row, seen)
    metrics.count_transitions(row, metrics.history_length(row))  # a redelivery that changed nothing
    assert row.state is State.VALIDATING_SKILLS
    assert value("interview_streams_transitions_total", **labels) == passed + 1
    assert value("interview_streams_transitions_total", **created) == received + 1
    metrics.count_transitions(None, 0)


def test_counters_for_produced_dead_letters_and_webhooks() -> None:
    produced = value("interview_streams_events_produced_total", topic="plan.generated")
    dead = value("interview_streams_events_produced_total", topic="events.deadletter")
    metrics.produced("plan.generated")
    metrics.dead_lettered("not_json", "interview.requested")
    metrics.webhook_outcome("interview.plan_generated", "delivered")
    metrics.webhook_outcome("interview.plan_generated", "retry")
    assert value("interview_streams_events_produced_total", topic="plan.generated") == produced + 1
    assert value("interview_streams_events_produced_total", topic="events.deadletter") == dead + 1
    assert value("interview_streams_dead_letters_total", reason="not_json", topic="interview.requested") >= 1
    for outcome in ("delivered", "retry"):
        assert (
            value("interview_streams_webhook_deliveries_total", event="interview.plan_generated", outcome=outcome) >= 1
        )


def test_sse_gauge_goes_up_and_down() -> None:
    gauge = metrics.SSE_STREAMS.labels(stream="interview_events")
    gauge.inc()
    assert value("interview_streams_sse_streams_open", stream="interview_events") == 1
    gauge.dec()
    assert value("interview_streams_sse_streams_open", stream="interview_events") == 0


class PartitionLag(BaseModel):
    group: str
    topic: str
    partition: int
    lag_messages: int = Field(alias="lagMessages")
    lag_seconds: float | None = Field(default=None, alias="lagSeconds")


class GroupLag(BaseModel):
    group: str
    partitions: list[PartitionLag]


class LagStatus(BaseModel):
    groups: list[GroupLag]


def fake_lag_monitor(monkeypatch: pytest.MonkeyPatch, status: Any) -> None:
    module = types.ModuleType("app.lag_monitor")
    module.latest_status = lambda: status  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.lag_monitor", module)


def lag_samples() -> list[tuple[str, dict[str, str], float]]:
    found = families()
    return [
        (sample.name, sample.labels, sample.value)
        for name in ("interview_streams_consumer_lag_messages", "interview_streams_consumer_lag_seconds")
        for sample in found[name].samples
    ]


def test_lag_gauges_come_from_the_lag_monitor_at_scrape_time(monkeypatch: pytest.MonkeyPatch) -> None:
    status = LagStatus(
        groups=[
            GroupLag(
                group="g1",
                partitions=[
                    PartitionLag(group="g1", topic="plan.generated", partition=0, lagMessages=7, lagSeconds=1.5),
                    PartitionLag(group="g1", topic="plan.generated", partition=1, lagMessages=0),
                ],
            )
        ]
    )
    fake_lag_monitor(monkeypatch, status)
    samples = lag_samples()
    labels0 = {"group": "g1", "topic": "plan.generated", "partition": "0"}
    labels1 = {"group": "g1", "topic": "plan.generated", "partition": "1"}
    assert ("interview_streams_consumer_lag_messages", labels0, 7.0) in samples
    assert ("interview_streams_consumer_lag_seconds", labels0, 1.5) in samples
    assert ("interview_streams_consumer_lag_messages", labels1, 0.0) in samples
    assert not any(name.endswith("seconds") and labels == labels1 for name, labels, _ in samples)

    # The same read as plain mappings with camelCase keys, groups keyed by name.
    fake_lag_monitor(monkeypatch, {"groups": {"g2": {"groupId": "g2", "partitions": [
        {"topic": "plan.generated", "partition": 2, "lag": 3, "lagSeconds": 0.25}
    ]}}})  # fmt: skip
    assert ("interview_streams_consumer_lag_messages", {**labels0, "group": "g2", "partition": "2"}, 3.0) in (
        lag_samples()
    )


def test_lag_gauges_read_the_real_lag_report(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.lag import LagReport as Report
    from domain.lag import LagStatus as Status
    from domain.lag import PartitionLag as Partition
    from domain.lag import group_lag

    def partition(number: int, lag: int | None, seconds: float | None) -> Partition:
        return Partition(
            topic="interview.requested",
            partition=number,
            committed_offset=None if lag is None else 10 - lag,
            log_end_offset=10,
            lag_messages=lag,
            lag_seconds=seconds,
            status=Status.OK,
            reason="test",
            samples=1,
        )

    partitions = [partition(0, 4, 2.5), partition(1, None, None)]
    fake_lag_monitor(monkeypatch, Report(groups=[group_lag("grp", partitions)], window_samples=10, poll_seconds=5))
    samples = lag_samples()
    labels = {"group": "grp", "topic": "interview.requested", "partition": "0"}
    assert ("interview_streams_consumer_lag_messages", labels, 4.0) in samples
    assert ("interview_streams_consumer_lag_seconds", labels, 2.5) in samples
    assert len(samples) == 2  # partition 1 has no lag to report yet

    fake_lag_monitor(monkeypatch, Report(window_samples=10, poll_seconds=5))  # before the first poll
    assert lag_samples() == []


@pytest.mark.usefixtures("no_lag_monitor")
def test_lag_gauges_are_empty_without_a_lag_monitor() -> None:
    assert lag_samples() == []


def test_lag_gauges_are_empty_without_a_status_or_when_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_lag_monitor(monkeypatch, None)
    assert lag_samples() == []

    def broken() -> Any:
        raise RuntimeError("admin client down")

    module = types.ModuleType("app.lag_monitor")
    module.latest_status = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.lag_monitor", module)
    assert lag_samples() == []  # and the scrape still succeeds


async def test_view_serves_text_format_and_head_has_no_body(no_lag_monitor: None) -> None:
    from streams_web.metrics import Metrics

    view = object.__new__(Metrics)  # the handlers use neither the app nor the web driver
    response = await view.get(None)  # type: ignore[arg-type]
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert response.body is not None
    assert isinstance(response.body, bytes)
    names = {family.name for family in text_string_to_metric_families(response.body.decode())}
    assert set(FAMILIES) <= names

    head = await view.head(None)  # type: ignore[arg-type]
    assert head.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert not head.body
