"""SSE streams on a real worker: transitions with Last-Event-ID, run steps, the workspace, tokens."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from conftest import COMPLETE_REQUEST, TENANTS, Api, Worker

TRANSCRIPT = [{"speaker": "candidate", "text": "I run Kafka consumers and Python services every day."}]


async def read_events(
    session: aiohttp.ClientSession,
    url: str,
    done: Callable[[list[dict[str, Any]]], bool],
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """SSE events ({event, id, data}) read until ``done`` holds, with the response headers."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        assert response.status == 200, await response.text()
        response_headers = dict(response.headers)
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if "data" in current:
                    current["data"] = json.loads(current["data"])
                    events.append(current)
                current = {}
                if done(events) or time.monotonic() > deadline:
                    break
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            current[name] = value[1:] if value.startswith(" ") else value
    return events, response_headers


async def test_transitions_stream_live_and_resume_from_last_event_id(
    api_for: Callable[[str], Api], worker: Worker, http: aiohttp.ClientSession
) -> None:
    api = api_for("acme")
    status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202
    interview_id = accepted["interviewId"]
    await api.wait_state(interview_id, "PENDING")
    url = f"{worker.base_url}/api/v1/interviews/{interview_id}/events"

    async def approve_soon() -> None:
        await asyncio.sleep(0.5)
        status, _ = await api.call("POST", f"/api/v1/interviews/{interview_id}/plan/approve", json={})
        assert status == 202

    approving = asyncio.create_task(approve_soon())
    events, headers = await read_events(
        http, url, lambda es: any(e["data"]["to"] == "APPROVED" for e in es), headers=api.headers
    )
    await approving
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["X-Accel-Buffering"] == "no"
    assert [e["data"]["to"] for e in events] == [
        "RECEIVED",
        "VALIDATING_SKILLS",
        "GENERATING_PLAN",
        "PENDING",
        "APPROVED",
    ]
    assert [e["id"] for e in events] == ["1", "2", "3", "4", "5"]
    assert {e["event"] for e in events} == {"transition"}

    # Reconnect having seen up to 3: exactly what was missed is replayed.
    resumed, _ = await read_events(http, url, lambda es: len(es) >= 2, headers={**api.headers, "Last-Event-ID": "3"})
    assert [(e["id"], e["data"]["to"]) for e in resumed[:2]] == [("4", "PENDING"), ("5", "APPROVED")]

    # HEAD answers at once, with the stream's headers and no body.
    async with http.head(url, headers=api.headers, timeout=aiohttp.ClientTimeout(total=5)) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")

    # Another tenant cannot open it; no key at all is 401.
    async with http.get(url, headers=api_for("globex").headers) as response:
        assert response.status == 404
    async with http.get(url) as response:
        assert response.status == 401


async def test_run_and_workspace_streams_tell_the_planner_and_assessor_steps(
    api_for: Callable[[str], Api], worker: Worker, http: aiohttp.ClientSession
) -> None:
    api = api_for("acme")
    status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    interview_id, run_id = accepted["interviewId"], accepted["runId"]
    await api.wait_state(interview_id, "PENDING")

    # A browser EventSource cannot send headers: a short-lived token in the query string instead.
    status, token = await api.call("POST", "/api/v1/streams/token")
    assert status == 200, token
    run_url = f"{worker.base_url}/api/v1/runs/{run_id}/stream?interviewId={interview_id}&token={token['token']}"
    events, _ = await read_events(http, run_url, lambda es: any(e["event"] == "done" for e in es))
    node_ends = [e["data"] for e in events if e["event"] == "node_end"]
    assert node_ends and all({"node", "status", "tokens_used", "message"} <= set(d) for d in node_ends)
    [done] = [e["data"] for e in events if e["event"] == "done"]
    assert done["agent"] == "planner" and done["status"] == "completed"
    assert {"execution_id", "tokens_used", "cost_usd"} <= set(done)
    async with http.get(f"{worker.base_url}/api/v1/runs/{run_id}/stream?token=forged.token") as response:
        assert response.status == 401

    workspace_url = f"{worker.base_url}/api/v1/workspaces/{interview_id}/stream"
    await api.call("POST", f"/api/v1/interviews/{interview_id}/plan/approve", json={})
    await api.wait_state(interview_id, "APPROVED")

    async def complete_soon() -> None:
        await asyncio.sleep(0.5)
        await api.call("POST", f"/api/v1/interviews/{interview_id}/complete", json={"transcript": TRANSCRIPT})

    completing = asyncio.create_task(complete_soon())
    events, _ = await read_events(
        http, workspace_url, lambda es: any(e["event"] == "assessment_complete" for e in es), headers=api.headers
    )
    await completing
    kinds = [e["event"] for e in events]
    assert {"agent_status", "checklist_item_update", "validation_result", "assessment_complete"} <= set(kinds)
    scored = [e["data"] for e in events if e["event"] == "checklist_item_update" and e["data"].get("score")]
    assert {d["itemId"] for d in scored} == set(COMPLETE_REQUEST["skills"])
    assert TENANTS["acme"]  # the tenant the streams were opened for
