"""The whole interview lifecycle on a real broker and a real worker: HTTP and topics alone."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from conftest import ADMIN_KEY, COMPLETE_REQUEST, SEED_SKILL_VALIDATION, Api, Kafka, WebhookReceiver, assert_signed

TRANSCRIPT = [
    {"speaker": "interviewer", "text": "How have you used Kafka?"},
    {"speaker": "candidate", "text": "I ran Kafka clusters and wrote consumers that keep partitions ordered."},
    {"speaker": "interviewer", "text": "And Python?"},
    {"speaker": "candidate", "text": "Python is my main language; I built Faust workers in Python with asyncio."},
    {"speaker": "interviewer", "text": "Stream processing?"},
    {"speaker": "candidate", "text": "Stream processing with windowed tables and exactly-once sinks."},
]


async def create_pending(api: Api, **changes: Any) -> tuple[str, dict[str, Any]]:
    status, accepted = await api.call("POST", "/api/v1/interviews", json={**COMPLETE_REQUEST, **changes})
    assert status == 202, accepted
    interview_id: str = accepted["interviewId"]
    return interview_id, await api.wait_state(interview_id, "PENDING")


async def webhook_events(receiver: WebhookReceiver, interview_id: str, last: str) -> list[str]:
    await receiver.wait_for(interview_id, last)
    return [w.json["event"] for w in receiver.for_interview(interview_id)]


async def test_full_path_to_assessment_approved_with_every_webhook_in_order(
    api_for: Callable[[str], Api], webhook_receiver: WebhookReceiver
) -> None:
    api = api_for("acme")
    interview_id, pending = await create_pending(api)
    plan_id = pending["plan"]["planId"]

    status, body = await api.call(
        "POST",
        f"/api/v1/interviews/{interview_id}/plan/approve",
        json={"planId": plan_id, "approvedBy": "rita", "comment": "good plan"},
    )
    assert status == 202, body
    assert (body["previousState"], body["state"]) == ("PENDING", "APPROVED")
    approved = await api.wait_state(interview_id, "APPROVED")
    link = approved["accessLink"]
    assert link["url"].endswith(link["token"]) and link["expiresAt"]

    status, body = await api.call(
        "POST",
        f"/api/v1/interviews/{interview_id}/complete",
        json={"sessionId": "session-9", "transcript": TRANSCRIPT},
    )
    assert status == 202, body
    assessed = await api.wait_state(interview_id, "ASSESSMENT_PENDING")
    assessment = assessed["assessment"]
    assert assessment["planId"] == plan_id
    assert [s["name"] for s in assessment["competencyScores"]] == COMPLETE_REQUEST["skills"]
    assert all(1 <= s["score"] <= 5 for s in assessment["competencyScores"])
    assert all(s["evidence"] for s in assessment["competencyScores"])  # each skill came up in the transcript
    assert 0 <= assessment["overallScore"] <= 100
    assert assessment["recommendation"] in {"STRONG_HIRE", "HIRE", "MAYBE", "NO_HIRE"}
    assert assessed["completion"] == {
        "sessionId": "session-9",
        "endedAt": assessed["completion"]["endedAt"],
        "transcriptLines": len(TRANSCRIPT),
    }
    assert assessed["assessmentRun"]["model"] == "offline"

    status, body = await api.call(
        "POST",
        f"/api/v1/interviews/{interview_id}/assessment/approve",
        json={"assessmentId": assessment["assessmentId"], "reviewedBy": "hiring-manager"},
    )
    assert status == 202, body
    await api.wait_state(interview_id, "ASSESSMENT_APPROVED")

    events = await webhook_events(webhook_receiver, interview_id, "interview.assessment_approved")
    assert events == [
        "interview.plan_generated",
        "interview.approved",
        "interview.completed",
        "interview.assessment_pending",
        "interview.assessment_approved",
    ]
    hooks = webhook_receiver.for_interview(interview_id)
    for hook in hooks:
        assert_signed(hook, "acme")
    assert len({h.json["deliveryId"] for h in hooks}) == len(hooks)
    assert hooks[1].json["data"]["accessLink"]["url"] == link["url"]
    assert hooks[3].json["data"]["assessmentId"] == assessment["assessmentId"]

    status, history = await api.call("GET", f"/api/v1/interviews/{interview_id}/history")
    assert status == 200
    assert [(h["from"], h["to"], h["trigger"]) for h in history["history"]] == [
        (None, "RECEIVED", "created"),
        ("RECEIVED", "VALIDATING_SKILLS", "intake_passed"),
        ("VALIDATING_SKILLS", "GENERATING_PLAN", "planner_started"),
        ("GENERATING_PLAN", "PENDING", "plan_generated"),
        ("PENDING", "APPROVED", "plan_approved"),
        ("APPROVED", "COMPLETED", "interview_completed"),
        ("COMPLETED", "ASSESSMENT_PENDING", "assessment_completed"),
        ("ASSESSMENT_PENDING", "ASSESSMENT_APPROVED", "assessment_approved"),
    ]
    assert history["history"][4]["actor"] == "rita" and history["history"][4]["note"] == "good plan"
    assert history["history"][7]["actor"] == "hiring-manager"

    status, metrics = await api.call(
        "GET", "/api/v1/admin/metrics/workflows", headers={"X-API-Key": ADMIN_KEY, "X-Tenant-ID": ""}
    )
    assert status == 200, metrics
    assert metrics["byState"]["ASSESSMENT_APPROVED"] >= 1
    assert metrics["total"] == sum(metrics["byState"].values())
    assert set(metrics["byState"]) >= {"RECEIVED", "CANCELLED", "ASSESSMENT_REJECTED"}
    status, body = await api.call("GET", "/api/v1/admin/metrics/workflows")  # a tenant key is not the admin key
    assert status == 403 and "admin" in body["message"], body


async def test_missing_data_is_asked_for_kept_as_notifications_and_then_planned(
    api_for: Callable[[str], Api], webhook_receiver: WebhookReceiver
) -> None:
    api = api_for("acme")
    status, accepted = await api.call("POST", "/api/v1/interviews", json={"candidateRef": "c-7", "position": "SRE"})
    assert status == 202 and accepted["state"] == "INFO_NEEDED"
    interview_id = accepted["interviewId"]
    await api.wait_state(interview_id, "INFO_NEEDED")
    status, body = await api.call(
        "PATCH",
        f"/api/v1/interviews/{interview_id}/info",
        json={"level": "LEAD", "skills": ["Linux", "Kubernetes", "Terraform"], "providedBy": "rita"},
    )
    assert status == 202, body
    await api.wait_state(interview_id, "PENDING")

    events = await webhook_events(webhook_receiver, interview_id, "interview.plan_generated")
    assert events == ["interview.info_needed", "interview.info_completed", "interview.plan_generated"]
    status, body = await api.call("GET", f"/api/v1/interviews/{interview_id}/notifications")
    assert status == 200
    notes = body["notifications"]
    assert [n["event"] for n in notes] == ["interview.info_needed", "interview.info_completed"]
    assert {m["field"] for m in notes[0]["missingFields"]} == {"level", "skills", "jobDescription"}
    assert all(m["question"] for m in notes[0]["missingFields"])
    assert notes[1]["providedFields"] == ["level", "skills"]
    hooks = webhook_receiver.for_interview(interview_id)
    assert [n["deliveryId"] for n in notes] == [h.json["deliveryId"] for h in hooks[:2]]
    status, _ = await api_for("globex").call("GET", f"/api/v1/interviews/{interview_id}/notifications")
    assert status == 404


async def test_reject_with_retry_replans_then_reject_ends_it(
    api_for: Callable[[str], Api], webhook_receiver: WebhookReceiver
) -> None:
    api = api_for("acme")
    interview_id, pending = await create_pending(api)
    first_plan = pending["plan"]["planId"]

    status, body = await api.call(
        "POST", f"/api/v1/interviews/{interview_id}/plan/reject", json={"reason": "needs more depth", "retry": True}
    )
    assert status == 202, body
    assert body["state"] == "GENERATING_PLAN"
    replanned = await api.wait_until(
        interview_id, lambda row: row["state"] == "PENDING" and row["plan"]["planId"] != first_plan, "re-planned"
    )
    assert replanned["supersededPlanIds"] == [first_plan]

    status, body = await api.call(
        "POST", f"/api/v1/interviews/{interview_id}/plan/reject", json={"reason": "not this role after all"}
    )
    assert status == 202, body
    await api.wait_state(interview_id, "REJECTED")

    hooks = await webhook_receiver.wait_for_count(interview_id, 4)
    assert [h.json["event"] for h in hooks] == [
        "interview.plan_generated",
        "interview.rejected",
        "interview.plan_generated",
        "interview.rejected",
    ]
    assert [h.json["data"]["retry"] for h in hooks if h.json["event"] == "interview.rejected"] == [True, False]
    assert hooks[2].json["data"]["planId"] != hooks[0].json["data"]["planId"]

    # A terminal interview takes no more decisions: 409 naming the state and that nothing is allowed.
    status, body = await api.call("POST", f"/api/v1/interviews/{interview_id}/plan/approve", json={})
    assert status == 409, body
    assert (body["state"], body["allowedTriggers"]) == ("REJECTED", [])


async def test_revise_replaces_the_plan_following_the_instructions(api_for: Callable[[str], Api]) -> None:
    api = api_for("acme")
    interview_id, pending = await create_pending(api)
    first_plan = pending["plan"]["planId"]

    status, body = await api.call(
        "POST", f"/api/v1/interviews/{interview_id}/plan/revise", json={"planId": "an-old-plan", "instructions": "x"}
    )
    assert status == 409, body  # revising a plan you did not see
    assert body["current"] == first_plan

    status, body = await api.call(
        "POST",
        f"/api/v1/interviews/{interview_id}/plan/revise",
        json={"planId": first_plan, "instructions": "Ask about incident response", "requestedBy": "rita"},
    )
    assert status == 202, body
    revised = await api.wait_until(
        interview_id, lambda row: row["state"] == "PENDING" and row["plan"]["planId"] != first_plan, "revised"
    )
    assert revised["plan"]["revisionInstructions"] == "Ask about incident response"
    assert revised["supersededPlanIds"] == [first_plan]

    status, history = await api.call("GET", f"/api/v1/interviews/{interview_id}/history")
    revise = [h for h in history["history"] if h["trigger"] == "plan_revision_requested"]
    assert [(h["from"], h["to"], h["actor"], h["note"]) for h in revise] == [
        ("PENDING", "GENERATING_PLAN", "rita", "Ask about incident response")
    ]


async def test_cancel_from_pending_and_a_second_cancel_is_409(
    api_for: Callable[[str], Api], webhook_receiver: WebhookReceiver
) -> None:
    api = api_for("acme")
    interview_id, _ = await create_pending(api)

    status, body = await api.call("DELETE", f"/api/v1/interviews/{interview_id}")
    assert status == 202, body
    await api.wait_state(interview_id, "CANCELLED")
    hook = await webhook_receiver.wait_for(interview_id, "interview.cancelled")
    assert hook.json["data"]["previousState"] == "PENDING"

    status, body = await api.call("DELETE", f"/api/v1/interviews/{interview_id}", json={"reason": "again"})
    assert status == 409, body
    assert body["state"] == "CANCELLED" and body["allowedTriggers"] == []
    status, _ = await api_for("globex").call("DELETE", f"/api/v1/interviews/{interview_id}")
    assert status == 404


async def test_wrong_state_triggers_are_409_over_http_and_dead_lettered_over_topics(
    api_for: Callable[[str], Api], kafka: Kafka
) -> None:
    api = api_for("acme")
    interview_id, pending = await create_pending(api)

    status, body = await api.call("POST", f"/api/v1/interviews/{interview_id}/complete", json={"transcript": []})
    assert status == 409, body
    assert body["state"] == "PENDING"
    assert body["trigger"] == "interview_completed"
    assert set(body["allowedTriggers"]) == {
        "plan_approved",
        "plan_rejected",
        "plan_rejected_retry",
        "plan_revision_requested",
        "cancel",
    }
    status, body = await api.call(
        "POST", f"/api/v1/interviews/{interview_id}/assessment/approve", json={"assessmentId": "a"}
    )
    assert status == 409, body

    # Over a topic nobody can be answered, so it is dead-lettered with the reason and recorded.
    event_id = str(uuid.uuid4())
    completed = {
        "eventType": "interview.completed",
        "eventId": event_id,
        "tenantId": "acme",
        "interviewId": interview_id,
        "timestamp": "2024-01-16T10:00:00.000Z",
        "payload": {"endedAt": "2024-01-16T10:00:00.000Z", "transcript": TRANSCRIPT},
    }
    await kafka.produce("interview.completed", json.dumps(completed).encode(), key=interview_id.encode())
    records = await kafka.collect(
        "events.deadletter", lambda rs: any(json.loads(r.value).get("eventId") == event_id for r in rs)
    )
    [letter] = [json.loads(r.value) for r in records if json.loads(r.value).get("eventId") == event_id]
    assert letter["reason"] == "transition_forbidden"
    assert "state PENDING" in letter["error"]
    assert letter["sourceTopic"] == "interview.completed"
    # ... and listed over HTTP with its reason.
    status, listed = await api.call(
        "GET",
        f"/api/v1/admin/deadletters?reason=transition_forbidden&interviewId={interview_id}",
        headers={"X-API-Key": ADMIN_KEY},
    )
    assert status == 200, listed
    assert [d["eventId"] for d in listed["deadLetters"]] == [event_id]
    status, _ = await api.call("GET", "/api/v1/admin/deadletters?limit=0", headers={"X-API-Key": ADMIN_KEY})
    assert status == 400
    status, history = await api.call("GET", f"/api/v1/interviews/{interview_id}/history")
    assert [r["eventId"] for r in history["rejectedTriggers"]] == [event_id]
    assert history["state"] == "PENDING"
    assert history["version"] == pending["version"]


async def test_topics_alone_walk_an_interview_to_a_terminal_state_and_duplicates_change_nothing(
    kafka: Kafka, api_for: Callable[[str], Api], webhook_receiver: WebhookReceiver
) -> None:
    interview_id = f"topics-{uuid.uuid4()}"
    seed = json.loads(SEED_SKILL_VALIDATION.replace("interview-uuid", interview_id))
    seed["payload"]["callbackUrl"] = webhook_receiver.url
    await kafka.produce("skill.validation.requested", json.dumps(seed).encode(), key=interview_id.encode())
    api = api_for("tenant-uuid")
    pending = await api.wait_state(interview_id, "PENDING")

    def event(topic: str, payload: dict[str, Any], event_id: str) -> bytes:
        return json.dumps(
            {
                "eventType": topic,
                "eventId": event_id,
                "tenantId": "tenant-uuid",
                "runId": "agno-run-uuid",
                "interviewId": interview_id,
                "timestamp": "2024-01-16T10:00:00.000Z",
                "payload": payload,
            }
        ).encode()

    key = interview_id.encode()
    approve = event("approval.approved", {"planId": pending["plan"]["planId"], "approvedBy": "ats-bot"}, "ev-approve")
    await kafka.produce("approval.approved", approve, key=key)
    await kafka.produce("approval.approved", approve, key=key)  # delivered twice
    await api.wait_state(interview_id, "APPROVED")

    completed = event(
        "interview.completed",
        {"sessionId": "edge-1", "endedAt": "2024-01-16T10:00:00.000Z", "transcript": TRANSCRIPT},
        "ev-completed",
    )
    await kafka.produce("interview.completed", completed, key=key)
    await kafka.produce("interview.completed", completed, key=key)
    assessed = await api.wait_state(interview_id, "ASSESSMENT_PENDING")

    review = event(
        "interview.assessment_reviewed",
        {"assessmentId": assessed["assessment"]["assessmentId"], "approved": False, "reviewedBy": "ats-bot"},
        "ev-review",
    )
    await kafka.produce("interview.assessment_reviewed", review, key=key)
    await api.wait_state(interview_id, "ASSESSMENT_REJECTED")

    records = await kafka.collect("assessment.completed", lambda rs: any(r.key == key for r in rs))
    # A duplicate input re-sends exactly what the first sent (at-least-once, in case that send was
    # lost); it never runs a second assessment: one eventId, identical bytes.
    ours = [r for r in records if r.key == key]
    assert len({r.value for r in ours}) == 1
    assert len({json.loads(r.value)["eventId"] for r in ours}) == 1
    events = await webhook_events(webhook_receiver, interview_id, "interview.assessment_rejected")
    assert events == [
        "interview.plan_generated",
        "interview.approved",
        "interview.completed",
        "interview.assessment_pending",
        "interview.assessment_rejected",
    ]
    status, history = await api.call("GET", f"/api/v1/interviews/{interview_id}/history")
    assert status == 200
    triggers = [h["trigger"] for h in history["history"]]
    assert triggers.count("plan_approved") == 1 and triggers.count("interview_completed") == 1
    assert history["rejectedTriggers"] == []
