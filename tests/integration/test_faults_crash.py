"""Fault cases on the real broker: SIGKILLed workers and a lost data directory lose nothing.

Each case runs its own consumer group and workers (never the shared test worker) and checks every
interview against an oracle computed from the inputs: the final state, the exact history, one plan,
and the plan_generated webhook delivered at least once, every repeat with the same deliveryId.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import SEED_SKILL_VALIDATION, TENANTS, Kafka, WebhookReceiver, Workers

pytestmark = pytest.mark.faults

INTERVIEWS = 150
OFFERED_PER_SECOND = 60
KILLS = 3
EXPECTED_HISTORY = ["RECEIVED", "VALIDATING_SKILLS", "GENERATING_PLAN", "PENDING"]
SUMMARY: list[tuple[str, str, int, int, int]] = []  # case, faults, events, lost, duplicated


def seed_event(interview_id: str, callback: str) -> bytes:
    event = json.loads(SEED_SKILL_VALIDATION.replace("interview-uuid", interview_id).replace("tenant-uuid", "acme"))
    event["payload"]["callbackUrl"] = callback
    event["eventId"] = f"ev-{interview_id}"
    return json.dumps(event).encode()


async def rows(http: aiohttp.ClientSession, base_url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    headers = {"X-Tenant-ID": "acme", "X-API-Key": TENANTS["acme"]["apiKey"]}
    found: dict[str, dict[str, Any]] = {}
    for interview_id in ids:
        async with http.get(f"{base_url}/api/v1/interviews/{interview_id}/history", headers=headers) as response:
            if response.status == 200:
                found[interview_id] = await response.json()
    return found


async def wait_all(http: aiohttp.ClientSession, base_url: str, ids: list[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            found = await rows(http, base_url, ids)
        except aiohttp.ClientError:
            found = {}
        if len(found) == len(ids) and all(r["state"] == "PENDING" for r in found.values()):
            return found
        await asyncio.sleep(1.0)
    missing = [i for i in ids if found.get(i, {}).get("state") != "PENDING"]
    raise AssertionError(f"{len(missing)} of {len(ids)} interviews not PENDING in {timeout}s: {missing[:5]}")


async def wait_webhooks(receiver: WebhookReceiver, ids: list[str], timeout: float) -> None:
    """Delivery is asynchronous and retried: wait until every interview's webhook has arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(any(w.json["event"] == "interview.plan_generated" for w in receiver.for_interview(i)) for i in ids):
            return
        await asyncio.sleep(1.0)


def check_oracle(found: dict[str, Any], ids: list[str], receiver: WebhookReceiver) -> tuple[int, int]:
    """(lost, duplicated) transitions and webhooks, asserting there are none."""
    lost = duplicated = 0
    for interview_id in ids:
        history = [h["to"] for h in found[interview_id]["history"]]
        duplicated += max(len(history) - len(EXPECTED_HISTORY), 0)
        lost += sum(1 for state in EXPECTED_HISTORY if state not in history)
        hooks = [w for w in receiver.for_interview(interview_id) if w.json["event"] == "interview.plan_generated"]
        lost += not hooks
        duplicated += len({h.json["deliveryId"] for h in hooks}) > 1
    assert (lost, duplicated) == (0, 0)
    for interview_id in ids:
        assert [h["to"] for h in found[interview_id]["history"]] == EXPECTED_HISTORY, interview_id
    return lost, duplicated


async def test_sigkilled_worker_loses_nothing_and_a_lost_datadir_is_rebuilt(
    bootstrap: str,
    tenants_file: Path,
    webhook_receiver: WebhookReceiver,
    kafka: Kafka,
    tmp_path: Path,
) -> None:
    pool = Workers(bootstrap, tenants_file, tmp_path)
    ids = [f"fault-{uuid.uuid4()}" for _ in range(INTERVIEWS)]
    try:
        worker = await pool.start("victim")

        async def offer() -> None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
            await producer.start()
            try:
                for interview_id in ids:
                    await producer.send_and_wait(
                        "skill.validation.requested",
                        seed_event(interview_id, webhook_receiver.url),
                        key=interview_id.encode(),
                    )
                    await asyncio.sleep(1 / OFFERED_PER_SECOND)
            finally:
                await producer.stop()

        offering = asyncio.create_task(offer())
        for _ in range(KILLS):
            await asyncio.sleep(1.0)
            pool.stop(worker, signal.SIGKILL)
            worker = await pool.start("victim")
        await offering

        async with aiohttp.ClientSession() as http:
            found = await wait_all(http, worker.base_url, ids, timeout=180)
            await wait_webhooks(webhook_receiver, ids, timeout=120)
            lost, duplicated = check_oracle(found, ids, webhook_receiver)
            SUMMARY.append(("SIGKILL worker while streaming", f"{KILLS} kills", INTERVIEWS, lost, duplicated))

            # The data directory is lost: the tables come back from their changelogs.
            pool.stop(worker)
            shutil.rmtree(pool.workdir / "victim")
            worker = await pool.start("victim")
            rebuilt = await wait_all(http, worker.base_url, ids, timeout=120)
            assert rebuilt == found
            SUMMARY.append(("worker restarts without its data dir", "1 rmtree", INTERVIEWS, 0, 0))
    finally:
        pool.stop_all()
        print_summary()


def print_summary() -> None:
    header = ("case", "faults", "events", "lost", "duplicated")
    table = [header, *[tuple(str(c) for c in row) for row in SUMMARY]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print("\n" + "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table))
