"""What every fault case shares: seed events, a producer that survives outages, a webhook receiver
of its own, the oracle, and the summary table printed at the end of the session (conftest.py).

The oracle is computed from the inputs alone: each seed's tenant fixes the route its interview must
take (acme waits for a recruiter in PENDING; globex auto-approves to APPROVED), hence its exact
history, its final state, one plan and the webhooks that must have been delivered, in order.
Lost and duplicated counts are counted from what the tables and the receiver show, never assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaProducer
from conftest import SEED_SKILL_VALIDATION, TENANTS, Workers, assert_signed, free_port

from domain.access import AccessLinkSettings, verify_access_token
from local_kafka.admin import start_group_at_end
from models.topics import Topic

SEED_TOPIC = "skill.validation.requested"
ALL_TENANTS = ("acme", "globex")
Transition = tuple[str | None, str, str]  # from, to, trigger

_START: list[Transition] = [
    (None, "RECEIVED", "created"),
    ("RECEIVED", "VALIDATING_SKILLS", "intake_passed"),
    ("VALIDATING_SKILLS", "GENERATING_PLAN", "planner_started"),
]


@dataclass(frozen=True)
class Route:
    """Where a seed of this tenant must end, and what the tenant must have been told on the way."""

    state: str
    history: list[Transition]
    webhooks: list[str]


ROUTES: dict[str, Route] = {
    "acme": Route(
        state="PENDING",
        history=[*_START, ("GENERATING_PLAN", "PENDING", "plan_generated")],
        webhooks=["interview.plan_generated"],
    ),
    "globex": Route(  # autoApprovePlans: the access link goes out right after the plan
        state="APPROVED",
        history=[*_START, ("GENERATING_PLAN", "APPROVED", "plan_auto_approved")],
        webhooks=["interview.plan_generated", "interview.approved"],
    ),
}


@dataclass(frozen=True)
class Seed:
    """One interview, created by one skill.validation.requested event (the seed's example)."""

    interview_id: str
    tenant_id: str
    event_id: str
    value: bytes

    @property
    def route(self) -> Route:
        return ROUTES[self.tenant_id]


def make_seeds(case: str, count: int, callback_url: str, tenants: tuple[str, ...] = ALL_TENANTS) -> list[Seed]:
    seeds = []
    for index in range(count):
        tenant_id = tenants[index % len(tenants)]
        interview_id = f"{case}-{index}-{uuid.uuid4().hex[:8]}"
        event = json.loads(SEED_SKILL_VALIDATION)
        event.update(tenantId=tenant_id, interviewId=interview_id, eventId=f"ev-{interview_id}")
        event["payload"]["callbackUrl"] = callback_url
        seeds.append(Seed(interview_id, tenant_id, event["eventId"], json.dumps(event).encode()))
    return seeds


async def fresh_pool(bootstrap: str, tenants_file: Path, workdir: Path) -> Workers:
    """Workers in a consumer group of their own that starts at the end of every topic."""
    workdir.mkdir(parents=True, exist_ok=True)
    pool = Workers(bootstrap, tenants_file, workdir)
    # The case then sees only its own events, and a worker killed before its first commit still
    # resumes from a committed offset.
    await start_group_at_end(bootstrap, pool.group_id, [topic.value for topic in Topic])
    return pool


class Streamer:
    """Offers seeds at a steady rate, in order. A send the broker did not confirm is sent again with
    the same bytes (so the same eventId) until it is confirmed: the oracle then proves idempotency."""

    def __init__(self, bootstrap: str, seeds: list[Seed], per_second: float) -> None:
        self.bootstrap = bootstrap
        self.seeds = seeds
        self.per_second = per_second
        self.confirmed = 0
        self.resent = 0
        self._producer: AIOKafkaProducer | None = None

    async def _connected(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=5000)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def send(self, seed: Seed, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                producer = await self._connected()
                await asyncio.wait_for(
                    producer.send_and_wait(SEED_TOPIC, seed.value, key=seed.interview_id.encode()), 10.0
                )
                self.confirmed += 1
                return
            except Exception:  # unconfirmed (broker away, timed out): reconnect and send the same bytes
                if time.monotonic() > deadline:
                    raise
                self.resent += 1
                await self._reset()
                await asyncio.sleep(0.5)

    async def run(self) -> None:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected in an outage
        try:
            for seed in self.seeds:
                await self.send(seed)
                await asyncio.sleep(1 / self.per_second)
        finally:
            await self._reset()


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int
    received_at: float = field(default_factory=time.time)

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class FaultReceiver:
    """A case's own ATS stand-in: records every POST with the status it answered; ``failing`` -> 503."""

    url: str = ""
    received: list[Delivery] = field(default_factory=list)
    failing: bool = False

    def for_interview(self, interview_id: str) -> list[Delivery]:
        return [d for d in self.received if d.json.get("interviewId") == interview_id]

    @property
    def refused(self) -> int:
        return sum(not d.ok for d in self.received)

    def delivered_all(self, seeds: list[Seed]) -> bool:
        by_interview: dict[str, set[str]] = {}
        for delivery in self.received:
            if delivery.ok:
                by_interview.setdefault(delivery.json["interviewId"], set()).add(delivery.json["event"])
        return all(set(s.route.webhooks) <= by_interview.get(s.interview_id, set()) for s in seeds)

    async def wait_delivered(self, seeds: list[Seed], timeout: float) -> None:
        """Delivery is asynchronous and retried: wait (bounded) until every expected webhook got a 2xx."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.delivered_all(seeds):
            await asyncio.sleep(1.0)


@contextlib.asynccontextmanager
async def fault_receiver() -> AsyncIterator[FaultReceiver]:
    receiver = FaultReceiver()

    async def handle(request: web.Request) -> web.Response:
        status = 503 if receiver.failing else 204
        receiver.received.append(Delivery(headers=dict(request.headers), body=await request.read(), status=status))
        return web.Response(status=status)

    application = web.Application()
    application.router.add_post("/hook", handle)
    runner = web.AppRunner(application)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


# --- reading the tables back over HTTP -------------------------------------------------------------

Tables = dict[str, dict[str, Any]]  # interviewId -> {"row": GET body, "history": GET .../history body}


async def _read_one(http: aiohttp.ClientSession, base_url: str, seed: Seed, full: bool) -> dict[str, Any] | None:
    headers = {"X-Tenant-ID": seed.tenant_id, "X-API-Key": TENANTS[seed.tenant_id]["apiKey"]}
    path = f"{base_url}/api/v1/interviews/{seed.interview_id}"
    found: dict[str, Any] = {}
    for name, url in [("history", f"{path}/history"), *([("row", path)] if full else [])]:
        async with http.get(url, headers=headers) as response:
            if response.status != 200:
                return None
            found[name] = await response.json()
    return found


async def read_tables(base_url: str, seeds: list[Seed], *, full: bool = True) -> Tables:
    """Every seed's row and history as any reader sees them (absent rows are left out)."""
    found: Tables = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for start in range(0, len(seeds), 20):
            chunk = seeds[start : start + 20]
            results = await asyncio.gather(*(_read_one(http, base_url, s, full) for s in chunk))
            found.update({s.interview_id: r for s, r in zip(chunk, results, strict=True) if r is not None})
    return found


async def wait_final(base_url: str, seeds: list[Seed], timeout: float) -> Tables:
    """Wait (bounded) until every interview is in its final state; then the full rows, whatever they are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = await read_tables(base_url, seeds, full=False)
        except (aiohttp.ClientError, TimeoutError):
            found = {}
        if all(found.get(s.interview_id, {}).get("history", {}).get("state") == s.route.state for s in seeds):
            break
        await asyncio.sleep(1.0)
    return await read_tables(base_url, seeds)


# --- the oracle ------------------------------------------------------------------------------------


@dataclass
class Verdict:
    transitions: int = 0  # expected transitions checked
    webhooks: int = 0  # expected webhooks checked
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)


def _transitions(history: dict[str, Any]) -> list[Transition]:
    return [(h["from"], h["to"], h["trigger"]) for h in history["history"]]


def _check_row(seed: Seed, found: dict[str, Any], verdict: Verdict) -> None:
    """Transitions lost or applied twice, and everything else the row must say."""
    route, history, row = seed.route, found["history"], found["row"]
    observed = Counter(_transitions(history))
    for transition in route.history:
        count = observed.pop(transition, 0)
        verdict.lost += count == 0
        verdict.duplicated += max(count - 1, 0)
    verdict.duplicated += sum(observed.values())  # transitions the route never takes
    # A redelivery the row failed to recognise would be refused and recorded here: applied twice.
    verdict.duplicated += len(history["rejectedTriggers"])
    problems = verdict.problems
    name = seed.interview_id
    if _transitions(history) != route.history:
        problems.append(f"{name}: history {_transitions(history)}")
    if [h["eventId"] for h in history["history"][:3]] != [seed.event_id] * 3:
        problems.append(f"{name}: history not made by its seed event {seed.event_id}")
    if history["state"] != route.state or row["state"] != route.state or history["version"] != len(route.history):
        problems.append(f"{name}: state {row['state']}/{history['state']} version {history['version']}")
    plan = row.get("plan") or {}
    if not plan.get("planId") or not plan.get("competencies") or row.get("supersededPlanIds"):
        problems.append(f"{name}: not exactly one current plan: {plan.get('planId')} {row.get('supersededPlanIds')}")
    if seed.tenant_id == "globex":
        link = row.get("accessLink") or {}
        try:
            claims = verify_access_token(link.get("token", ""), secret=AccessLinkSettings.secret, now=datetime.now(UTC))
        except ValueError as exc:
            problems.append(f"{name}: access link {exc}")
        else:
            if claims.plan_id != plan.get("planId") or claims.interview_id != name:
                problems.append(f"{name}: access link for {claims.plan_id}, plan is {plan.get('planId')}")


def _check_webhooks(seed: Seed, row: dict[str, Any] | None, deliveries: list[Delivery], verdict: Verdict) -> None:
    """Each expected webhook delivered (2xx) at least once, one deliveryId per event, in order."""
    name = seed.interview_id
    expected = seed.route.webhooks
    by_event: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_event.setdefault(delivery.json["event"], []).append(delivery)
    for event in expected:
        attempts = by_event.pop(event, [])
        delivered = [d for d in attempts if d.ok]
        verdict.lost += not delivered
        verdict.duplicated += max(len({d.json["deliveryId"] for d in attempts}) - 1, 0)
        for delivery in delivered:
            assert_signed(delivery, seed.tenant_id)
        plan_id = (row or {}).get("plan", {}).get("planId")
        if delivered and plan_id and delivered[0].json["data"]["planId"] != plan_id:
            named = delivered[0].json["data"]["planId"]
            verdict.problems.append(f"{name}: {event} names plan {named}, row has {plan_id}")
    verdict.duplicated += sum(len({d.json["deliveryId"] for d in a}) for a in by_event.values())  # unexpected
    first_ok: list[str] = []
    for delivery in deliveries:
        if delivery.ok and delivery.json["event"] not in first_ok:
            first_ok.append(delivery.json["event"])
    if first_ok != expected:
        verdict.problems.append(f"{name}: webhooks delivered in order {first_ok}, expected {expected}")
    approved = next((d for d in deliveries if d.ok and d.json["event"] == "interview.approved"), None)
    if row is not None and approved is not None and approved.json["data"]["accessLink"] != row.get("accessLink"):
        sent, shown = approved.json["data"]["accessLink"]["expiresAt"], (row.get("accessLink") or {}).get("expiresAt")
        verdict.problems.append(f"{name}: interview.approved sent a link expiring {sent}, the row has {shown}")


def judge(seeds: list[Seed], tables: Tables, receiver: FaultReceiver) -> Verdict:
    """Count lost and duplicated transitions and webhooks against the oracle, and list any other problem."""
    verdict = Verdict()
    for seed in seeds:
        verdict.transitions += len(seed.route.history)
        verdict.webhooks += len(seed.route.webhooks)
        found = tables.get(seed.interview_id)
        if found is None:
            verdict.lost += len(seed.route.history)
            verdict.problems.append(f"{seed.interview_id}: no row")
        else:
            _check_row(seed, found, verdict)
        _check_webhooks(seed, found and found["row"], receiver.for_interview(seed.interview_id), verdict)
    return verdict


class Clock:
    """Prints where a case is, seconds since it began (the suite runs with -s): the wall time per step."""

    def __init__(self, case: str) -> None:
        self.case = case
        self.began = time.monotonic()

    def __call__(self, step: str) -> None:
        print(f"[{self.case} +{time.monotonic() - self.began:5.1f}s] {step}", flush=True)


# --- the summary table -----------------------------------------------------------------------------

SUMMARY: list[tuple[str, str, int, int, int]] = []  # case, faults injected, events, lost, duplicated


def record(case: str, faults: str, seeds: list[Seed], verdict: Verdict) -> None:
    """Add the case to the summary table, then fail it on anything lost, duplicated or wrong."""
    SUMMARY.append((case, faults, len(seeds), verdict.lost, verdict.duplicated))
    checked = f"{verdict.transitions} transitions, {verdict.webhooks} webhooks"
    assert (verdict.lost, verdict.duplicated) == (0, 0), f"{case}: {checked}; {verdict.problems[:10]}"
    assert not verdict.problems, f"{case}: {len(verdict.problems)} problems: {verdict.problems[:10]}"


def summary_lines() -> list[str]:
    header = ("case", "faults injected", "events", "lost", "duplicated")
    table = [header, *[tuple(str(c) for c in row) for row in SUMMARY]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
