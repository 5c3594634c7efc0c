"""Interview commands and reads: /api/v1/interviews...

Commands never write tables: they check what they can against the row, publish an event keyed
by the interviewId and answer 202; the owning partition's stream applies it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from faust.web import View

from app.main import app
from app.publish import publish_event
from app.settings import settings
from domain import intake
from domain.webhooks import UrlRefused, check_callback_url
from models.base import utc_timestamp
from models.envelope import Envelope, derived_id, new_event_id, new_run_id
from models.payloads import InfoProvided, InterviewDetails, InterviewRequested
from models.topics import Topic
from streams_web import commands
from streams_web.http import RAW_BODY, ApiError, api, authenticate, json_response, read_model
from streams_web.routing import on_owner, routed
from streams_web.rows import interview_view, require_trigger, tenant_interview
from tables.faust_tables import interviews, notifications
from tables.interview import Interview
from tables.notifications import NotificationLog
from tables.state_machine import State, Trigger


def _check_callback(url: str | None) -> None:
    if url is None:
        return
    try:  # a literal address the policy refuses fails here; names are checked when sending
        check_callback_url(url, allow_private=settings.webhook_allow_private)
    except UrlRefused as exc:
        raise ApiError(400, str(exc), fields=[{"field": "callbackUrl", "message": str(exc)}]) from None


@app.page("/api/v1/interviews")
class Interviews(View):
    @api
    async def post(self, request: web.Request) -> web.StreamResponse:
        tenant_id, _ = authenticate(request)
        body = await read_model(request, InterviewRequested)
        _check_callback(body.callback_url)
        if not body.external_id:
            return await _create(tenant_id, body, new_event_id(), new_event_id())
        # Idempotent on tenant + externalId: the worker owning that interview looks for it.
        interview_id = derived_id("interview", tenant_id, body.external_id)
        event_id = derived_id("interview.requested", tenant_id, body.external_id)

        async def create_once() -> web.Response:
            existing = interviews.get(interview_id)
            if existing is not None:
                return json_response(_accepted(existing.run_id, interview_id, existing), 202)
            return await _create(tenant_id, body, interview_id, event_id)

        return await on_owner(request, interview_id, create_once, body=request[RAW_BODY])


async def _create(tenant_id: str, body: InterviewRequested, interview_id: str, event_id: str) -> web.Response:
    run_id = new_run_id()
    await publish_event(
        Envelope(
            event_type=Topic.INTERVIEW_REQUESTED,
            event_id=event_id,
            tenant_id=tenant_id,
            run_id=run_id,
            interview_id=interview_id,
            timestamp=utc_timestamp(),
            payload=body,
        )
    )
    return json_response(_accepted(run_id, interview_id, None, details=body), 202)


def _accepted(
    run_id: str, interview_id: str, existing: Interview | None, details: InterviewDetails | None = None
) -> dict[str, Any]:
    """The 202 body: for a new request, what intake will decide (the same pure rules)."""
    if existing is not None:
        return {
            "runId": run_id,
            "interviewId": interview_id,
            "state": existing.state,
            "dataQuality": existing.data_quality,
            "missingFields": [m.to_wire() for m in existing.missing_fields],
            "warnings": existing.warnings,
        }
    assert details is not None
    result = intake.validate(details)
    return {
        "runId": run_id,
        "interviewId": interview_id,
        "state": State.VALIDATING_SKILLS if result.passed else State.INFO_NEEDED,
        "dataQuality": result.data_quality,
        "missingFields": [m.to_wire() for m in result.missing_fields],
        "warnings": result.warnings,
    }


@app.page("/api/v1/interviews/{interview_id}")
class InterviewResource(View):
    @api
    @routed
    async def get(self, request: web.Request, interview_id: str) -> web.Response:
        tenant_id, _ = authenticate(request)
        return json_response(interview_view(tenant_interview(tenant_id, interview_id)))

    @api
    @routed
    async def delete(self, request: web.Request, interview_id: str) -> web.Response:
        return await commands.cancel(request, interview_id)


@app.page("/api/v1/interviews/{interview_id}/history")
class InterviewHistory(View):
    @api
    @routed
    async def get(self, request: web.Request, interview_id: str) -> web.Response:
        tenant_id, _ = authenticate(request)
        interview = tenant_interview(tenant_id, interview_id)
        return json_response(
            {
                "interviewId": interview.interview_id,
                "state": interview.state,
                "version": interview.version,
                "history": [h.to_wire(exclude_none=False) for h in interview.history],
                "rejectedTriggers": [r.to_wire() for r in interview.rejected_triggers],
            }
        )


@app.page("/api/v1/interviews/{interview_id}/info")
class InterviewInfo(View):
    @api
    @routed
    async def patch(self, request: web.Request, interview_id: str) -> web.Response:
        tenant_id, _ = authenticate(request)
        interview = tenant_interview(tenant_id, interview_id)
        update = await read_model(request, InfoProvided)
        require_trigger(interview, Trigger.INFO_COMPLETED)
        if not update.provided_fields():
            raise ApiError(
                400, "no fields supplied", fields=[{"field": "(body)", "message": "supply at least one field"}]
            )
        await publish_event(
            Envelope(
                event_type=Topic.INFO_PROVIDED,
                event_id=new_event_id(),
                tenant_id=tenant_id,
                run_id=interview.run_id,
                interview_id=interview_id,
                timestamp=utc_timestamp(),
                payload=update,
            )
        )
        result = intake.validate(interview.details.merged_with(update))
        return json_response(
            {
                "interviewId": interview_id,
                "state": State.VALIDATING_SKILLS if result.passed else State.INFO_NEEDED,
                "dataQuality": result.data_quality,
                "missingFields": [m.to_wire() for m in result.missing_fields],
                "providedFields": update.provided_fields(),
            },
            202,
        )


@app.page("/api/v1/interviews/{interview_id}/notifications")
class InterviewNotifications(View):
    @api
    @routed
    async def get(self, request: web.Request, interview_id: str) -> web.Response:
        tenant_id, _ = authenticate(request)
        interview = tenant_interview(tenant_id, interview_id)
        log: NotificationLog | None = notifications.get(interview_id)
        items = [n.to_wire() for n in log.notifications] if log else []
        return json_response({"interviewId": interview.interview_id, "notifications": items})
