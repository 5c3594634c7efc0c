"""Two workers in one group: every read, command and stream answers on either worker.

Runs last among the integration tests (it rebalances the shared group) and leaves one worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from conftest import ADMIN_KEY, COMPLETE_REQUEST, Api, Worker, Workers
from test_live_streams import read_events


async def settled(http: aiohttp.ClientSession, *pool: Worker, timeout: float = 60.0) -> None:
    """Until every worker is ready (assigned, recovered, not rebalancing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = 0
        for worker in pool:
            async with http.get(f"{worker.base_url}/health/ready") as response:
                ready += response.status == 200
        if ready == len(pool):
            return
        await asyncio.sleep(0.3)
    raise AssertionError("workers did not settle")


async def get_ok(api: Api, path: str, timeout: float = 30.0) -> tuple[dict[str, Any], str]:
    deadline = time.monotonic() + timeout
    async with api.session.get(api.base_url + path, headers=api.headers) as response:
        body = await response.json()
        if response.status == 200 or time.monotonic() > deadline:
            assert response.status == 200, body
            return body, response.headers["X-Served-By"]
    return await get_ok(api, path, deadline - time.monotonic())


async def test_any_worker_answers_for_every_key_and_streams_survive_switching_workers(
    workers: Workers, worker: Worker, http: aiohttp.ClientSession, api_for: Callable[[str], Api]
) -> None:
    second = await workers.start("second")
    await settled(http, worker, second)
    on_main, on_second = Api(http, worker.base_url, "acme"), Api(http, second.base_url, "acme")

    created = []
    for n in range(8):  # enough keys to land on every partition of both workers
        entry = on_main if n % 2 else on_second
        status, accepted = await entry.call(
            "POST", "/api/v1/interviews", json={**COMPLETE_REQUEST, "externalId": f"pool-{n}-{time.time()}"}
        )
        assert status == 202, accepted
        created.append(accepted["interviewId"])

    served_by: set[str] = set()
    for interview_id in created:
        await on_main.wait_state(interview_id, "PENDING")
        from_main, main_owner = await get_ok(on_main, f"/api/v1/interviews/{interview_id}")
        from_second, second_owner = await get_ok(on_second, f"/api/v1/interviews/{interview_id}")
        assert from_main == from_second
        assert main_owner == second_owner  # the same worker answered, whichever was asked
        served_by.add(main_owner)
        history_main, _ = await get_ok(on_main, f"/api/v1/interviews/{interview_id}/history")
        history_second, _ = await get_ok(on_second, f"/api/v1/interviews/{interview_id}/history")
        assert history_main == history_second
    assert len(served_by) == 2, served_by  # both workers own some of the keys
    admin = {"X-API-Key": ADMIN_KEY}
    counts = []
    for api in (on_main, on_second):
        status, body = await api.call("GET", "/api/v1/admin/metrics/workflows", headers=admin)
        assert status == 200, body
        counts.append(body)
    assert counts[0] == counts[1]  # the whole group's counts, whichever worker is asked
    assert counts[0]["workers"] == 2
    assert counts[0]["byState"]["PENDING"] >= len(created)

    # A command sent to the worker that does not own the interview keeps its body.
    interview_id = created[0]
    _, owner = await get_ok(on_main, f"/api/v1/interviews/{interview_id}")
    elsewhere = on_second if owner.rstrip("/").endswith(worker.base_url.rsplit(":", 1)[1]) else on_main
    status, body = await elsewhere.call(
        "POST",
        f"/api/v1/interviews/{interview_id}/plan/approve",
        json={"approvedBy": "rita", "comment": "via any worker"},
    )
    assert status == 202, body
    approved = await on_main.wait_state(interview_id, "APPROVED")
    assert approved["accessLink"]["url"]
    history, _ = await get_ok(on_second, f"/api/v1/interviews/{interview_id}/history")
    assert history["history"][-1]["note"] == "via any worker"
    assert history["history"][-1]["actor"] == "rita"

    # A stream read on one worker resumes on the other with nothing missed.
    first_part, _ = await read_events(
        http,
        f"{worker.base_url}/api/v1/interviews/{interview_id}/events",
        lambda es: len(es) >= 2,
        headers=on_main.headers,
    )
    last_seen = first_part[1]["id"]
    rest, _ = await read_events(
        http,
        f"{second.base_url}/api/v1/interviews/{interview_id}/events",
        lambda es: any(e["data"]["to"] == "APPROVED" for e in es),
        headers={**on_second.headers, "Last-Event-ID": last_seen},
    )
    assert [e["id"] for e in first_part[:2] + rest] == ["1", "2", "3", "4", "5"]

    # Right after the second worker leaves, the first answers for every key again.
    workers.stop(second)
    for interview_id in created:
        row, owner = await get_ok(on_main, f"/api/v1/interviews/{interview_id}", timeout=60)
        assert row["interviewId"] == interview_id
        assert owner.rstrip("/").endswith(worker.base_url.rsplit(":", 1)[1])
