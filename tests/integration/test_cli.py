"""The operator commands, run the Faust way (`faust -A app <command>`) against the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from conftest import ROOT, SEED_SKILL_VALIDATION, Api, Kafka, Worker, Workers


async def faust_command(workers: Workers, *args: str) -> str:
    command = [str(Path(sys.executable).with_name("faust")), "-A", "app", *args]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=ROOT, env=workers.env(), capture_output=True, text=True, timeout=120)

    done = await asyncio.to_thread(run)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


async def test_produce_samples_starts_interviews(
    workers: Workers, worker: Worker, api_for: Callable[[str], Api]
) -> None:
    out = await faust_command(workers, "produce-samples", "--count", "2", "--tenant", "acme")
    ids = [line.split()[1] for line in out.splitlines() if line.startswith("skill.validation.requested ")]
    assert len(ids) == 2
    for interview_id in ids:
        row = await api_for("acme").wait_state(interview_id, "PENDING")
        assert row["plan"]["competencies"]


async def test_replay_deadletters_applies_an_event_after_the_fix(
    workers: Workers, worker: Worker, kafka: Kafka, api_for: Callable[[str], Api]
) -> None:
    interview_id = f"replay-{uuid.uuid4()}"
    key = interview_id.encode()
    cancel = {
        "eventType": "interview.cancel_requested",
        "eventId": str(uuid.uuid4()),
        "tenantId": "acme",
        "interviewId": interview_id,
        "timestamp": "2024-01-16T10:00:00.000Z",
        "payload": {"cancelledBy": "ats-bot", "reason": "arrived before the interview"},
    }
    await kafka.produce("interview.cancel_requested", json.dumps(cancel).encode(), key=key)
    await kafka.collect("events.deadletter", lambda rs: any(r.key == key for r in rs))  # unknown interview

    # The fix: the interview now exists.
    seed = json.loads(SEED_SKILL_VALIDATION.replace("interview-uuid", interview_id).replace("tenant-uuid", "acme"))
    await kafka.produce("skill.validation.requested", json.dumps(seed).encode(), key=key)
    api = api_for("acme")
    await api.wait_state(interview_id, "PENDING")

    listed = await faust_command(workers, "replay-deadletters", "--interview-id", interview_id, "--dry-run")
    assert "1 dead letter(s) selected" in listed and "unknown_interview" in listed
    assert (await api.wait_state(interview_id, "PENDING"))["state"] == "PENDING"  # a dry run sends nothing

    out = await faust_command(
        workers, "replay-deadletters", "--interview-id", interview_id, "--reason", "unknown_interview"
    )
    assert "1 dead letter(s) replayed" in out
    await api.wait_state(interview_id, "CANCELLED")


async def test_lag_prints_a_table_of_every_group(workers: Workers, worker: Worker) -> None:
    out = await faust_command(workers, "lag", "--samples", "2", "--interval", "0.5")
    header = out.splitlines()[0].split()
    assert header == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-SECONDS", "STATUS"]
    own_rows = [line.split() for line in out.splitlines()[1:] if line.startswith(workers.group_id + " ")]
    assert own_rows, out
    assert {row[1] for row in own_rows} >= {"skill.validation.requested", "plan.generated"}
    assert all(row[7] in {"OK", "WARN", "STALL", "STOP", "ERR"} for row in own_rows)
