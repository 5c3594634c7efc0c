"""Bad input loses nothing: bad messages land in events.deadletter, bad requests get a clear 4xx."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

from conftest import COMPLETE_REQUEST, Api, Kafka, Worker

SKILLS_TOPIC = "skill.validation.requested"
CASE_HEADER = "test-case"


def envelope(interview_id: str, **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "eventType": SKILLS_TOPIC,
        "eventId": str(uuid.uuid4()),
        "tenantId": "acme",
        "runId": "run_1700000000_deadbeef",
        "interviewId": interview_id,
        "timestamp": "2024-01-15T10:01:00.000Z",
        "payload": {"skills": ["Go"], "jobDescription": "Write services.", "level": "MID"},
    }
    message.update(overrides)
    return message


async def test_every_kind_of_bad_message_is_dead_lettered_and_the_worker_keeps_going(
    worker: Worker, kafka: Kafka, api_for: Callable[[str], Api]
) -> None:
    run = uuid.uuid4().hex[:8]
    # An interview that has its plan already: planning it again is a forbidden transition.
    api = api_for("acme")
    status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202
    pending_id = accepted["interviewId"]
    await api.wait_state(pending_id, "PENDING")

    def keyed(interview_id: str, document: Any) -> tuple[bytes, bytes]:
        return interview_id.encode(), json.dumps(document).encode()

    bad_id = f"bad-{run}"
    cases: dict[str, tuple[str, bytes | None, bytes, str]] = {
        # name: (topic, key, value, expected reason)
        "not-json": (SKILLS_TOPIC, bad_id.encode(), b"{not json", "not_json"),
        "not-an-object": (SKILLS_TOPIC, bad_id.encode(), b"[1, 2, 3]", "schema_violation"),
        "unknown-event-type": (
            SKILLS_TOPIC,
            *keyed(bad_id, envelope(bad_id, eventType="interview.teleported")),
            "unknown_event_type",
        ),
        "mismatched-event-type": (
            SKILLS_TOPIC,
            *keyed(bad_id, envelope(bad_id, eventType="plan.generated")),
            "event_type_mismatch",
        ),
        "missing-tenant": (
            SKILLS_TOPIC,
            *keyed(bad_id, {k: v for k, v in envelope(bad_id).items() if k != "tenantId"}),
            "missing_tenant",
        ),
        "empty-tenant": (SKILLS_TOPIC, *keyed(bad_id, envelope(bad_id, tenantId="  ")), "missing_tenant"),
        "schema-violation": (
            SKILLS_TOPIC,
            *keyed(bad_id, envelope(bad_id, payload={"skills": "Go", "jobDescription": "x", "level": "WIZARD"})),
            "schema_violation",
        ),
        "over-1-mib": (
            SKILLS_TOPIC,
            *keyed(
                bad_id,
                envelope(bad_id, payload={"skills": ["Go"], "jobDescription": "x" * (1024 * 1024), "level": "MID"}),
            ),
            "too_large",
        ),
        "key-mismatch": (SKILLS_TOPIC, f"other-{run}".encode(), json.dumps(envelope(bad_id)).encode(), "key_mismatch"),
        "forbidden-transition": (SKILLS_TOPIC, *keyed(pending_id, envelope(pending_id)), "transition_forbidden"),
        "unknown-interview": (
            "plan.generated",
            *keyed(
                f"ghost-{run}",
                envelope(
                    f"ghost-{run}",
                    eventType="plan.generated",
                    payload={"planId": "p1", "validatedSkills": ["Go"], "duration": 45},
                ),
            ),
            "unknown_interview",
        ),
    }
    for name, (topic, key, value, _) in cases.items():
        await kafka.produce(topic, value, key=key, headers=[(CASE_HEADER, f"{run}:{name}".encode())])
    good_id = f"good-{run}"
    await kafka.produce(SKILLS_TOPIC, json.dumps(envelope(good_id)).encode(), key=good_id.encode())

    def case_of(record: Any) -> str | None:
        """The test case a dead letter came from, by the header the original message carried."""
        dead = json.loads(record.value)
        headers = {h["key"]: base64.b64decode(h["valueBase64"]).decode() for h in dead.get("headers", [])}
        value = headers.get(CASE_HEADER, "")
        return value.split(":", 1)[1] if value.startswith(f"{run}:") else None

    def all_cases_in(records: list[Any]) -> bool:
        return {case_of(r) for r in records} >= set(cases)

    records = await kafka.collect("events.deadletter", all_cases_in, timeout=60)
    by_case = {case_of(r): r for r in records if case_of(r)}
    assert set(by_case) == set(cases), f"missing: {set(cases) - set(by_case)}"
    for name, (topic, key, value, reason) in cases.items():
        dead = json.loads(by_case[name].value)
        assert dead["reason"] == reason, (name, dead["error"])
        assert dead["error"], name
        assert base64.b64decode(dead["valueBase64"]) == value, name
        assert dead["key"] == (key.decode() if key is not None else None), name
        assert dead["sourceTopic"] == topic
        assert isinstance(dead["sourcePartition"], int) and isinstance(dead["sourceOffset"], int)
        assert dead["failedAt"].endswith("Z")
    schema = json.loads(by_case["schema-violation"].value)
    assert {f["field"] for f in schema["fields"]} >= {"payload.skills", "payload.level"}
    forbidden = json.loads(by_case["forbidden-transition"].value)
    assert "PENDING" in forbidden["error"]

    # The good message after all of them was processed, and the refused trigger is on record.
    interview = await api.wait_state(good_id, "PENDING")
    assert interview["plan"]["competencies"][0]["name"] == "Go"
    status, history = await api.call("GET", f"/api/v1/interviews/{pending_id}/history")
    assert status == 200
    assert [r["trigger"] for r in history["rejectedTriggers"]] == ["planner_started"]
    assert history["history"][-1]["to"] == "PENDING"


async def test_http_errors_say_what_is_wrong(worker: Worker, api_for: Callable[[str], Api]) -> None:
    acme, globex = api_for("acme"), api_for("globex")
    status, body = await acme.call(
        "POST", "/api/v1/interviews", json=COMPLETE_REQUEST, headers={"X-API-Key": "wrong-key-123"}
    )
    assert status == 401 and body["error"] == "unauthorized"
    status, body = await acme.call("GET", "/api/v1/interviews/x", headers={"X-Tenant-ID": "nobody"})
    assert status == 401

    status, body = await acme.call(
        "POST", "/api/v1/interviews", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and "not JSON" in body["message"]
    status, body = await acme.call("POST", "/api/v1/interviews", json={"skills": "Kafka", "durationMinutes": -5})
    assert status == 400
    assert {f["field"] for f in body["fields"]} == {"skills", "durationMinutes"}
    status, body = await acme.call("POST", "/api/v1/interviews", json={**COMPLETE_REQUEST, "callbackUrl": "ftp://x"})
    assert status == 400 and body["fields"][0]["field"] == "callbackUrl"
    huge = {**COMPLETE_REQUEST, "jobDescription": "x" * (1024 * 1024 + 1)}
    status, body = await acme.call("POST", "/api/v1/interviews", json=huge)
    assert status == 413

    status, accepted = await acme.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202
    interview_id = accepted["interviewId"]
    await acme.wait_state(interview_id, "PENDING")
    for path in (f"/api/v1/interviews/{interview_id}", f"/api/v1/interviews/{interview_id}/history"):
        status, body = await globex.call("GET", path)
        assert status == 404 and body["error"] == "not_found"
    status, _ = await globex.call("PATCH", f"/api/v1/interviews/{interview_id}/info", json={"level": "MID"})
    assert status == 404
    status, body = await acme.call("PATCH", f"/api/v1/interviews/{interview_id}/info", json={"level": "MID"})
    assert status == 409
    assert body["state"] == "PENDING" and "plan_approved" in body["allowedTriggers"]
    status, body = await acme.call("GET", f"/api/v1/interviews/{uuid.uuid4()}")
    assert status == 404
