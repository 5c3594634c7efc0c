"""GET /metrics: every metric of app/metrics.py in the Prometheus text format."""

from __future__ import annotations

from aiohttp import web
from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.main import app
from app.metrics import REGISTRY

HEADERS = {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}


@app.page("/metrics")
class Metrics(View):
    async def get(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers=HEADERS)

    async def head(self, request: web.Request) -> web.Response:
        """Headers only, answered at once: the registry is not rendered."""
        return web.Response(headers=HEADERS)
