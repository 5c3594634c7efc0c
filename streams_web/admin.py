"""Admin views (the admin key): workflow counts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web
from faust.web import View

from app.main import app
from app.settings import settings
from streams_web.http import api, authenticate_admin, json_response
from streams_web.routing import gather_from_peers
from tables.faust_tables import interviews
from tables.interview import Interview
from tables.state_machine import State

WORKFLOWS_PATH = "/api/v1/admin/metrics/workflows"


@app.page(WORKFLOWS_PATH)
class WorkflowMetrics(View):
    @api
    async def get(self, request: web.Request) -> web.Response:
        """Interviews per state (every state listed, zeros included) across all workers.

        Each worker counts its own partitions (``scope=local``); asked without it, a worker adds up
        what every worker of the group answers.
        """
        authenticate_admin(request)
        if request.query.get("scope") == "local":
            return json_response(local_counts())
        return json_response(await group_counts())


async def group_counts() -> dict[str, object]:
    """Interviews per state and tenant over every worker of the group."""
    answers = await gather_from_peers(WORKFLOWS_PATH, {"X-API-Key": settings.admin_api_key}, local_counts)
    by_state: Counter[str] = Counter()
    by_tenant: Counter[str] = Counter()
    for answer in answers:
        by_state.update(answer["byState"])
        by_tenant.update(answer["byTenant"])
    return {
        "total": sum(by_state.values()),
        "byState": {str(state): by_state.get(str(state), 0) for state in State},
        "byTenant": dict(sorted(by_tenant.items())),
        "workers": len(answers),
    }


def local_counts() -> dict[str, Any]:
    rows: list[Interview] = list(interviews.values())
    by_state = Counter(row.state for row in rows)
    by_tenant = Counter(row.tenant_id for row in rows)
    return {
        "total": len(rows),
        "byState": {str(state): by_state.get(state, 0) for state in State},
        "byTenant": dict(sorted(by_tenant.items())),
    }
