"""Admin view of consumer lag (SPEC section 7): every consumer group on the workflow topics, Burrow-style."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from app import lag_monitor
from app.main import app
from streams_web.http import api, authenticate_admin

REFRESH_VALUES = {"1", "true", "yes"}


@app.page("/api/v1/admin/kafka/status")
class KafkaStatus(View):
    @api
    async def get(self, request: web.Request) -> web.Response:
        """The latest poll's report; ``?refresh=1`` polls the broker first. 200 also before the first poll."""
        authenticate_admin(request)
        if request.query.get("refresh", "").lower() in REFRESH_VALUES:
            await lag_monitor.monitor.poll()
        return web.Response(body=lag_monitor.monitor.latest_body(), content_type="application/json")
