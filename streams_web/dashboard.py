"""GET /dashboard: a live page of consumer lag and workflow counts, served by the worker itself.

The page is one static file with no outside assets; it reads everything from one SSE stream of
snapshots, authorised by a short-lived admin stream token in the query string (EventSource cannot
send headers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiohttp import web
from aiohttp_sse import sse_response
from faust.web import View
from prometheus_client import Metric

from app.lag_monitor import latest_status
from app.main import app
from app.metrics import EVENTS_CONSUMED, TRANSITIONS
from app.settings import settings
from domain.access import issue_stream_token
from streams_web.admin import group_counts
from streams_web.http import ApiError, api, authenticate_admin, json_response
from streams_web.live import (
    KEEPALIVE_SECONDS,
    NO_BUFFERING,
    SEND_TIMEOUT_SECONDS,
    STREAM_TOKEN_TTL_SECONDS,
    hub,
    stream_token_subject,
)

PAGE = Path(__file__).parent / "static" / "dashboard.html"
ADMIN_STREAM_SUBJECT = "*admin*"  # the stream token's subject for admin streams; no tenant is named so
SNAPSHOT_SECONDS = 1.0


def _total(metric_family: Iterable[Metric]) -> float:
    return sum(s.value for m in metric_family for s in m.samples if s.name.endswith("_total"))


async def snapshot(previous: tuple[float, float] | None) -> tuple[dict[str, object], tuple[float, float]]:
    """The dashboard's numbers now, and (time, events consumed) for the next rate.

    Throughput is this worker's; interviews per state are the whole group's.
    """
    now = time.time()
    consumed = _total(EVENTS_CONSUMED.collect())
    rate = (consumed - previous[1]) / max(now - previous[0], 1e-6) if previous else 0.0
    body: dict[str, object] = {
        "at": now,
        "eventsConsumed": int(consumed),
        "eventsPerSecond": max(rate, 0.0),
        "transitions": int(_total(TRANSITIONS.collect())),
        "states": (await group_counts())["byState"],
        "lag": latest_status().to_wire(exclude_none=False),
    }
    return body, (now, consumed)


@app.page("/dashboard")
class Dashboard(View):
    async def get(self, request: web.Request) -> web.Response:
        return web.Response(body=PAGE.read_bytes(), content_type="text/html", charset="utf-8")


@app.page("/api/v1/admin/streams/token")
class AdminStreamToken(View):
    @api
    async def post(self, request: web.Request) -> web.Response:
        authenticate_admin(request)
        token, expires_at = issue_stream_token(
            settings.access_link,
            tenant_id=ADMIN_STREAM_SUBJECT,
            now=datetime.now(UTC),
            ttl_seconds=STREAM_TOKEN_TTL_SECONDS,
        )
        return json_response({"token": token, "expiresAt": expires_at, "dashboard": f"/dashboard?token={token}"})


def _authorize_admin_stream(request: web.Request) -> None:
    subject = stream_token_subject(request)
    if subject is None:
        authenticate_admin(request)
    elif subject != ADMIN_STREAM_SUBJECT or subject in settings.tenants:  # a tenant so named is still a tenant
        raise ApiError(403, "a tenant's stream token does not open admin streams; use POST /api/v1/admin/streams/token")


@app.page("/api/v1/admin/dashboard/stream")
class DashboardStream(View):
    @api
    async def get(self, request: web.Request) -> web.StreamResponse:
        _authorize_admin_stream(request)
        if request.method == "HEAD":
            return web.Response(content_type="text/event-stream", headers=NO_BUFFERING)
        previous: tuple[float, float] | None = None
        async with sse_response(
            request, headers=NO_BUFFERING, ping_interval=KEEPALIVE_SECONDS, send_timeout=SEND_TIMEOUT_SECONDS
        ) as response:
            while response.is_connected() and not hub.stopping.is_set():
                body, previous = await snapshot(previous)
                await response.send(orjson.dumps(body).decode(), event="snapshot")
                await asyncio.sleep(SNAPSHOT_SECONDS)
        return response

    head = get
