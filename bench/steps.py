"""The domain work of one planning input alone: no Kafka, no RocksDB, no event loop, no metrics.

What the worker does per input besides moving bytes, timed in this process (``time.thread_time``)
over the throughput scenario's inputs: the planning step (decode the skill.validation.requested
envelope, the planner step with the offline planner, encode the row) and the plan.generated step it
leads to (decode that event, decode the row, the step, encode the row). Set against the throughput
scenario's worker CPU per planning event, the rest is the worker's plumbing: aiokafka, the drain
loop, RocksDB, the changelog follower, metrics.
"""

from __future__ import annotations

import time
from typing import Any

from app.codecs import PydanticCodec
from app.settings import settings
from bench import kafka_tools
from bench.common import TENANT_ID, BenchEnv, Figure
from domain import steps
from domain.planner import build_planner
from domain.steps import StepContext, run_within
from models.base import utc_timestamp
from models.codec import complete_envelope, decode_event
from models.topics import Topic
from tables.interview import Interview

SCENARIO = "steps"
WARM_UP = 500


def _envelope(raw: bytes, key: str, topic: Topic, offset: int) -> Any:
    return complete_envelope(decode_event(raw, topic), key=key.encode(), topic=topic, partition=0, offset=offset)


async def run(env: BenchEnv) -> list[Figure]:
    count = 5_000 if env.quick else 20_000
    planner = build_planner(settings.planner_model)
    plan = run_within(steps.skill_validation_requested, planner.invoke, steps.plan_ready)
    rows = PydanticCodec(Interview)
    ctx = StepContext(
        tenant=settings.tenants.get(TENANT_ID), now=utc_timestamp(), access=settings.access_link, headers={}
    )
    keys = [f"steps-{index}" for index in range(WARM_UP + count)]
    inputs = [kafka_tools.skill_validation(TENANT_ID, key) for key in keys]
    planning = applying = 0.0
    for index, (key, raw) in enumerate(zip(keys, inputs, strict=True)):
        started = time.thread_time()
        planned = plan(None, _envelope(raw, key, Topic.SKILL_VALIDATION_REQUESTED, index), ctx)
        row = rows.dumps(planned.interview)
        middle = time.thread_time()
        generated = next(sent for sent in planned.sent if sent.topic == Topic.PLAN_GENERATED)
        event = _envelope(generated.value.encode(), key, Topic.PLAN_GENERATED, index)
        applied = steps.plan_generated(rows.loads(row), event, ctx)
        rows.dumps(applied.interview)
        if index >= WARM_UP:
            planning += middle - started
            applying += time.thread_time() - middle
    note = f"{count} inputs after {WARM_UP} to warm up; CPU time of this process"
    return [
        Figure(SCENARIO, "planning step alone, CPU per input", round(planning / count * 1e6), "us", better="lower"),
        Figure(
            SCENARIO,
            "plan.generated step alone, CPU per input",
            round(applying / count * 1e6),
            "us",
            better="lower",
            note=note,
        ),
    ]
