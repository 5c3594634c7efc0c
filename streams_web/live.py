"""Server-Sent Events: interview transitions, agent runs and the assessment workspace, on any worker.

Every worker tails the interviews table's changelog topic itself (a plain consumer, no group,
from the end, reading only while a stream is open: streams_web/hub.py), so a stream can be opened
on any worker and a client that reconnects elsewhere loses nothing: Last-Event-ID resumes from the
row's history, read from the owning worker. Each subscriber holds only the newest row (rows are
full snapshots), so a slow or vanished client cannot grow memory; aiohttp-sse sends keepalive pings.

Fan-out is one row to thousands of subscribers, so per-subscriber work is kept to a wake-up and a
socket write: a transition's frame is encoded once and shared (``FrameCache``), a subscriber sleeps
until its row changes, its connection ends or the worker stops (no periodic wake-up), and the
changelog tail parses a row only when some stream wants it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.web import View

from app import direct
from app.main import app
from app.settings import settings
from domain.access import ExpiredAccessToken, InvalidAccessToken, issue_stream_token, verify_stream_token
from domain.live import LiveEvent, WorkspaceProgress, positions_after, run_events, transition_event, workspace_events
from models.base import ascii_int
from streams_web.http import ApiError, api, authenticate, authenticate_admin, json_response
from streams_web.hub import Hub, Latest
from streams_web.routing import http_client, owner_url
from tables.faust_tables import interviews
from tables.interview import Interview

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 10.0
SEND_TIMEOUT_SECONDS = 30.0  # a client that stops reading is dropped, not buffered for
STREAM_TOKEN_TTL_SECONDS = 300
NO_BUFFERING = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
LIVE_WAIT_SECONDS = 10.0  # for the changelog tail to read again before a stream opens (streams_web/hub.py)
FRAME_CACHE_SIZE = 20_000  # transition frames kept; a miss only costs encoding it again


def sse_frame(event: LiveEvent) -> bytes:
    """An event framed as aiohttp-sse's ``send`` frames it (orjson never writes a line break)."""
    head = b"" if event.id is None else b"id: " + event.id.encode() + b"\r\n"
    return head + b"event: " + event.event.encode() + b"\r\ndata: " + orjson.dumps(event.data) + b"\r\n\r\n"


class FrameCache:
    """Transition frames by (interviewId, position, eventId): the same bytes for every subscriber."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.frames: dict[tuple[str, int, str], bytes] = {}

    def transitions(self, row: Interview, after: int) -> bytes:
        """The frames of the history entries after the first ``after``, joined."""
        parts: list[bytes] = []
        for position in positions_after(row, after):
            key = (row.interview_id, position, row.history[position - 1].event_id)
            frame = self.frames.get(key)
            if frame is None:
                frame = sse_frame(transition_event(row, position))
                if len(self.frames) >= self.size:  # oldest first: dicts keep insertion order
                    del self.frames[next(iter(self.frames))]
                self.frames[key] = frame
            parts.append(frame)
        return b"".join(parts)


frame_cache = FrameCache(FRAME_CACHE_SIZE)


class LiveResponse(EventSourceResponse):
    """aiohttp-sse's response that writes ready-made frames and wakes its subscriber when it ends.

    The keepalive ping is what notices a vanished client (its write fails), so the end of the ping
    task wakes the mailbox; the subscriber then needs no periodic wake-up of its own. A ping goes
    only after ``ping_interval`` without any write: an event keeps the connection alive as well, and
    with thousands of streams the pings cost as many socket writes as the events.
    """

    box: Latest | None = None
    written_at = 0.0

    async def _ping(self) -> None:
        loop = asyncio.get_running_loop()
        message = f": ping{self._sep}{self._sep}".encode()
        self.written_at = max(self.written_at, loop.time())  # the headers just went out
        try:
            while True:
                await asyncio.sleep(max(self.written_at + self._ping_interval - loop.time(), 0.0))
                if loop.time() - self.written_at < self._ping_interval:
                    continue  # an event went out meanwhile
                try:
                    async with asyncio.timeout(self._send_timeout):
                        await self.write(message)
                except TimeoutError:
                    self._abort_transport()
                    break
                except (ConnectionResetError, RuntimeError):  # RuntimeError: written after EOF
                    break
                self.written_at = loop.time()
        finally:
            if self.box is not None:
                self.box.wake()

    async def send_frames(self, frames: bytes) -> None:
        """Write frames as ``send`` writes one: a client that stops reading is dropped after send_timeout.

        Only a write that can wait gets the timer. aiohttp waits only while the transport has paused
        writing, which it does once its buffer passes the high-water mark and undoes below the low one;
        frames that fit under the low mark with what is buffered can neither find it paused nor pause
        it. Setting and cancelling the timer cost ~5.5 µs, a tenth of a delivery's CPU with 5,000 streams.
        """
        self.written_at = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(self._send_timeout) if self._may_wait(len(frames)) else _NO_TIMER:
                await self.write(frames)
        except ConnectionResetError:
            self.stop_streaming()
            raise
        except TimeoutError:
            self.stop_streaming()
            self._abort_transport()
            raise

    def _may_wait(self, size: int) -> bool:
        transport = self._req.transport if self._req is not None else None
        if transport is None or not isinstance(transport, asyncio.WriteTransport):
            return True
        low, _ = transport.get_write_buffer_limits()
        return transport.get_write_buffer_size() + size > low


_NO_TIMER = contextlib.nullcontext()


hub = Hub()
direct.sends_awaited = hub.has_streams  # an open stream sees a row once its changelog record is sent


@app.task
async def tail_interview_changelog() -> None:
    """Feed the hub from every row write, whichever worker made it.

    An exception escaping an app task crashes the worker, so failures are logged and the tail
    starts again; streams then miss nothing they cannot replay (Last-Event-ID, reconnect).
    """
    while True:
        try:
            await _follow_changelog()
        except Exception:
            log.exception("live streams lost the changelog; following it again")
            await asyncio.sleep(1.0)


async def _follow_changelog() -> None:
    topic = interviews.changelog_topic.get_topic_name()
    # No group: this worker reads every partition, from the end (streams replay from the row).
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.broker,
        group_id=None,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = await _assigned(consumer)
        log.info("live streams follow %s (%d partitions) while a stream is open", topic, len(partitions))
        await hub.follow(consumer, partitions)
    finally:
        await consumer.stop()


async def _assigned(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """Every partition of the subscribed topic, once the metadata has named them (no group: all of them)."""
    while not consumer.assignment():
        await asyncio.sleep(0.05)
    return sorted(consumer.assignment())


@app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types the receiver narrower than it calls it
async def _end_streams(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Open streams end at once on shutdown instead of holding the worker up."""
    hub.stop()


def stream_token_subject(request: web.Request) -> str | None:
    """The subject (tenantId, or the admin subject) of a valid ``?token=``; None without one; 401 if bad."""
    token = request.query.get("token")
    if token is None:
        return None
    try:
        claims = verify_stream_token(token, secret=settings.access_link.secret, now=datetime.now(UTC))
    except (InvalidAccessToken, ExpiredAccessToken) as exc:
        raise ApiError(401, str(exc)) from None
    return claims.tenant_id


def stream_tenant(request: web.Request) -> str:
    """Headers as the REST API, or ``?token=`` (from POST /api/v1/streams/token) for EventSource."""
    subject = stream_token_subject(request)
    if subject is None:
        tenant_id, _ = authenticate(request)
        return tenant_id
    return subject


async def current_row(interview_id: str) -> Interview | None:
    """The row as its owning worker has it now (asked over HTTP when another worker owns it)."""
    owner = owner_url(interview_id)
    if owner is None:
        row: Interview | None = interviews.get(interview_id)
        return row
    url = owner.with_path(f"/api/v1/admin/rows/{interview_id}")
    async with http_client().get(url, headers={"X-API-Key": settings.admin_api_key}) as response:
        if response.status == 404:
            return None
        if response.status != 200:
            raise ApiError(503, f"owning worker answered {response.status}; retry", retryAfterSeconds=1)
        return Interview.model_validate_json(await response.read())


async def _stream(
    request: web.Request,
    kind: str,
    index: dict[str, set[Latest]],
    key: str,
    first: Callable[[], Awaitable[Interview | None]],
    tell: Callable[[Interview], bytes],
) -> web.StreamResponse:
    """Subscribe, wait for the changelog tail to read, then read the first row (streams_web/hub.py) and stream."""
    if request.method == "HEAD":  # headers only: a streaming HEAD would never end
        await first()  # its 404s still hold
        return web.Response(content_type="text/event-stream", headers=NO_BUFFERING)
    with hub.subscribe(index, key, kind) as box:
        try:
            await asyncio.wait_for(hub.live(), LIVE_WAIT_SECONDS)
        except TimeoutError:
            message = "live updates are not available yet (changelog unreachable); retry"
            raise ApiError(503, message, retryAfterSeconds=1) from None
        row = await first()
        async with sse_response(
            request,
            headers=NO_BUFFERING,
            ping_interval=KEEPALIVE_SECONDS,
            send_timeout=SEND_TIMEOUT_SECONDS,
            response_cls=LiveResponse,
        ) as response:
            response.box = box
            while response.is_connected() and not hub.stopping.is_set():
                if row is not None:
                    frames = tell(row)
                    if frames:
                        await response.send_frames(frames)
                row = await box.take()
        return response


def _frames(events: list[LiveEvent]) -> bytes:
    return b"".join(sse_frame(event) for event in events)


async def _tenant_row(interview_id: str, tenant_id: str) -> Interview:
    """The interview's current row if it is ``tenant_id``'s; 404 otherwise."""
    row = await current_row(interview_id)
    if row is None or row.tenant_id != tenant_id:
        raise ApiError(404, f"interview {interview_id} not found")
    return row


@app.page("/api/v1/interviews/{interview_id}/events")
class InterviewEvents(View):
    @api
    async def get(self, request: web.Request, interview_id: str) -> web.StreamResponse:
        tenant_id = stream_tenant(request)
        sent = ascii_int(request.headers.get("Last-Event-ID", "0")) or 0

        def tell(update: Interview) -> bytes:
            nonlocal sent
            frames = frame_cache.transitions(update, sent)
            sent = max(sent, len(update.history))
            return frames

        first = partial(_tenant_row, interview_id, tenant_id)
        return await _stream(request, "interview", hub.by_interview, interview_id, first, tell)

    head = get


@app.page("/api/v1/runs/{run_id}/stream")
class RunStream(View):
    @api
    async def get(self, request: web.Request, run_id: str) -> web.StreamResponse:
        tenant_id = stream_tenant(request)
        interview_id = request.query.get("interviewId")
        told: set[str] = set()

        async def first() -> Interview | None:
            if not interview_id:
                return None
            row = await _tenant_row(interview_id, tenant_id)  # replays the run so far
            if row.run_id != run_id:
                raise ApiError(404, f"run {run_id} not found")
            return row

        def tell(update: Interview) -> bytes:
            return _frames(run_events(update, told)) if update.tenant_id == tenant_id else b""

        return await _stream(request, "run", hub.by_run, run_id, first, tell)

    head = get


@app.page("/api/v1/workspaces/{interview_id}/stream")
class WorkspaceStream(View):
    @api
    async def get(self, request: web.Request, interview_id: str) -> web.StreamResponse:
        tenant_id = stream_tenant(request)
        progress = WorkspaceProgress()

        def tell(update: Interview) -> bytes:
            return _frames(workspace_events(update, progress))

        first = partial(_tenant_row, interview_id, tenant_id)
        return await _stream(request, "workspace", hub.by_interview, interview_id, first, tell)

    head = get


@app.page("/api/v1/streams/token")
class StreamToken(View):
    @api
    async def post(self, request: web.Request) -> web.Response:
        tenant_id, _ = authenticate(request)
        token, expires_at = issue_stream_token(
            settings.access_link, tenant_id=tenant_id, now=datetime.now(UTC), ttl_seconds=STREAM_TOKEN_TTL_SECONDS
        )
        return json_response({"token": token, "expiresAt": expires_at})


@app.page("/api/v1/admin/rows/{interview_id}")
class RowOnOwner(View):
    """The whole row, for other workers' streams (admin key; never forwarded)."""

    @api
    async def get(self, request: web.Request, interview_id: str) -> web.Response:
        authenticate_admin(request)
        row: Interview | None = interviews.get(interview_id)
        if row is None:
            raise ApiError(404, f"interview {interview_id} not found here")
        return web.Response(body=row.model_dump_json(by_alias=True), content_type="application/json")
