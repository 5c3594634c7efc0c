"""GET /api/v1/admin/deadletters: the most recent dead letters, read from the topic itself."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from app.deadletters import read_dead_letters
from app.main import app
from streams_web.http import ApiError, api, authenticate_admin, json_response

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@app.page("/api/v1/admin/deadletters")
class DeadLetters(View):
    @api
    async def get(self, request: web.Request) -> web.Response:
        """?limit= (default 50), and optionally ?reason=, ?topic= (source topic), ?interviewId=."""
        authenticate_admin(request)
        raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
        # isdigit() alone lets "²" through to int() (a 500) and "٣" through as 3: ASCII digits only.
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 0 < int(raw_limit) <= MAX_LIMIT:
            raise ApiError(400, f"limit must be 1..{MAX_LIMIT}", fields=[{"field": "limit", "message": "1..500"}])
        limit = int(raw_limit)
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
