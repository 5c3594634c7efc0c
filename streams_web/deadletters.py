"""GET /api/v1/admin/deadletters: the most recent dead letters, read from the topic itself."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from app.deadletters import read_dead_letters
from app.main import app
from models.base import ascii_int
from streams_web.http import ApiError, api, authenticate_admin, json_response

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@app.page("/api/v1/admin/deadletters")
class DeadLetters(View):
    @api
    async def get(self, request: web.Request) -> web.Response:
        """?limit= (default 50), and optionally ?reason=, ?topic= (source topic), ?interviewId=."""
        authenticate_admin(request)
        limit = ascii_int(request.query.get("limit", str(DEFAULT_LIMIT)))
        if limit is None or not 0 < limit <= MAX_LIMIT:
            raise ApiError(400, f"limit must be 1..{MAX_LIMIT}", fields=[{"field": "limit", "message": "1..500"}])
        filters = {
            "reason": request.query.get("reason"),
            "sourceTopic": request.query.get("topic"),
            "interviewId": request.query.get("interviewId"),
        }
        letters = [
            letter
            for letter in await read_dead_letters(limit)
            if all(value is None or letter.get(key) == value for key, value in filters.items())
        ]
        return json_response({"deadLetters": letters[:limit], "count": len(letters[:limit])})
