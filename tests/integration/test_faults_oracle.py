"""The fault suite's oracle counts what it is shown: a clean run is (0, 0) and every kind of loss or
duplicate moves the count. No broker needed; it runs with the fault cases (`make test-faults`)."""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson
import pytest
from conftest import TENANTS
from faults_support import Delivery, FaultReceiver, Seed, Tables, judge, make_seeds

from domain.access import AccessLinkSettings, issue_access_link
from domain.webhooks import signed_headers
from models.base import utc_timestamp

pytestmark = pytest.mark.faults


def _delivery(seed: Seed, event: str, data: dict[str, Any], status: int = 204, delivery_id: str = "") -> Delivery:
    delivery_id = delivery_id or f"{seed.interview_id}-{event}"
    body = orjson.dumps({"event": event, "deliveryId": delivery_id, "interviewId": seed.interview_id, "data": data})
    secret = TENANTS[seed.tenant_id]["webhookSecret"]
    return Delivery(headers=signed_headers(secret, delivery_id, int(time.time()), body), body=body, status=status)


def _observed(seeds: list[Seed]) -> tuple[Tables, FaultReceiver]:
    """What a worker that lost and duplicated nothing shows for ``seeds``."""
    tables: Tables = {}
    receiver = FaultReceiver()
    for seed in seeds:
        now = utc_timestamp()
        plan_id = f"plan-{seed.interview_id}"
        history = [
            {"from": f, "to": t, "trigger": trigger, "eventId": seed.event_id, "actor": "x", "at": now, "note": None}
            for f, t, trigger in seed.route.history
        ]
        history[-1]["eventId"] = f"plan-generated-{seed.interview_id}"
        row: dict[str, Any] = {
            "state": seed.route.state,
            "plan": {"planId": plan_id, "competencies": [{"name": "React"}]},
            "supersededPlanIds": [],
        }
        data: dict[str, Any] = {"planId": plan_id}
        if seed.tenant_id == "globex":
            link = issue_access_link(
                AccessLinkSettings(),
                interview_id=seed.interview_id,
                tenant_id=seed.tenant_id,
                plan_id=plan_id,
                ttl_days=2,
                now=now,
            )
            row["accessLink"] = link.to_wire()
            data["accessLink"] = row["accessLink"]
        tables[seed.interview_id] = {
            "row": row,
            "history": {
                "state": seed.route.state,
                "version": len(history),
                "history": history,
                "rejectedTriggers": [],
            },
        }
        receiver.received += [_delivery(seed, event, data) for event in seed.route.webhooks]
    return tables, receiver


def _counts(seeds: list[Seed], tables: Tables, receiver: FaultReceiver) -> tuple[int, int]:
    verdict = judge(seeds, tables, receiver)
    return verdict.lost, verdict.duplicated


def test_the_oracle_counts_losses_and_duplicates() -> None:
    seeds = make_seeds("oracle", 2, "http://127.0.0.1:1/hook")  # one acme, one globex
    acme, globex = seeds
    tables, receiver = _observed(seeds)
    clean = judge(seeds, tables, receiver)
    assert (clean.lost, clean.duplicated, clean.problems) == (0, 0, [])
    assert (clean.transitions, clean.webhooks) == (8, 3)

    twice = copy.deepcopy(tables)  # a transition applied twice
    twice[acme.interview_id]["history"]["history"].insert(2, twice[acme.interview_id]["history"]["history"][1])
    assert _counts(seeds, twice, receiver) == (0, 1)

    refused = copy.deepcopy(tables)  # a redelivery the row did not recognise, refused
    refused[globex.interview_id]["history"]["rejectedTriggers"].append({"trigger": "planner_started"})
    assert _counts(seeds, refused, receiver) == (0, 1)

    missing = copy.deepcopy(tables)  # one transition lost, and one whole interview
    del missing[acme.interview_id]["history"]["history"][1]
    assert _counts(seeds, missing, receiver) == (1, 0)
    del missing[globex.interview_id]
    assert _counts(seeds, missing, receiver)[0] == 1 + 4

    refused_only = FaultReceiver(received=[*receiver.received])  # approved only ever answered 503
    refused_only.received[-1] = _delivery(globex, "interview.approved", {}, status=503)
    assert _counts(seeds, tables, refused_only) == (1, 0)

    redelivered = FaultReceiver(received=[*receiver.received, receiver.received[0]])  # same deliveryId: fine
    assert _counts(seeds, tables, redelivered) == (0, 0)
    renumbered = FaultReceiver(
        received=[*receiver.received, _delivery(acme, "interview.plan_generated", {}, delivery_id="another")]
    )
    assert _counts(seeds, tables, renumbered) == (0, 1)
