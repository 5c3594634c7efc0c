"""An approval re-run on the same event from the row before it (the row's last write lost with a
killed worker or a moved partition, while its webhook had already gone out) issues the same
access link, so the link the ATS was sent is the one the row shows. Found by the fault suite."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from steps_support import envelope, tenant, walk_to

from domain.steps import plan_approved
from domain.steps.base import StepContext
from domain.webhooks import WebhookDelivery
from models.base import utc_timestamp
from models.envelope import Envelope
from models.payloads import ApprovalApproved
from models.topics import Topic
from tables.interview import Interview
from tables.state_machine import State


def _links(row: Interview, event: Envelope[Any], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the row's access link, the one its interview.approved webhook carries) after the step."""
    result = plan_approved(row.model_copy(deep=True), event, StepContext(tenant=tenant(), now=utc_timestamp(now)))
    assert result.interview is not None and result.interview.access_link is not None
    body = json.loads(WebhookDelivery.model_validate_json(result.sent[0].value).body)
    return result.interview.access_link.to_wire(), body["data"]["accessLink"]


def test_an_approval_run_again_later_issues_the_same_access_link() -> None:
    walk = walk_to(State.PENDING)
    assert walk.row.plan is not None
    payload = ApprovalApproved(plan_id=walk.row.plan.plan_id, approved_by="rita")
    sent_at = datetime.now(UTC)
    event = envelope(Topic.APPROVAL_APPROVED, payload, event_id="ev-approve").model_copy(
        update={"timestamp": utc_timestamp(sent_at)}
    )

    first = _links(walk.row, event, sent_at + timedelta(seconds=1))
    again = _links(walk.row, event, sent_at + timedelta(seconds=40))  # the re-run, later

    assert first == again
    row_link, webhook_link = first
    assert row_link == webhook_link
