"""Security on real workers: every route's auth, tenant isolation, webhook signatures and addresses,
secrets kept out of logs, request size limits.

Most cases share the session's worker. Two more workers, on a broker of their own and started
without WEBHOOK_ALLOW_PRIVATE, show forwarded reads between workers and the address policy at
send time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import (
    ADMIN_KEY,
    COMPLETE_REQUEST,
    ROOT,
    TENANTS,
    Api,
    Kafka,
    WebhookReceiver,
    Worker,
    Workers,
)
from test_worker_pool import settled

from domain.webhooks import WebhookRejected, verify_webhook
from local_kafka.admin import ensure_topics, start_group_at_end
from local_kafka.broker import LocalBroker
from models.topics import Topic

pytestmark = [pytest.mark.integration, pytest.mark.security]

ACCESS_LINK_SECRET = "dev-access-link-secret-change-me"  # the workers' default; conftest sets none
MAX_BODY = 1024 * 1024
# How long to wait for the workflow to get somewhere. Every group on a broker consumes every
# group's events, so on a broker other runs keep busy this is mostly their traffic.
SLOW = 180.0
ADMIN = {"X-API-Key": ADMIN_KEY}
# A tenant only the strict workers know: its webhooks go nowhere else.
STRICT_TENANT = {"initech": {"apiKey": "initech-api-key-0003", "webhookSecret": "initech-webhook-secret"}}
STRICT_HEADERS = {"X-Tenant-ID": "initech", "X-API-Key": STRICT_TENANT["initech"]["apiKey"]}

# Who may call each route (every method but HEAD, which Faust adds to every path and which follows GET).
PUBLIC, TENANT, ADMIN_ONLY, TENANT_OR_ADMIN, TENANT_STREAM, ADMIN_STREAM = (
    "public",
    "tenant",
    "admin",
    "tenant-or-admin",
    "tenant-stream",
    "admin-stream",
)
IV = "/api/v1/interviews/{interview_id}"
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/"): PUBLIC,  # Faust's index: {"status": "OK"}
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/dashboard"): PUBLIC,  # the page only; its data needs an admin stream token
    ("POST", "/api/v1/interviews"): TENANT,
    ("GET", IV): TENANT,
    ("DELETE", IV): TENANT,
    ("GET", IV + "/history"): TENANT,
    ("PATCH", IV + "/info"): TENANT,
    ("GET", IV + "/notifications"): TENANT,
    ("POST", IV + "/plan/approve"): TENANT,
    ("POST", IV + "/plan/reject"): TENANT,
    ("POST", IV + "/plan/revise"): TENANT,
    ("POST", IV + "/complete"): TENANT,
    ("POST", IV + "/assessment/approve"): TENANT,
    ("POST", IV + "/assessment/reject"): TENANT,
    ("POST", "/api/v1/streams/token"): TENANT,
    ("GET", IV + "/events"): TENANT_STREAM,
    ("GET", "/api/v1/runs/{run_id}/stream"): TENANT_STREAM,
    ("GET", "/api/v1/workspaces/{interview_id}/stream"): TENANT_STREAM,
    ("GET", "/api/v1/entities/{event_type}"): TENANT_OR_ADMIN,
    ("GET", "/api/v1/admin/metrics/workflows"): ADMIN_ONLY,
    ("GET", "/api/v1/admin/rows/{interview_id}"): ADMIN_ONLY,
    ("GET", "/api/v1/admin/deadletters"): ADMIN_ONLY,
    ("GET", "/api/v1/admin/kafka/status"): ADMIN_ONLY,
    ("POST", "/api/v1/admin/streams/token"): ADMIN_ONLY,
    ("GET", "/api/v1/admin/dashboard/stream"): ADMIN_STREAM,
}
# A valid body for each command, so a refusal cannot come from the body instead of the auth.
BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/interviews": COMPLETE_REQUEST,
    "/info": {"level": "MID"},
    "/plan/approve": {"approvedBy": "mallory"},
    "/plan/reject": {"reason": "not mine", "retry": False},
    "/plan/revise": {"instructions": "ask about payroll"},
    "/complete": {"transcript": [{"speaker": "candidate", "text": "hello"}]},
    "/assessment/approve": {},
    "/assessment/reject": {},
}


def served_routes() -> set[tuple[str, str]]:
    """Every (method, path) the worker's aiohttp router serves, built by the code a worker runs."""
    probe = (
        "import json, app\n"
        "faust_app = app.app\n"
        "faust_app.web.init_server()\n"  # what the worker does before serving: views + enabled blueprints
        "routes = {(r.method, r.resource.canonical) for r in faust_app.web.web_app.router.routes()}\n"
        "print(json.dumps(sorted(routes)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env={**os.environ}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {(method, path) for method, path in json.loads(done.stdout.strip().splitlines()[-1])}


@dataclass
class Seen:
    """What a test sent that must never show up in a worker's log."""

    secrets: set[str] = field(default_factory=set)
    workers: list[Worker] = field(default_factory=list)


SEEN = Seen(
    secrets={ADMIN_KEY, ACCESS_LINK_SECRET}
    | {v for t in {**TENANTS, **STRICT_TENANT}.values() for v in (t["apiKey"], t["webhookSecret"])}
)


def remember(*secrets: str) -> None:
    SEEN.secrets.update(s for s in secrets if s)


def wrong_key() -> str:
    key = f"wrong-key-{uuid.uuid4().hex}"
    remember(key)
    return key


async def call(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    async with http.request(method, url, headers=headers or {}, timeout=aiohttp.ClientTimeout(total=30), **kwargs) as r:
        text = await r.text()
        try:
            body = json.loads(text) if text else None
        except json.JSONDecodeError:
            body = text
        return r.status, body, dict(r.headers)


async def stream_token(http: aiohttp.ClientSession, worker: Worker, tenant_id: str | None) -> str:
    if tenant_id is None:
        status, body, _ = await call(http, "POST", f"{worker.base_url}/api/v1/admin/streams/token", ADMIN)
    else:
        headers = {"X-Tenant-ID": tenant_id, "X-API-Key": TENANTS[tenant_id]["apiKey"]}
        status, body, _ = await call(http, "POST", f"{worker.base_url}/api/v1/streams/token", headers)
    assert status == 200, body
    remember(body["token"])
    return str(body["token"])


def same_as_absent(body: Any, absent: Any, interview_id: str, absent_id: str) -> bool:
    """A refusal about someone else's interview reads exactly like one about an id that does not exist."""
    return json.dumps(body).replace(interview_id, "<id>") == json.dumps(absent).replace(absent_id, "<id>")


@pytest.fixture(scope="session")
async def fresh_group(workers: Workers, bootstrap: str) -> None:
    """Before the shared worker starts (only when this module is the first to want it)."""
    if not workers.started:  # on a broker other runs have filled, a new group would work through their events
        await start_group_at_end(bootstrap, workers.group_id, [topic.value for topic in Topic])


@pytest.fixture(scope="module")
async def pending(fresh_group: None, worker: Worker) -> dict[str, Any]:
    """An acme interview waiting for the recruiter: the target of every cross-tenant attempt."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, worker.base_url, "acme")
        status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
        assert status == 202, accepted
        row = await api.wait_state(accepted["interviewId"], "PENDING", timeout=SLOW)
        SEEN.workers.append(worker)
        return row


@pytest.fixture(scope="module")
async def strict(
    tenants_file: Path, webhook_receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Workers, Worker, Worker]]:
    """Two workers of their own group, without WEBHOOK_ALLOW_PRIVATE (the production default).

    On a broker of their own: topic names are not per group, so a second group on the session's
    broker would run every interview of the first one too (and the first one this group's),
    sending their webhooks and racing their plan.generated events against each other.
    """
    directory = tmp_path_factory.mktemp("strict")
    broker = LocalBroker.on_free_ports(directory / "kafka")
    tenants = {**json.loads(tenants_file.read_text()), **STRICT_TENANT}
    tenants["initech"] = {**tenants["initech"], "webhookUrl": webhook_receiver.url}
    (directory / "tenants.json").write_text(json.dumps(tenants))
    pool = Workers(broker.bootstrap, directory / "tenants.json", directory)
    try:
        await asyncio.to_thread(broker.start)
        # Every workflow topic before any worker joins: one created while the group is assigning would
        # cost a rebalance after the workers are ready, with a planner run in flight.
        await ensure_topics(broker.bootstrap, [topic.value for topic in Topic], partitions=3)
        first, second = await asyncio.gather(
            pool.start("strict-a", WEBHOOK_ALLOW_PRIVATE="0"), pool.start("strict-b", WEBHOOK_ALLOW_PRIVATE="0")
        )
        SEEN.workers.extend([first, second])
        yield pool, first, second
    finally:
        for started in pool.started:  # both stop at once, not one after the other
            if started.process.poll() is None:
                started.process.send_signal(signal.SIGTERM)
        for started in pool.started:
            try:
                started.process.wait(30)
            except subprocess.TimeoutExpired:
                started.process.kill()
                started.process.wait()
        await asyncio.to_thread(broker.stop)


# --- the route matrix ---------------------------------------------------------------------------


async def test_every_route_the_worker_serves_is_in_the_matrix_and_faust_table_views_are_off(
    fresh_group: None, worker: Worker, http: aiohttp.ClientSession
) -> None:
    routes = served_routes()
    served = {(method, path) for method, path in routes if method != "HEAD"}
    assert served == set(MATRIX), f"not in the matrix: {served - set(MATRIX)}; gone: {set(MATRIX) - served}"
    assert {path for method, path in routes if method == "HEAD"} == {path for _, path in MATRIX}
    # Faust's own /table views served any table row (every tenant's interviews) with no key at all.
    for path in ("/table/", "/table/interviews/", "/router/", "/router/interviews/"):
        status, _, _ = await call(http, "GET", worker.base_url + path)
        assert status == 404, path


async def test_each_route_refuses_missing_wrong_and_other_tenants_keys(
    fresh_group: None, worker: Worker, pending: dict[str, Any], http: aiohttp.ClientSession
) -> None:
    interview_id, run_id = pending["interviewId"], pending["runId"]
    absent_id = f"absent-{uuid.uuid4().hex}"
    acme = {"X-Tenant-ID": "acme", "X-API-Key": TENANTS["acme"]["apiKey"]}
    globex = {"X-Tenant-ID": "globex", "X-API-Key": TENANTS["globex"]["apiKey"]}
    refusals: list[str] = []

    def url(path: str, target: str = interview_id) -> str:
        filled = path.format(interview_id=target, run_id=run_id, event_type="wells_scraped")
        query = f"?interviewId={target}" if "/runs/" in path else ""
        return worker.base_url + filled + query

    def body_for(path: str) -> dict[str, Any] | None:
        return next((b for suffix, b in BODIES.items() if path.endswith(suffix)), None)

    def expect(case: str, got: int, wanted: set[int]) -> None:
        if got not in wanted:
            refusals.append(f"{case}: {got}, expected {sorted(wanted)}")

    for (method, path), access in MATRIX.items():
        name = f"{method} {path}"
        body = body_for(path)
        if access == PUBLIC:
            status, _, _ = await call(http, method, url(path))
            expect(f"{name} without a key", status, {200})
            continue
        send = "HEAD" if method == "GET" and access in (TENANT_STREAM, ADMIN_STREAM) else method

        # No key, a wrong key, an unknown tenant, the admin key as a tenant's: 401, nothing else.
        for case, headers in {
            "no key": {},
            "wrong key": {"X-Tenant-ID": "acme", "X-API-Key": wrong_key()},
            "unknown tenant": {"X-Tenant-ID": "nobody", "X-API-Key": TENANTS["acme"]["apiKey"]},
            "tenant key of another tenant": {"X-Tenant-ID": "acme", "X-API-Key": TENANTS["globex"]["apiKey"]},
        }.items():
            status, answer, _ = await call(http, method, url(path), headers, json=body)
            expect(f"{name} with {case}", status, {401})
            if status == 401:
                assert answer["error"] == "unauthorized" and "X-API-Key" in answer["message"], (name, answer)
        if access in (TENANT, TENANT_STREAM):
            status, _, _ = await call(http, method, url(path), {"X-Tenant-ID": "acme", **ADMIN}, json=body)
            expect(f"{name} with the admin key", status, {401})

        if access in (ADMIN_ONLY, ADMIN_STREAM):
            status, answer, _ = await call(http, send, url(path), acme, json=body)
            expect(f"{name} with a tenant key", status, {403})
            if send != "HEAD" and status == 403:
                assert "admin" in answer["message"], (name, answer)
            status, _, _ = await call(http, send, url(path), ADMIN, json=body)
            expect(f"{name} with the admin key", status, {200})
        elif access == TENANT_OR_ADMIN:
            for who, headers in (("a tenant", acme), ("the admin", ADMIN)):
                status, answer, _ = await call(http, method, url(path), headers)
                expect(f"{name} as {who}", status, {200, 404})  # 404: no such event type yet, not a refusal
        elif "{interview_id}" in path or "/runs/" in path:
            # Another tenant's interview reads exactly like an absent one, on every method.
            status, other, _ = await call(http, method, url(path), globex, json=body)
            absent_status, absent, _ = await call(http, method, url(path, absent_id), acme, json=body)
            expect(f"{name} on another tenant's interview", status, {404})
            expect(f"{name} on an absent interview", absent_status, {404})
            if not same_as_absent(other, absent, interview_id, absent_id):
                refusals.append(f"{name}: other tenant's answer {other} differs from absent {absent}")
            if method == "GET":
                status, _, _ = await call(http, send, url(path), acme)
                expect(f"{name} by its own tenant", status, {200})
    assert not refusals, "\n".join(refusals)

    # Nothing another tenant sent was applied: the interview is as it was.
    status, row, _ = await call(http, "GET", url(IV), acme)
    assert status == 200
    assert (row["state"], row["version"], row["plan"]) == ("PENDING", pending["version"], pending["plan"])


async def test_streams_refuse_other_tenants_tokens_and_admin_streams_refuse_tenant_tokens(
    fresh_group: None, worker: Worker, pending: dict[str, Any], http: aiohttp.ClientSession
) -> None:
    interview_id, run_id = pending["interviewId"], pending["runId"]
    base = worker.base_url
    globex_token, acme_token, admin_token = (
        await stream_token(http, worker, "globex"),
        await stream_token(http, worker, "acme"),
        await stream_token(http, worker, None),
    )
    streams = [
        f"/api/v1/interviews/{interview_id}/events",
        f"/api/v1/workspaces/{interview_id}/stream",
        f"/api/v1/runs/{run_id}/stream?interviewId={interview_id}",
    ]
    for path in streams:
        sep = "&" if "?" in path else "?"
        for token in (globex_token, admin_token):  # another tenant's, and the admin's (names no tenant)
            status, body, _ = await call(http, "GET", f"{base}{path}{sep}token={token}")
            assert status == 404 and body["error"] == "not_found", (path, body)
        for forged in (acme_token[:-2] + "xx", acme_token.split(".")[0], "x.y"):
            status, body, _ = await call(http, "GET", f"{base}{path}{sep}token={forged}")
            assert status == 401 and "stream token" in body["message"], (path, body)
        status, _, headers = await call(http, "HEAD", f"{base}{path}{sep}token={acme_token}")
        assert status == 200 and headers["Content-Type"].startswith("text/event-stream")

    # A stream token opens streams only: not REST, not the admin dashboard.
    status, _, _ = await call(http, "GET", f"{base}/api/v1/interviews/{interview_id}?token={acme_token}")
    assert status == 401
    for token in (acme_token, globex_token):
        status, body, _ = await call(http, "GET", f"{base}/api/v1/admin/dashboard/stream?token={token}")
        assert status == 403 and "admin stream" in body["message"], body
    status, _, _ = await call(http, "HEAD", f"{base}/api/v1/admin/dashboard/stream?token={admin_token}")
    assert status == 200


@dataclass
class SseReader:
    """One SSE stream read in the background: its events, and when it was open."""

    events: list[dict[str, Any]] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
        current: dict[str, str] = {}
        async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=2 * SLOW)) as response:
            assert response.status == 200, await response.text()
            self.connected.set()
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "data" in current:
                        self.events.append({"event": current.get("event"), "data": json.loads(current["data"])})
                    current = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(":")
                    current[key] = value.removeprefix(" ")

    async def wait_for(self, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = SLOW) -> None:
        deadline = time.monotonic() + timeout
        while not any(check(e) for e in self.events):
            assert time.monotonic() < deadline, f"no {what} in {timeout}s; got {self.events}"
            await asyncio.sleep(0.05)


async def test_a_run_stream_opened_with_another_tenants_run_id_tells_none_of_its_events(
    fresh_group: None, worker: Worker, kafka: Kafka, http: aiohttp.ClientSession
) -> None:
    acme, globex = Api(http, worker.base_url, "acme"), Api(http, worker.base_url, "globex")
    status, accepted = await acme.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202
    victim, run_id = accepted["interviewId"], accepted["runId"]
    first_plan = (await acme.wait_state(victim, "PENDING", timeout=SLOW))["plan"]["planId"]
    run_url = f"{worker.base_url}/api/v1/runs/{run_id}/stream"

    # globex listens on acme's run id (it cannot be refused: the run id alone proves nothing) ...
    eavesdropper, owner = SseReader(), SseReader()
    tasks = [
        asyncio.create_task(eavesdropper.run(http, run_url, globex.headers)),
        asyncio.create_task(owner.run(http, f"{run_url}?interviewId={victim}", acme.headers)),
    ]
    try:
        await asyncio.wait_for(eavesdropper.connected.wait(), 30)
        # ... while acme's planner runs again, and acme's own stream sees that run end.
        status, _ = await acme.call("POST", f"/api/v1/interviews/{victim}/plan/revise", json={"instructions": "more"})
        assert status == 202
        await owner.wait_for(
            lambda e: e["event"] == "done" and e["data"]["execution_id"] != first_plan, "revised run's done"
        )
        # Then globex's own interview, on the same run id, over the topics: its events come after
        # every acme row the hub already handed both streams, so they mark the end of what leaked.
        own = f"globex-{uuid.uuid4().hex[:8]}"
        envelope = {
            "eventType": "skill.validation.requested",
            "tenantId": "globex",
            "runId": run_id,
            "interviewId": own,
            "timestamp": "2024-01-15T10:01:00.000Z",
            "payload": {"skills": ["Go"], "jobDescription": "Write services.", "level": "MID"},
        }
        await kafka.produce("skill.validation.requested", json.dumps(envelope).encode(), key=own.encode())
        await eavesdropper.wait_for(lambda e: e["event"] == "done", "globex's own run")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    own_plan = (await globex.wait_until(own, lambda row: row.get("plan") is not None, "planned", SLOW))["plan"][
        "planId"
    ]
    assert {e["data"]["execution_id"] for e in eavesdropper.events} == {own_plan}
    assert {e["data"]["execution_id"] for e in owner.events} >= {first_plan}


# --- two workers: forwarded reads ---------------------------------------------------------------


async def test_forwarded_reads_check_the_tenant_on_the_owner_and_leak_nothing(
    strict: tuple[Workers, Worker, Worker], http: aiohttp.ClientSession
) -> None:
    _, first, second = strict
    await settled(http, first, second)
    entry = Api(http, first.base_url, "acme")
    owners: dict[str, str] = {}
    rows: dict[str, dict[str, Any]] = {}
    while len(set(owners.values())) < 2:  # until each worker owns one of them
        assert len(owners) < 40, owners
        status, accepted = await entry.call(
            "POST", "/api/v1/interviews", json={**COMPLETE_REQUEST, "externalId": f"sec-{uuid.uuid4().hex}"}
        )
        assert status == 202, accepted
        interview_id = accepted["interviewId"]
        rows[interview_id] = await entry.wait_state(interview_id, "PENDING", timeout=SLOW)
        status, _, headers = await call(
            http, "GET", f"{first.base_url}{IV.format(interview_id=interview_id)}", entry.headers
        )
        assert status == 200
        owners[interview_id] = headers["X-Served-By"].rstrip("/")
    assert set(owners.values()) == {first.base_url, second.base_url}, owners
    # One interview each worker does not own, asked of that worker.
    cases = [
        (interview_id, non_owner)
        for interview_id, owner in owners.items()
        for non_owner in (first, second)
        if owner != non_owner.base_url
    ]
    assert {w.base_url for _, w in cases} == {first.base_url, second.base_url}, owners
    globex = {"X-Tenant-ID": "globex", "X-API-Key": TENANTS["globex"]["apiKey"]}
    for interview_id, non_owner in cases:
        owner = owners[interview_id]
        for suffix in ("", "/history", "/notifications"):
            path = IV.format(interview_id=interview_id) + suffix
            status, body, headers = await call(http, "GET", non_owner.base_url + path, globex)
            assert status == 404 and body == {"error": "not_found", "message": f"interview {interview_id} not found"}
            assert headers["X-Served-By"].rstrip("/") == owner  # the owner checked, and said no
            # A request with no valid key is refused where it arrives, never forwarded.
            status, body, headers = await call(http, "GET", non_owner.base_url + path, {"X-Tenant-ID": "acme"})
            assert status == 401 and "X-Served-By" not in headers, (path, headers)
        # A command with another tenant's key, forwarded, changes nothing.
        status, _, _ = await call(
            http, "POST", f"{non_owner.base_url}{IV.format(interview_id=interview_id)}/plan/approve", globex, json={}
        )
        assert status == 404
        # Streams opened on the non-owner ask the owner for the row, then check the tenant.
        for path in (f"{IV}/events", "/api/v1/workspaces/{interview_id}/stream"):
            status, _, _ = await call(http, "GET", non_owner.base_url + path.format(interview_id=interview_id), globex)
            assert status == 404
        # A body over the limit, sent to the non-owner: the same JSON 413 as the owner gives.
        status, body, _ = await call(
            http,
            "POST",
            f"{non_owner.base_url}{IV.format(interview_id=interview_id)}/plan/approve",
            {**entry.headers, "Content-Type": "application/json"},
            data=b'{"comment":"' + b"x" * MAX_BODY + b'"}',
        )
        assert status == 413 and body["error"] == "payload_too_large" and str(MAX_BODY) in body["message"], body
    for interview_id, before in rows.items():
        status, after, _ = await call(
            http, "GET", f"{first.base_url}{IV.format(interview_id=interview_id)}", entry.headers
        )
        assert status == 200 and after == before  # nothing another tenant sent was applied


# --- webhooks -----------------------------------------------------------------------------------


async def test_delivered_webhooks_verify_on_the_receivers_side_and_a_replay_later_does_not(
    fresh_group: None, worker: Worker, webhook_receiver: WebhookReceiver, http: aiohttp.ClientSession
) -> None:
    api = Api(http, worker.base_url, "acme")
    status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
    assert status == 202, accepted
    # Checked as it arrives (the receiver is polled every 0.1 s), as a receiver would.
    hook = await webhook_receiver.wait_for(accepted["interviewId"], "interview.plan_generated", timeout=SLOW)
    secret = TENANTS["acme"]["webhookSecret"]
    received_at = time.time()
    sent_at = verify_webhook(secret, hook.headers, hook.body, received_at)
    assert abs(received_at - sent_at) < 300
    lowercased = {k.lower(): v for k, v in hook.headers.items()}  # as some frameworks hand headers over
    assert verify_webhook(secret, lowercased, hook.body, received_at) == sent_at

    no_signature = {k: v for k, v in hook.headers.items() if k != "X-Webhook-Signature"}
    refusals = {  # case: (secret, headers, body, now, what the refusal says)
        "tampered body": (secret, hook.headers, hook.body.replace(b"PENDING", b"APPROVED"), received_at, "not match"),
        "another tenant's secret": (
            TENANTS["globex"]["webhookSecret"],
            hook.headers,
            hook.body,
            received_at,
            "not match",
        ),
        "the capture replayed an hour later": (secret, hook.headers, hook.body, sent_at + 3600, "outside"),
        "a fresh timestamp on the captured signature": (
            secret,
            {**hook.headers, "X-Webhook-Timestamp": str(int(received_at) + 3600)},
            hook.body,
            received_at + 3600,
            "not match",
        ),
        "no signature": (secret, no_signature, hook.body, received_at, "missing X-Webhook-Signature"),
    }
    for case, (key, headers, body, now, says) in refusals.items():
        with pytest.raises(WebhookRejected, match=says):
            verify_webhook(key, headers, body, now)
        assert body == hook.body or case == "tampered body"


async def test_callback_urls_to_private_addresses_are_refused_at_submit_and_at_send(
    strict: tuple[Workers, Worker, Worker],
    webhook_receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
) -> None:
    pool, first, _ = strict
    kafka = Kafka(pool.bootstrap)
    api = Api(http, first.base_url, "acme")
    api.tenant_id, api.headers = "initech", STRICT_HEADERS
    port = webhook_receiver.url.rsplit(":", 1)[1].split("/", 1)[0]
    loopback, by_name = f"http://127.0.0.1:{port}/hook", f"http://localhost:{port}/hook?token=cb-{uuid.uuid4().hex}"
    remember(by_name.split("token=")[1])

    # Submitting a literal refused address over HTTP is a 400 naming callbackUrl and the address.
    for address in (loopback, "http://169.254.169.254/latest/meta-data/", "http://[::ffff:10.0.0.1]/hook"):
        status, body = await api.call("POST", "/api/v1/interviews", json={**COMPLETE_REQUEST, "callbackUrl": address})
        assert status == 400 and body["fields"][0]["field"] == "callbackUrl", body
        assert "refused address" in body["message"], body

    # A name is resolved when sending: localhost is accepted now and refused at send time.
    status, accepted = await api.call("POST", "/api/v1/interviews", json={**COMPLETE_REQUEST, "callbackUrl": by_name})
    assert status == 202, accepted
    named = accepted["interviewId"]
    # The literal address over the topics, where nothing checks it before sending.
    literal = f"literal-{uuid.uuid4().hex[:8]}"
    envelope = {
        "eventType": "skill.validation.requested",
        "tenantId": "initech",
        "runId": "run_1700000000_cafebabe",
        "interviewId": literal,
        "timestamp": "2024-01-15T10:01:00.000Z",
        "payload": {"skills": ["Go"], "jobDescription": "Write services.", "level": "MID", "callbackUrl": loopback},
    }
    await kafka.produce("skill.validation.requested", json.dumps(envelope).encode(), key=literal.encode())

    expected = {named: "localhost resolves to a refused address", literal: "127.0.0.1 is a refused address (loopback)"}
    for interview_id, reason in expected.items():
        await api.wait_state(interview_id, "PENDING", timeout=SLOW)  # the workflow goes on without its webhook
        letter = await dead_letter_for(http, first, interview_id)
        assert letter["reason"] == "webhook_failed" and reason in letter["error"], letter
        assert "token=" not in letter["error"]  # the URL is named without its query
        assert webhook_receiver.for_interview(interview_id) == []


async def dead_letter_for(http: aiohttp.ClientSession, worker: Worker, interview_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + SLOW
    url = f"{worker.base_url}/api/v1/admin/deadletters?limit=500&reason=webhook_failed"
    while True:
        status, body, _ = await call(http, "GET", url, ADMIN)
        assert status == 200, body
        # A webhook's dead letter is keyed by its interview (the outbox message carries no envelope);
        # the other group's "tenant not configured" one is not the strict workers' refusal.
        mine = [
            letter for letter in body["deadLetters"] if letter["key"] == interview_id and "refused" in letter["error"]
        ]
        if mine:
            return mine[0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"no webhook dead letter for {interview_id}"
        await asyncio.sleep(0.5)


# --- size limits --------------------------------------------------------------------------------


async def raw_request(worker: Worker, request: bytes) -> bytes:
    """Send ``request`` as is; the answer's status line and headers (empty if the worker hung up)."""
    host, port = worker.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 30)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_request_body_and_header_size_limits(
    fresh_group: None, worker: Worker, http: aiohttp.ClientSession
) -> None:
    api = Api(http, worker.base_url, "acme")
    url = f"{worker.base_url}/api/v1/interviews"
    headers = {**api.headers, "Content-Type": "application/json"}
    over = json.dumps({**COMPLETE_REQUEST, "jobDescription": "x" * MAX_BODY}).encode()

    # Over 1 MiB, with Content-Length and chunked without one: a JSON 413 naming the limit.
    status, body, _ = await call(http, "POST", url, headers, data=over)
    assert status == 413 and body == {
        "error": "payload_too_large",
        "message": f"body over {MAX_BODY} bytes",
        "limitBytes": MAX_BODY,
    }

    async def chunks(payload: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]
            await asyncio.sleep(pause)

    status, body, _ = await call(http, "POST", url, headers, data=chunks(over))
    assert status == 413 and body["limitBytes"] == MAX_BODY
    # A body under the limit that arrives in pieces is read whole, not cut at the first piece.
    under = json.dumps({**COMPLETE_REQUEST, "jobDescription": "y" * 90_000}).encode()
    status, body, _ = await call(http, "POST", url, headers, data=chunks(under, pause=0.05))
    assert status == 202, body

    # Headers: one of 64 KiB, or more than 128 of them, and aiohttp answers 400 before any view runs.
    host = worker.base_url.removeprefix("http://")
    big = await raw_request(
        worker, f"GET /health/live HTTP/1.1\r\nHost: {host}\r\nX-Big: {'a' * 65536}\r\n\r\n".encode()
    )
    many = "".join(f"X-H{n}: v\r\n" for n in range(200))
    lots = await raw_request(worker, f"GET /health/live HTTP/1.1\r\nHost: {host}\r\n{many}\r\n".encode())
    long_line = await raw_request(worker, f"GET /health/live?{'q' * 9000} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    for answer in (big, lots, long_line):
        status_line = answer.split(b"\r\n", 1)[0].split(b" ")
        assert status_line[0].startswith(b"HTTP/") and status_line[1] in {b"400", b"431"}, answer[:200]
    # Just under the per-header limit is served; and the worker keeps serving after all of it.
    fits = await raw_request(
        worker,
        f"GET /health/live HTTP/1.1\r\nHost: {host}\r\nX-Fits: {'a' * 8000}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert fits.startswith(b"HTTP/1.1 200"), fits[:200]
    status, _, _ = await call(http, "GET", f"{worker.base_url}/health/live")
    assert status == 200


# --- logs: last, once everything above has run -------------------------------------------------


async def test_no_key_secret_or_token_reaches_a_worker_log(
    fresh_group: None, worker: Worker, pending: dict[str, Any], http: aiohttp.ClientSession
) -> None:
    acme = Api(http, worker.base_url, "acme")
    # An approval gives the candidate an access token; a stream token, wrong keys and admin calls too.
    status, _ = await acme.call("POST", f"/api/v1/interviews/{pending['interviewId']}/plan/approve", json={})
    assert status == 202
    approved = await acme.wait_state(pending["interviewId"], "APPROVED", timeout=SLOW)
    remember(approved["accessLink"]["token"])
    token = await stream_token(http, worker, "acme")
    for headers in ({"X-Tenant-ID": "acme", "X-API-Key": wrong_key()}, {"X-API-Key": wrong_key()}):
        await call(http, "GET", f"{worker.base_url}/api/v1/interviews/{pending['interviewId']}", headers)
        await call(http, "GET", f"{worker.base_url}/api/v1/admin/deadletters", headers)
    await call(http, "GET", f"{worker.base_url}/api/v1/interviews/{pending['interviewId']}/events?token={token}x")
    await call(http, "GET", f"{worker.base_url}/api/v1/admin/kafka/status", ADMIN)
    # Requests aiohttp cannot parse: an over-long key header, an over-long line after a token.
    host = worker.base_url.removeprefix("http://")
    padding = "p" * 9000
    key = TENANTS["acme"]["apiKey"]
    await raw_request(worker, f"GET / HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}{padding}\r\n\r\n".encode())
    await raw_request(worker, f"GET /?k={key}&{padding} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())

    workers = {w.name: w for w in [worker, *SEEN.workers]}
    leaks = {(name, secret) for name, w in workers.items() for secret in SEEN.secrets if secret in w.log()}
    assert len(SEEN.secrets) > 10 and all(w.log() for w in workers.values())
    assert not leaks, f"secrets in worker logs: {sorted(leaks)}"
