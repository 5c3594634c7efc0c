"""Looking an interview row up for a request, and the checks every command makes on it."""

from __future__ import annotations

from typing import Any

from streams_web.http import ApiError
from tables.faust_tables import interviews
from tables.interview import Interview
from tables.state_machine import Trigger, allowed_triggers

# Bookkeeping the stream needs and readers do not; history has its own endpoint.
INTERNAL_FIELDS = (
    "processed",
    "history",
    "rejectedTriggers",
    "pendingPlanId",
    "pendingAssessmentId",
    "webhookSequence",
)


def tenant_interview(tenant_id: str, interview_id: str) -> Interview:
    """The row, or 404 when it is absent or belongs to another tenant (the two look the same)."""
    interview: Interview | None = interviews.get(interview_id)
    if interview is None or interview.tenant_id != tenant_id:
        raise ApiError(404, f"interview {interview_id} not found")
    return interview


def require_trigger(interview: Interview, trigger: Trigger) -> None:
    """409 naming the current state and what it allows, when ``trigger`` is not one of them."""
    allowed = allowed_triggers(interview.state)
    if trigger not in allowed:
        raise ApiError(
            409,
            f"{trigger} is not allowed in state {interview.state}",
            state=interview.state,
            trigger=trigger,
            allowedTriggers=allowed,
        )


def interview_view(interview: Interview) -> dict[str, Any]:
    body = interview.to_wire()
    for internal in INTERNAL_FIELDS:
        body.pop(internal, None)
    return body
