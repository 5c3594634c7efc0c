"""GET /metrics on a real worker: one interview to PENDING shows up in the counters and histograms."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from conftest import COMPLETE_REQUEST, Api, WebhookReceiver, Worker
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: aiohttp.ClientSession, worker: Worker) -> tuple[Samples, str]:
    async with http.get(f"{worker.base_url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, text


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over every sample whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        value for (sample, sample_labels), value in samples.items() if sample == name and wanted <= sample_labels
    )


async def test_metrics_count_an_interview_to_pending(
    api_for: Callable[[str], Api], http: aiohttp.ClientSession, worker: Worker, webhook_receiver: WebhookReceiver
) -> None:
    before, _ = await scrape(http, worker)
    api = api_for("acme")
    status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202, accepted
    interview_id = accepted["interviewId"]
    await api.wait_state(interview_id, "PENDING")
    await webhook_receiver.wait_for(interview_id, "interview.plan_generated")

    def grew(samples: Samples, name: str, **labels: str) -> bool:
        return total(samples, name, **labels) > total(before, name, **labels)

    expectations: dict[str, Callable[[Samples], bool]] = {
        "consumed interview.requested": lambda s: grew(
            s, "interview_streams_events_consumed_total", topic="interview.requested"
        ),
        "consumed skill.validation.requested": lambda s: grew(
            s, "interview_streams_events_consumed_total", topic="skill.validation.requested"
        ),
        "consumed plan.generated": lambda s: grew(s, "interview_streams_events_consumed_total", topic="plan.generated"),
        "produced plan.generated": lambda s: grew(s, "interview_streams_events_produced_total", topic="plan.generated"),
        "published interview.requested": lambda s: grew(
            s, "interview_streams_events_produced_total", topic="interview.requested"
        ),
        "steps timed": lambda s: grew(s, "interview_streams_step_duration_seconds_count", step="plan_generated"),
        "planner run timed": lambda s: grew(s, "interview_streams_model_run_duration_seconds_count"),
        "transition to PENDING": lambda s: grew(s, "interview_streams_transitions_total", state="PENDING"),
        "plan_generated webhook delivered": lambda s: grew(
            s, "interview_streams_webhook_deliveries_total", event="interview.plan_generated", outcome="delivered"
        ),
    }
    # The counters move right after the work they count; poll briefly rather than assume timing.
    deadline = time.monotonic() + 30
    while True:
        after, text = await scrape(http, worker)
        missing = [what for what, check in expectations.items() if not check(after)]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert not missing, f"metrics did not move: {missing}"

    for name in ("interview_streams_step_duration_seconds", "interview_streams_model_run_duration_seconds"):
        assert total(after, f"{name}_count") >= 1
        assert total(after, f"{name}_sum") > 0  # measured with perf_counter, never Faust's ~0
        assert total(after, f"{name}_bucket", le="+Inf") == total(after, f"{name}_count")
    assert total(after, "interview_streams_transitions_total", state="PENDING", trigger="plan_generated") >= 1
    assert total(after, "interview_streams_transitions_total", state="RECEIVED", trigger="created") >= 1
    assert interview_id not in text  # label values are bounded: no interview ids
    assert "interview_streams_sse_streams_open" in text
    assert "interview_streams_consumer_lag_messages" in text


async def test_metrics_head_answers_headers_only(http: aiohttp.ClientSession, worker: Worker) -> None:
    async with http.head(f"{worker.base_url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        assert await response.read() == b""
