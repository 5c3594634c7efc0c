"""GET /api/v1/admin/kafka/status on the real broker: a stopped group that lags, and the worker's own group."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from conftest import ADMIN_KEY, TENANTS, Kafka, Worker, Workers

STATUS_PATH = "/api/v1/admin/kafka/status"
# A workflow topic only HTTP cancels write to, so nothing else moves its log ends during the test.
TOPIC = "interview.cancel_requested"
STATUSES = {"OK", "WARN", "STALL", "STOP", "ERR"}
SEVERITY = {"OK": 0, "WARN": 1, "STALL": 2, "STOP": 3, "ERR": 4}
PRODUCED = {0: 3, 1: 5, 2: 0}  # messages produced per partition after the group committed


async def get_status(
    http: aiohttp.ClientSession, worker: Worker, *, refresh: bool = True, key: str | None = ADMIN_KEY
) -> tuple[int, Any]:
    headers = {"X-API-Key": key} if key is not None else {}
    params = {"refresh": "1"} if refresh else {}
    async with http.get(worker.base_url + STATUS_PATH, headers=headers, params=params) as response:
        return response.status, await response.json()


async def wait_for_report(
    http: aiohttp.ClientSession, worker: Worker, check: Any, what: str, timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        status, last = await get_status(http, worker)
        assert status == 200, last
        if check(last):
            return last  # type: ignore[no-any-return]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no report with {what} in {timeout}s; last: {last}")


def group_of(report: dict[str, Any], group_id: str) -> dict[str, Any] | None:
    return next((group for group in report["groups"] if group["group"] == group_id), None)


async def commit_then_stop(bootstrap: str, group_id: str, partitions: list[TopicPartition]) -> dict[int, int]:
    """Commit the current log ends for ``group_id`` with a plain consumer, then leave: the group is Empty."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: ends[tp] for tp in partitions})
        committed = {tp.partition: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()
    assert committed == {tp.partition: ends[tp] for tp in partitions}
    return {tp.partition: int(ends[tp]) for tp in partitions}


async def produce(bootstrap: str, per_partition: dict[int, int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition, count in per_partition.items():
            for n in range(count):
                # Not JSON: the worker dead-letters it where it stands (no re-route to another partition).
                await producer.send_and_wait(
                    TOPIC, value=f"lag-test {n}".encode(), partition=partition, headers=[("test-case", b"lag")]
                )
    finally:
        await producer.stop()


async def test_kafka_status_reports_a_stopped_lagging_group_and_the_workers_own_group(
    worker: Worker, workers: Workers, kafka: Kafka, http: aiohttp.ClientSession
) -> None:
    group_id = f"lag-test-{uuid.uuid4().hex[:8]}"
    partitions = [TopicPartition(TOPIC, n) for n in sorted(PRODUCED)]
    committed = await commit_then_stop(kafka.bootstrap, group_id, partitions)
    await produce(kafka.bootstrap, PRODUCED)
    expected_ends = {n: committed[n] + PRODUCED[n] for n in PRODUCED}

    def sees_the_produced_messages(report: dict[str, Any]) -> bool:
        group = group_of(report, group_id)
        return group is not None and {p["partition"]: p["logEndOffset"] for p in group["partitions"]} == expected_ends

    report = await wait_for_report(http, worker, sees_the_produced_messages, "the lag-test group's log ends")
    assert report["polledAt"] is not None
    assert report["windowSamples"] >= 1

    group = group_of(report, group_id)
    assert group is not None
    assert group["own"] is False
    assert {p["topic"] for p in group["partitions"]} == {TOPIC}  # only the topic it committed
    by_partition = {p["partition"]: p for p in group["partitions"]}
    for n, produced in PRODUCED.items():
        row = by_partition[n]
        assert row["committedOffset"] == committed[n]
        assert row["logEndOffset"] == committed[n] + produced
        assert row["lagMessages"] == produced
        assert row["lagSeconds"] is not None and row["lagSeconds"] >= 0
        assert row["status"] in STATUSES
        assert row["reason"]
    assert by_partition[2]["status"] == "OK"  # caught up
    assert by_partition[2]["lagSeconds"] == 0
    assert group["totalLagMessages"] == sum(PRODUCED.values())
    assert group["maxLagSeconds"] == max(p["lagSeconds"] for p in group["partitions"])
    worst = max(group["partitions"], key=lambda p: (SEVERITY[p["status"]], p["lagMessages"]))
    assert group["worstPartition"] == worst
    assert group["status"] == worst["status"]

    # Nobody is in the group and its offsets do not move while messages wait: Burrow's STOP.
    def stopped(report: dict[str, Any]) -> bool:
        group = group_of(report, group_id) or {}
        return group.get("status") == "STOP" and group.get("active") is False

    report = await wait_for_report(http, worker, stopped, "the lag-test group STOP with no members")
    group = group_of(report, group_id)
    assert group is not None
    assert group["active"] is False
    assert group["worstPartition"]["partition"] == 1  # both lagging partitions STOP; 5 > 3 messages behind
    assert [p["status"] for p in sorted(group["partitions"], key=lambda p: p["partition"])] == ["STOP", "STOP", "OK"]

    # The worker's own group is there too, on every workflow topic, committed or not.
    own = group_of(report, workers.group_id)
    assert own is not None
    assert own["own"] is True
    assert own["status"] in STATUSES
    assert TOPIC in {p["topic"] for p in own["partitions"]}
    assert all(p["status"] in STATUSES for p in own["partitions"])
    assert sum(1 for g in report["groups"] if g["own"]) == 1


async def test_kafka_status_needs_the_admin_key(worker: Worker, http: aiohttp.ClientSession) -> None:
    status, body = await get_status(http, worker, refresh=False, key=None)
    assert status == 401
    assert body["error"] == "unauthorized"
    status, _ = await get_status(http, worker, refresh=False, key=TENANTS["acme"]["apiKey"])
    assert status == 401

    status, body = await get_status(http, worker, refresh=False)
    assert status == 200
    assert set(body) >= {"groups", "polledAt", "windowSamples"}
