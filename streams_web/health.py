"""Liveness and readiness probes."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from app.main import app
from streams_web.http import json_response


@app.page("/health/live")
class Live(View):
    async def get(self, request: web.Request) -> web.Response:
        return json_response({"status": "live"})


@app.page("/health/ready")
class Ready(View):
    async def get(self, request: web.Request) -> web.Response:
        """Ready once partitions are assigned and table recovery is done."""
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        ready = recovered and assigned and not app.rebalancing
        body = {
            "status": "ready" if ready else "starting",
            "recovered": recovered,
            "assigned": assigned,
            "rebalancing": app.rebalancing,
        }
        return json_response(body, 200 if ready else 503)
