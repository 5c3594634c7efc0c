"""GET /api/v1/entities/{event_type}: what entity-extraction-worker delivered for that event type.

Ingestion events belong to no tenant, so any tenant's key or the admin key may read them.
``?id=`` answers one entity by the id its data carried.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from faust.web import View

from app.main import app
from streams_web.http import ApiError, api, authenticate, is_admin, json_response
from streams_web.routing import on_owner
from tables.entities import EntityTypeSummary
from tables.faust_tables import entities


def authenticate_reader(request: web.Request) -> None:
    if not is_admin(request):
        authenticate(request)


def entity_view(summary: EntityTypeSummary, entity_id: str | None) -> dict[str, Any]:
    if entity_id is not None:
        found = summary.entities.get(entity_id)
        if found is None:
            raise ApiError(404, f"no {summary.event_type} entity with id {entity_id}")
        return {"eventType": summary.event_type, "entity": found.to_wire()}
    body = summary.to_wire()
    body.pop("sources", None)
    body["entityIds"] = list(summary.entities)  # least recently seen first; ?id= gives one
    body.pop("entities", None)
    return body


@app.page("/api/v1/entities/{event_type}")
class Entities(View):
    @api
    async def get(self, request: web.Request, event_type: str) -> web.StreamResponse:
        authenticate_reader(request)

        async def local() -> web.Response:
            summary: EntityTypeSummary | None = entities.get(event_type)
            if summary is None:
                raise ApiError(404, f"no entity events of type {event_type} yet")
            return json_response(entity_view(summary, request.query.get("id")))

        return await on_owner(request, event_type, local, table=entities.name)
