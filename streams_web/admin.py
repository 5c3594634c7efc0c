"""Admin views (the admin key): workflow counts."""

from __future__ import annotations

from collections import Counter

from aiohttp import web
from faust.web import View

from app.main import app
from streams_web.http import api, authenticate_admin, json_response
from tables.faust_tables import interviews
from tables.interview import Interview
from tables.state_machine import State


@app.page("/api/v1/admin/metrics/workflows")
class WorkflowMetrics(View):
    @api
    async def get(self, request: web.Request) -> web.Response:
        """Interviews per state (every state listed, zeros included) over this worker's partitions."""
        authenticate_admin(request)
        rows: list[Interview] = list(interviews.values())
        by_state = Counter(row.state for row in rows)
        by_tenant = Counter(row.tenant_id for row in rows)
        return json_response(
            {
                "total": len(rows),
                "byState": {str(state): by_state.get(state, 0) for state in State},
                "byTenant": dict(sorted(by_tenant.items())),
            }
        )
