"""A record the broker refuses stops the worker before it commits the input that sent it.

On a broker of its own, ``plan.generated`` is created first with a 600-byte message limit, so the
worker's plan is refused (MSG_SIZE_TOO_LARGE). The producer's flush then raises
(app/librdkafka_producer.py), Faust's commit does not happen and the worker stops: the input's
offset stays uncommitted. With the limit lifted, a new worker of the same group reads the input
again, sends the same plan and the interview reaches PENDING: nothing lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from conftest import COMPLETE_REQUEST, Api, Workers

from local_kafka import broker as local_broker
from local_kafka.admin import committed_offsets, ensure_topics
from models.topics import Topic

pytestmark = pytest.mark.faults

PARTITIONS = 3  # the workers' TOPIC_PARTITIONS


@pytest.fixture
def own_bootstrap(tmp_path: Path) -> Iterator[str]:
    """A broker of this case's own: the shared ones' plan.generated must keep its usual limit."""
    with local_broker.throwaway(tmp_path / "kafka") as broker:
        yield broker.bootstrap


async def test_a_refused_record_stops_the_worker_before_the_commit_and_a_restart_sends_it(
    own_bootstrap: str, tenants_file: Path, tmp_path: Path
) -> None:
    await ensure_topics(own_bootstrap, [Topic.PLAN_GENERATED], PARTITIONS, {"max.message.bytes": "600"})
    (tmp_path / "workers").mkdir()
    pool = Workers(own_bootstrap, tenants_file, tmp_path / "workers")
    try:
        refused = await pool.start("refused")
        async with aiohttp.ClientSession() as http:
            status, accepted = await Api(http, refused.base_url, "acme").call(
                "POST", "/api/v1/interviews", json=COMPLETE_REQUEST
            )
            assert status == 202, accepted
            interview_id = accepted["interviewId"]

            deadline = time.monotonic() + 60
            while refused.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert refused.process.returncode not in (None, 0), refused.log()[-3000:]
            log = refused.log()
            assert "records not delivered" in log and "MSG_SIZE_TOO_LARGE" in log, log[-3000:]
            # The plan's input was never committed: the next worker of the group reads it again.
            inputs = [TopicPartition(Topic.SKILL_VALIDATION_REQUESTED, partition) for partition in range(PARTITIONS)]
            assert await committed_offsets(own_bootstrap, pool.group_id, inputs) == {}

            admin = AIOKafkaAdminClient(bootstrap_servers=own_bootstrap)
            await admin.start()
            try:
                lifted = ConfigResource(
                    ConfigResourceType.TOPIC, Topic.PLAN_GENERATED, {"max.message.bytes": "1048588"}
                )
                await admin.alter_configs([lifted])
            finally:
                await admin.close()
            after = await pool.start("after")
            api = Api(http, after.base_url, "acme")
            await api.wait_state(interview_id, "PENDING", timeout=60)
            status, history = await api.call("GET", f"/api/v1/interviews/{interview_id}/history")
            assert status == 200, history
            assert [entry["to"] for entry in history["history"]][-2:] == ["GENERATING_PLAN", "PENDING"]
    finally:
        pool.stop_all()
