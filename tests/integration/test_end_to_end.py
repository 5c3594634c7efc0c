"""The workflow end to end: real broker, real `faust -A app worker`, HTTP and topics."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import COMPLETE_REQUEST, SEED_SKILL_VALIDATION, Api, Kafka, WebhookReceiver, Worker, assert_signed


def plan_generated_for(kafka: Kafka, interview_id: str) -> Callable[[list[Any]], bool]:
    return lambda records: any(r.key == interview_id.encode() for r in records)


async def test_complete_request_reaches_pending_with_a_signed_webhook(
    api_for: Callable[[str], Api], kafka: Kafka, webhook_receiver: WebhookReceiver
) -> None:
    api = api_for("acme")
    status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202, accepted
    assert accepted["state"] == "VALIDATING_SKILLS"
    assert accepted["dataQuality"] == "EXCELLENT"
    assert accepted["missingFields"] == []
    assert accepted["runId"].startswith("run_")
    interview_id = accepted["interviewId"]

    interview = await api.wait_state(interview_id, "PENDING")
    assert interview["runId"] == accepted["runId"]
    plan = interview["plan"]
    assert [c["name"] for c in plan["competencies"]] == COMPLETE_REQUEST["skills"]
    assert plan["durationMinutes"] == 60

    records = await kafka.collect("plan.generated", plan_generated_for(kafka, interview_id))
    generated = [json.loads(r.value) for r in records if r.key == interview_id.encode()]
    assert len(generated) == 1
    assert generated[0]["payload"]["planId"] == plan["planId"]
    assert generated[0]["payload"]["validatedSkills"] == COMPLETE_REQUEST["skills"]
    assert generated[0]["runId"] == accepted["runId"]

    hook = await webhook_receiver.wait_for(interview_id, "interview.plan_generated")
    assert_signed(hook, "acme")
    body = hook.json
    assert set(body) == {
        "event",
        "deliveryId",
        "runId",
        "interviewId",
        "tenantId",
        "candidateRef",
        "state",
        "timestamp",
        "data",
    }
    assert (body["tenantId"], body["runId"], body["state"], body["candidateRef"]) == (
        "acme",
        accepted["runId"],
        "PENDING",
        "cand-42",
    )
    assert body["data"]["planId"] == plan["planId"]

    status, history = await api.call("GET", f"/api/v1/interviews/{interview_id}/history")
    assert status == 200
    assert [(h["from"], h["to"]) for h in history["history"]] == [
        (None, "RECEIVED"),
        ("RECEIVED", "VALIDATING_SKILLS"),
        ("VALIDATING_SKILLS", "GENERATING_PLAN"),
        ("GENERATING_PLAN", "PENDING"),
    ]
    assert all(h["eventId"] and h["actor"] and h["at"] for h in history["history"])


async def test_missing_data_goes_through_info_needed_then_pending(
    api_for: Callable[[str], Api], webhook_receiver: WebhookReceiver
) -> None:
    api = api_for("acme")
    request = {"candidateEmail": "grace@example.com", "position": "Data Engineer"}
    status, accepted = await api.call("POST", "/api/v1/interviews", json=request)
    assert status == 202, accepted
    assert accepted["state"] == "INFO_NEEDED"
    assert {m["field"] for m in accepted["missingFields"]} == {"level", "skills", "jobDescription"}
    interview_id = accepted["interviewId"]

    interview = await api.wait_state(interview_id, "INFO_NEEDED")
    assert {m["field"] for m in interview["missingFields"]} == {"level", "skills", "jobDescription"}
    assert all(m["question"] for m in interview["missingFields"])
    needed = await webhook_receiver.wait_for(interview_id, "interview.info_needed")
    assert_signed(needed, "acme")
    assert {m["field"] for m in needed.json["data"]["missingFields"]} == {"level", "skills", "jobDescription"}

    # Still incomplete: stays INFO_NEEDED and asks again.
    status, body = await api.call("PATCH", f"/api/v1/interviews/{interview_id}/info", json={"level": "mid"})
    assert status == 202, body
    assert body["state"] == "INFO_NEEDED"
    assert {m["field"] for m in body["missingFields"]} == {"skills", "jobDescription"}
    # A command's 202 predicts from the row as it is; wait until the stream has applied this one.
    await api.wait_until(interview_id, lambda row: row["details"].get("level") == "mid", "updated with the level")

    status, body = await api.call(
        "PATCH", f"/api/v1/interviews/{interview_id}/info", json={"skills": ["SQL", "Spark", "Airflow"]}
    )
    assert status == 202, body
    assert body["state"] == "VALIDATING_SKILLS"
    interview = await api.wait_state(interview_id, "PENDING")
    assert interview["missingFields"] == []
    assert interview["details"]["level"] == "mid"
    assert interview["plan"]["durationMinutes"] == 45

    completed = await webhook_receiver.wait_for(interview_id, "interview.info_completed")
    assert completed.json["data"]["providedFields"] == ["skills"]
    await webhook_receiver.wait_for(interview_id, "interview.plan_generated")
    events = [w.json["event"] for w in webhook_receiver.for_interview(interview_id)]
    assert events == [
        "interview.info_needed",
        "interview.info_needed",
        "interview.info_completed",
        "interview.plan_generated",
    ]

    status, history = await api.call("GET", f"/api/v1/interviews/{interview_id}/history")
    assert [h["to"] for h in history["history"]] == [
        "RECEIVED",
        "INFO_NEEDED",
        "INFO_NEEDED",
        "VALIDATING_SKILLS",
        "GENERATING_PLAN",
        "PENDING",
    ]


async def test_seed_message_from_an_outside_producer_yields_a_plan(
    worker: Worker, bootstrap: str, api_for: Callable[[str], Api], kafka: Kafka
) -> None:
    # Fails rather than skips without kcat: a skipped test would read as a pass.
    assert shutil.which("kcat"), "Debian kcat is installed by `make test` (make test-deps)"
    interview_id = f"seed-{uuid.uuid4()}"
    message = json.dumps(json.loads(SEED_SKILL_VALIDATION.replace("interview-uuid", interview_id)))
    # kcat with librdkafka's default partitioner: the worker must cope with where it lands.
    subprocess.run(
        ["kcat", "-P", "-b", bootstrap, "-t", "skill.validation.requested", "-k", interview_id],
        input=message.encode(),
        check=True,
        timeout=30,
    )
    records = await kafka.collect("plan.generated", plan_generated_for(kafka, interview_id))
    generated = [json.loads(r.value) for r in records if r.key == interview_id.encode()]
    assert len(generated) == 1
    event = generated[0]
    assert (event["tenantId"], event["runId"], event["interviewId"]) == ("tenant-uuid", "agno-run-uuid", interview_id)
    assert event["payload"]["validatedSkills"] == ["TypeScript", "React", "Node.js"]
    assert event["payload"]["duration"] == 60

    interview = await api_for("tenant-uuid").wait_state(interview_id, "PENDING")
    assert interview["callbackUrl"] == "https://ats.example.com/webhook"
    # Other tenants cannot see it.
    status, _ = await api_for("acme").call("GET", f"/api/v1/interviews/{interview_id}")
    assert status == 404


async def test_auto_approving_tenant_goes_straight_to_approved(
    api_for: Callable[[str], Api], webhook_receiver: WebhookReceiver
) -> None:
    api = api_for("globex")
    status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202
    approved = await api.wait_state(accepted["interviewId"], "APPROVED")
    hook = await webhook_receiver.wait_for(accepted["interviewId"], "interview.plan_generated")
    assert hook.json["data"]["autoApproved"] is True
    assert_signed(hook, "globex")
    # The candidate's link comes with the approval, valid for the tenant's accessLinkTtlDays (2).
    granted = await webhook_receiver.wait_for(accepted["interviewId"], "interview.approved")
    link = approved["accessLink"]
    assert granted.json["data"]["accessLink"] == link
    expires = datetime.fromisoformat(link["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(days=2) - timedelta(minutes=5) < expires - datetime.now(UTC) <= timedelta(days=2)


async def test_create_is_idempotent_on_external_id(api_for: Callable[[str], Api]) -> None:
    api = api_for("acme")
    request = {**COMPLETE_REQUEST, "externalId": f"ats-{uuid.uuid4()}"}
    status, first = await api.call("POST", "/api/v1/interviews", json=request)
    assert status == 202
    await api.wait_state(first["interviewId"], "PENDING")
    status, second = await api.call("POST", "/api/v1/interviews", json=request)
    assert status == 202
    assert (second["interviewId"], second["runId"], second["state"]) == (
        first["interviewId"],
        first["runId"],
        "PENDING",
    )
    # The same externalId under another tenant is another interview.
    status, other = await api_for("globex").call("POST", "/api/v1/interviews", json=request)
    assert status == 202 and other["interviewId"] != first["interviewId"]


async def test_failing_receiver_is_retried_with_the_same_delivery_id_without_blocking_the_workflow(
    api_for: Callable[[str], Api], webhook_receiver: WebhookReceiver
) -> None:
    api = api_for("acme")
    webhook_receiver.failing = True
    try:
        status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
        assert status == 202
        interview_id = accepted["interviewId"]
        # The workflow does not wait for the receiver.
        await api.wait_state(interview_id, "PENDING")
        deadline = time.monotonic() + 30
        while len(webhook_receiver.for_interview(interview_id)) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        webhook_receiver.failing = False
    failed_attempts = webhook_receiver.for_interview(interview_id)
    assert len(failed_attempts) >= 3
    await asyncio.sleep(3)  # backoff is capped at 1 s in tests: the next retry succeeds
    attempts = webhook_receiver.for_interview(interview_id)
    assert len(attempts) > len(failed_attempts)
    assert {a.headers["X-Webhook-Id"] for a in attempts} == {failed_attempts[0].json["deliveryId"]}
    assert len({a.body for a in attempts}) == 1  # the same bytes every time
    for attempt in attempts:
        assert_signed(attempt, "acme")
