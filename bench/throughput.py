"""Throughput per worker: the planning step, the whole workflow, and a raw aiokafka loop to compare.

1. N skill.validation.requested envelopes for fresh interviews are produced up front.
2. Raw loop: aiokafka consumes exactly those messages, JSON-decodes each, builds a plan.generated-like
   envelope and produces it (acks=all, one batch awaited before the next is fetched: at-least-once),
   no Faust. Its events/s is the ceiling of this broker and machine for one Python process. A first
   pass is not measured: on a fresh broker the first pass runs slow (13,613/s, then 17,796 and
   20,625/s: three passes in a row), and the worker runs on the broker the passes before it warmed
   up. The measured passes run before the worker and again after it, over the same messages, and the
   ratio is to both pooled: this machine's speed drifts by tens of percent within minutes, and a
   baseline on both sides of the worker's window follows the drift that one side alone would put in it.
3. Planning step: one worker (RocksDB tables, changelogs, follow-on events) of a fresh group that
   starts at those messages; events/s from its first plan.generated to its last. Each input is one
   planner step: the row read, the planner run, one row write (changelog record included) and
   plan.generated sent. The worker consumes those plan.generated as well, but behind the backlog of
   inputs it applies them after the last one, outside the window (profiles of the window show next
   to no samples of that agent): the whole-workflow figure below is the one with every step in it.
4. Whole workflow: M interview.requested envelopes through intake -> skill.validation.requested ->
   planner -> plan.generated -> workflow on one worker; every event it consumes (3 per interview)
   per second, from ready until its committed offsets reach the end (so the figure is pessimistic by
   up to one commit interval, 2.8 s). M = N / 4.

BENCH_PROFILE=<dir> also samples the planner worker with py-spy (collapsed stacks, ``-f raw``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import kafka_tools
from bench.common import TENANT_ID, BenchEnv, Figure, cpu_seconds, start_profile, stop_profile
from local_kafka.admin import committed_offsets, ensure_topics
from models.topics import Topic

SCENARIO = "throughput"
RAW_OUTPUT_TOPIC = "bench.raw-loop.out"
PARTITIONS = 3  # TOPIC_PARTITIONS the workers run with (the app's default)
STALL_SECONDS = 90.0  # no progress for this long: the run is reported as it stands
PROFILE_SECONDS = 20.0


@dataclass
class Run:
    events: int
    seconds: float
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def _produce_inputs(env: BenchEnv, topic: str, count: int, build: Any, prefix: str) -> None:
    records = ((f"{prefix}-{i}", build(TENANT_ID, f"{prefix}-{i}")) for i in range(count))
    started = time.monotonic()
    await kafka_tools.produce_all(env.bootstrap, topic, records)
    print(f"  produced {count} {topic} in {time.monotonic() - started:.1f}s", flush=True)


def _raw_output(doc: dict[str, Any]) -> bytes:
    """What the planner would send, built from plain dicts: one competency per skill."""
    payload = doc["payload"]
    interview_id = doc["interviewId"]
    plan_id = f"plan-{doc['eventId']}"
    competencies = [
        {
            "name": skill,
            "weight": round(1 / len(payload["skills"]), 4),
            "required": True,
            "minimumScore": 3,
            "questions": [f"Describe a system where {skill} was central: how did you design it to scale?"],
        }
        for skill in payload["skills"]
    ]
    return orjson.dumps(
        {
            "eventType": Topic.PLAN_GENERATED,
            "eventId": f"pg-{doc['eventId']}",
            "tenantId": doc["tenantId"],
            "runId": doc.get("runId"),
            "interviewId": interview_id,
            "timestamp": doc["timestamp"],
            "payload": {
                "planId": plan_id,
                "validatedSkills": payload["skills"],
                "duration": 60,
                "plan": {"planId": plan_id, "competencies": competencies, "durationMinutes": 60},
            },
        }
    )


async def raw_loop(env: BenchEnv, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> Run:
    """consume -> decode -> produce, one getmany batch acked before the next: the no-Faust baseline."""
    await ensure_topics(env.bootstrap, [RAW_OUTPUT_TOPIC], PARTITIONS)
    consumer = AIOKafkaConsumer(bootstrap_servers=env.bootstrap, enable_auto_commit=False)
    producer = kafka_tools.producer(env.bootstrap, linger_ms=0, max_batch_size=16384)
    await consumer.start()
    await producer.start()
    events = 0
    first: float | None = None
    cpu = psutil.Process().cpu_times()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        remaining = {tp for tp in start if end[tp] > start[tp]}
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if first is None and batches:
                first = time.monotonic()
            pending = []
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= end[tp]:
                        continue
                    doc = orjson.loads(record.value) if record.value is not None else {}
                    pending.append(await producer.send(RAW_OUTPUT_TOPIC, key=record.key, value=_raw_output(doc)))
                    events += 1
                if records and records[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
            await asyncio.gather(*pending)  # the batch is durable: its offsets could be committed now
        finished = time.monotonic()
    finally:
        await producer.stop()
        await consumer.stop()
    used = psutil.Process().cpu_times()
    return Run(events, finished - (first or finished), (used.user - cpu.user) + (used.system - cpu.system))


async def _follow_outputs(
    env: BenchEnv, topic: str, start: dict[TopicPartition, int], prefix: str, expected: int
) -> tuple[int, float]:
    """Records of ``topic`` keyed ``prefix-*`` past ``start``: (count, seconds from first to last timestamp)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=env.bootstrap, enable_auto_commit=False)
    await consumer.start()
    count, first_ms, last_ms = 0, None, None
    marker = f"{prefix}-".encode()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        progress = time.monotonic()
        while count < expected and time.monotonic() - progress < STALL_SECONDS:
            batches = await consumer.getmany(timeout_ms=500, max_records=10000)
            for records in batches.values():
                for record in records:
                    if record.key is None or not record.key.startswith(marker):
                        continue
                    count += 1
                    progress = time.monotonic()
                    first_ms = record.timestamp if first_ms is None else min(first_ms, record.timestamp)
                    last_ms = record.timestamp if last_ms is None else max(last_ms, record.timestamp)
    finally:
        await consumer.stop()
    seconds = ((last_ms or 0) - (first_ms or 0)) / 1000
    return count, seconds


async def planning_step(env: BenchEnv, group: str, start: dict[TopicPartition, int], prefix: str, expected: int) -> Run:
    worker = await env.start_worker("planner", group)
    cpu_before = cpu_seconds(worker.pid)
    profile = start_profile(worker.pid, "throughput-planner", PROFILE_SECONDS)
    try:
        count, seconds = await _follow_outputs(env, Topic.PLAN_GENERATED, start, prefix, expected)
        cpu = cpu_seconds(worker.pid) - cpu_before
    finally:
        stop_profile(profile)
        env.stop_all()
    if count < expected:
        print(f"  planner: only {count}/{expected} plan.generated seen (log {worker.log_path})", flush=True)
    # n records span n-1 gaps between first and last timestamp.
    return Run(max(count - 1, 0), seconds, cpu)


async def whole_workflow(env: BenchEnv, count: int) -> Run:
    group = env.new_group("workflow")
    prefix = f"wf-{uuid.uuid4().hex[:6]}"
    consumed = [Topic.INTERVIEW_REQUESTED, Topic.SKILL_VALIDATION_REQUESTED, Topic.PLAN_GENERATED]
    await kafka_tools.start_group_at_end(env.bootstrap, group)
    tps = await kafka_tools.partitions_of(env.bootstrap, consumed)
    start = await kafka_tools.end_offsets(env.bootstrap, tps)
    await _produce_inputs(env, Topic.INTERVIEW_REQUESTED, count, kafka_tools.interview_requested, prefix)
    targets_by_topic = {Topic.INTERVIEW_REQUESTED: count, Topic.SKILL_VALIDATION_REQUESTED: count}
    worker = await env.start_worker("workflow", group)
    began = time.monotonic()
    cpu_before = cpu_seconds(worker.pid)
    try:
        pg_start = {tp: offset for tp, offset in start.items() if tp.topic == Topic.PLAN_GENERATED}
        # The last plan.generated is sent by the worker itself; once all are out, wait for its commits.
        seen, _ = await _follow_outputs(env, Topic.PLAN_GENERATED, pg_start, prefix, count)
        targets_by_topic[Topic.PLAN_GENERATED] = seen
        progress = time.monotonic()
        done = 0
        while time.monotonic() - progress < STALL_SECONDS:
            committed = await committed_offsets(env.bootstrap, group, tps)
            per_topic: dict[str, int] = {}
            for tp in tps:
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + committed.get(tp, start[tp]) - start[tp]
            total = sum(per_topic.values())
            if total > done:
                done, progress = total, time.monotonic()
            if all(per_topic.get(t, 0) >= n for t, n in targets_by_topic.items()):
                break
            await asyncio.sleep(0.1)
        finished = time.monotonic()
        cpu = cpu_seconds(worker.pid) - cpu_before
    finally:
        env.stop_all()
    return Run(done, finished - began, cpu)


async def run(env: BenchEnv) -> list[Figure]:
    count = 5_000 if env.quick else 100_000
    group = env.new_group(SCENARIO)
    prefix = f"tp-{uuid.uuid4().hex[:6]}"
    await ensure_topics(env.bootstrap, kafka_tools.WORKER_TOPICS, PARTITIONS)
    await kafka_tools.start_group_at_end(env.bootstrap, group)
    inputs = await kafka_tools.partitions_of(env.bootstrap, [Topic.SKILL_VALIDATION_REQUESTED])
    outputs = await kafka_tools.partitions_of(env.bootstrap, [Topic.PLAN_GENERATED])
    start = await kafka_tools.end_offsets(env.bootstrap, inputs)
    output_start = await kafka_tools.end_offsets(env.bootstrap, outputs)
    await _produce_inputs(env, Topic.SKILL_VALIDATION_REQUESTED, count, kafka_tools.skill_validation, prefix)
    end = await kafka_tools.end_offsets(env.bootstrap, inputs)

    warm_up = await raw_loop(env, start, end)  # not measured (module docstring)
    print(f"  raw loop, warming the broker up: {warm_up.rate:,.0f}/s", flush=True)
    before = await raw_loop(env, start, end)
    print(f"  raw loop: {before.events} events in {before.seconds:.2f}s = {before.rate:,.0f}/s", flush=True)
    planner = await planning_step(env, group, output_start, prefix, count)
    print(f"  planning step: {planner.events} events in {planner.seconds:.2f}s = {planner.rate:,.0f}/s", flush=True)
    after = await raw_loop(env, start, end)
    print(f"  raw loop again: {after.events} events in {after.seconds:.2f}s = {after.rate:,.0f}/s", flush=True)
    raw = Run(before.events + after.events, before.seconds + after.seconds, before.cpu_seconds + after.cpu_seconds)
    workflow = await whole_workflow(env, count // 4)
    print(f"  whole workflow: {workflow.events} events in {workflow.seconds:.2f}s = {workflow.rate:,.0f}/s", flush=True)

    ratio = planner.rate / raw.rate if raw.rate else 0.0
    per_event = (planner.cpu_seconds / planner.events * 1e6) if planner.events else 0.0
    raw_per_event = (raw.cpu_seconds / raw.events * 1e6) if raw.events else 0.0
    return [
        Figure(SCENARIO, "planning step, one worker", round(planner.rate), "events/s", target=20_000),
        Figure(
            SCENARIO,
            "raw aiokafka loop, same messages",
            round(raw.rate),
            "events/s",
            note=f"before and after the worker, pooled: {before.rate:,.0f} and {after.rate:,.0f}/s",
        ),
        Figure(SCENARIO, "planning step / raw loop", round(ratio, 3), "ratio", target=0.25),
        Figure(SCENARIO, "whole workflow, one worker (all topics)", round(workflow.rate), "events/s"),
        Figure(
            SCENARIO,
            "worker CPU per planning event",
            round(per_event),
            "us",
            better="lower",
            note="the planner step; the plan.generated it sends are applied after the window",
        ),
        Figure(SCENARIO, "raw loop CPU per event", round(raw_per_event), "us", better="lower"),
    ]
