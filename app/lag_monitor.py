"""The Kafka side of consumer lag: poll the broker every LAG_POLL_SECONDS and keep the latest report.

Each poll reads, with clients of its own (an admin client, and a consumer without a group for the log
ends): every partition of the workflow topics that exist, every consumer group's committed offsets and
the groups' membership, and hands them to :class:`domain.lag.LagTracker`. Reported are the groups that
committed on at least one workflow topic, plus this app's own group even before its first commit.

The poll runs as a Faust timer, so it starts and stops with the worker; it never raises (a broker that
can not be reached makes every group ERR until the next poll succeeds). ``latest_status()`` is the last
report, for the HTTP view, a dashboard or metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from mode import Service

from app.main import app
from app.settings import settings
from domain.lag import GroupObservation, LagReport, LagTracker, PartitionKey
from models.topics import WORKFLOW_TOPICS

log = logging.getLogger(__name__)

LAG_POLL_SECONDS = float(os.environ.get("LAG_POLL_SECONDS", "5"))
LAG_WINDOW_SAMPLES = int(os.environ.get("LAG_WINDOW_SAMPLES", "10"))
LOOKUP_TABLE_POINTS = 60  # (log end, time) points per partition for the lag in seconds
REQUEST_TIMEOUT_MS = 10_000
# Group states (DescribeGroups) in which nobody consumes.
GONE_STATES = {"Empty", "Dead"}


class LagMonitor:
    def __init__(
        self, bootstrap: str, own_group: str, client_id: str, window_samples: int, poll_seconds: float
    ) -> None:
        self.bootstrap = [host.strip() for host in bootstrap.split(",") if host.strip()]
        self.own_group = own_group
        self.client_id = f"{client_id}-lag-monitor"
        self.tracker = LagTracker(window_samples, LOOKUP_TABLE_POINTS, poll_seconds)
        self._admin: Any = None
        self._consumer: Any = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._body: tuple[LagReport, bytes] | None = None

    def latest(self) -> LagReport:
        return self.tracker.report

    def latest_body(self) -> bytes:
        """The latest report as JSON bytes, encoded once per poll rather than once per request.

        A report covers every group times every workflow partition (hundreds of rows); turning it into
        JSON on every request cost far more than serving it.
        """
        report = self.tracker.report
        if self._body is None or self._body[0] is not report:
            self._body = (report, orjson.dumps(report.to_wire(exclude_none=False)))
        return self._body[1]

    async def poll(self) -> LagReport:
        """One poll; on any failure the report says ERR and the clients are rebuilt next time."""
        async with self._lock:
            if self._closed:
                return self.tracker.report
            at = time.time()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_MS / 1000 * 2):
                    log_ends, groups = await self._read()
            except Exception as exc:
                message = f"broker not reachable or request failed: {describe(exc)}"
                log.warning("consumer lag poll failed: %s", message)
                await self._close_clients()
                return self.tracker.failed(at, message, self.own_group)
            finally:
                if self._closed:  # the worker stopped while this poll ran: leave nothing open
                    await self._close_clients()
            return self.tracker.observe(at, log_ends, groups, self.own_group)

    async def close(self) -> None:
        self._closed = True
        await self._close_clients()

    async def _clients(self) -> tuple[Any, Any]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id=self.client_id, request_timeout_ms=REQUEST_TIMEOUT_MS
            )
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=REQUEST_TIMEOUT_MS,
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._admin, self._consumer

    async def _close_clients(self) -> None:
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        for closing in (admin.close if admin else None, consumer.stop if consumer else None):
            if closing is not None:
                try:
                    await closing()
                except Exception:
                    log.debug("closing a lag monitor client failed", exc_info=True)

    async def _read(self) -> tuple[dict[PartitionKey, int], dict[str, GroupObservation]]:
        admin, consumer = await self._clients()
        # Every topic in one metadata request (a named request could auto-create a missing topic).
        workflow = set(WORKFLOW_TOPICS)
        partitions = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in await admin.describe_topics()
            if topic["topic"] in workflow and not topic["error_code"]
            for partition in topic["partitions"]
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        log_ends = {PartitionKey(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

        names = {str(listed[0]) for listed in await admin.list_consumer_groups()} | {self.own_group}
        committed = await asyncio.gather(*(self._committed(admin, group) for group in sorted(names)))
        relevant = {group: offsets for group, offsets in zip(sorted(names), committed, strict=True)}
        known = {group.group for group in self.tracker.report.groups}
        relevant = {
            group: offsets
            for group, offsets in relevant.items()
            if group == self.own_group or (offsets if not isinstance(offsets, str) else group in known)
        }
        states = await self._states(admin, sorted(relevant))
        groups: dict[str, GroupObservation] = {}
        for group, offsets in relevant.items():
            state = states.get(group)
            active = None if state is None else state not in GONE_STATES
            if isinstance(offsets, str):
                groups[group] = GroupObservation(state=state, active=active, error=offsets)
            else:
                groups[group] = GroupObservation(committed=offsets, state=state, active=active)
        return log_ends, groups

    async def _committed(self, admin: Any, group: str) -> dict[PartitionKey, int] | str:
        """The group's committed offsets on the workflow topics, or why they could not be read."""
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        except Exception as exc:
            return f"committed offsets not readable: {describe(exc)}"
        workflow = set(WORKFLOW_TOPICS)
        return {
            PartitionKey(tp.topic, tp.partition): int(meta.offset)
            for tp, meta in offsets.items()
            if tp.topic in workflow and meta.offset >= 0
        }

    async def _states(self, admin: Any, groups: list[str]) -> dict[str, str]:
        """Each group's state (Stable, Empty, ...); groups the broker would not describe are left out."""
        states = await asyncio.gather(*(self._state(admin, group) for group in groups))
        return {group: state for group, state in zip(groups, states, strict=True) if state is not None}

    async def _state(self, admin: Any, group: str) -> str | None:
        # One group per request: aiokafka 0.14 reads a Kafka 4 broker's DescribeGroups answer right only
        # up to the end of its first group (the broker adds authorized_operations), so a request for
        # several groups garbles the rest or even breaks the connection.
        try:
            responses = await admin.describe_consumer_groups([group])
        except Exception:
            log.debug("describing consumer group %s failed", group, exc_info=True)
            return None
        for response in responses:
            for described in response.groups[:1]:
                error_code, name, state = described[0], described[1], described[2]
                if not error_code and name == group and state:
                    return str(state)
        return None


def describe(exc: BaseException) -> str:
    name, text = type(exc).__name__, str(exc)
    return text if text.startswith(name) else f"{name}: {text}" if text else name


monitor = LagMonitor(settings.broker, settings.group_id, settings.client_id, LAG_WINDOW_SAMPLES, LAG_POLL_SECONDS)


def latest_status() -> LagReport:
    """The latest consumer lag report (an empty one, ``polledAt`` null, before the first poll)."""
    return monitor.latest()


@app.timer(LAG_POLL_SECONDS)
async def poll_consumer_lag() -> None:
    try:
        await monitor.poll()
    except Exception:  # poll() does not raise; a timer that raised would stop polling for good
        log.exception("consumer lag poll failed")


@app.service
class LagMonitorService(Service):
    """Started and stopped with the app: closes the monitor's clients when the worker stops."""

    async def on_stop(self) -> None:
        await monitor.close()
