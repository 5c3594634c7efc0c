"""entity-extraction-worker on the real broker: any key, a table per event_type, bad ones dead-lettered."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from conftest import ADMIN_KEY, Api, Kafka, Worker


async def test_ingestion_events_land_in_the_table_by_event_type(
    worker: Worker, kafka: Kafka, api_for: Callable[[str], Api]
) -> None:
    event_type = f"wells_scraped_{uuid.uuid4().hex[:6]}"
    messages: list[tuple[bytes | None, dict[str, Any]]] = [
        (event_type.encode(), {"event_type": event_type, "data": {"id": "42-329-40003", "operator": "Devon"}}),
        (None, {"event_type": event_type, "data": {"id": "42-329-40004", "operator": "Oxy"}}),  # no key
        (b"some-other-key", {"event_type": event_type, "data": {"id": "42-329-40003", "operator": "Devon Energy"}}),
        (b"k", {"event_type": event_type, "data": {"note": "no id"}}),
    ]
    for key, value in messages:
        await kafka.produce(
            "entity-extraction-worker", json.dumps(value).encode(), key=key, headers=[("source", b"ingestion")]
        )
    bad_key = f"bad-{uuid.uuid4().hex[:6]}".encode()
    await kafka.produce("entity-extraction-worker", b'{"data": {}}', key=bad_key)

    api = api_for("acme")
    path = f"/api/v1/entities/{event_type}"
    body = await api.wait_until_ok(path, lambda b: b["count"] == 4)
    assert body["eventType"] == event_type
    assert sorted(body["entityIds"]) == ["42-329-40003", "42-329-40004"]
    assert [r["data"].get("operator") for r in body["recent"]].count("Devon Energy") == 1
    status, one = await api.call("GET", f"{path}?id=42-329-40003")
    assert status == 200
    assert one["entity"]["data"]["operator"] == "Devon Energy"  # the latest version of the entity
    status, _ = await api.call("GET", f"{path}?id=nope")
    assert status == 404
    status, _ = await api.call("GET", "/api/v1/entities/never-seen-type")
    assert status == 404
    status, by_admin = await api.call("GET", path, headers={"X-API-Key": ADMIN_KEY, "X-Tenant-ID": ""})
    assert status == 200 and by_admin["count"] == 4
    status, _ = await api.call("GET", path, headers={"X-API-Key": "wrong-key-123"})
    assert status == 401

    records = await kafka.collect("events.deadletter", lambda rs: any(r.key == bad_key for r in rs))
    [letter] = [json.loads(r.value) for r in records if r.key == bad_key]
    assert letter["reason"] == "schema_violation"
    assert letter["sourceTopic"] == "entity-extraction-worker"
