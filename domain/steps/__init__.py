"""The workflow's steps as pure functions: (current row, event, context) -> new row + messages to send.

Agents only decode, look the row up, call one of these, write the row back and send what comes
out. Every message a step sends carries an id derived from the input's eventId, so a redelivered
input re-sends byte-identical messages that downstream consumers recognise as duplicates.
"""

from domain.steps.assessment import assessment_completed, assessment_ready, interview_completed
from domain.steps.base import Step, StepContext, StepResult, run_within
from domain.steps.decisions import assessment_reviewed, cancel_requested, plan_approved
from domain.steps.intake import info_provided, interview_requested
from domain.steps.notifications import NotificationResult, notification
from domain.steps.planning import (
    modification_requested,
    plan_generated,
    plan_ready,
    plan_rejected,
    skill_validation_requested,
)

__all__ = [
    "NotificationResult",
    "Step",
    "StepContext",
    "StepResult",
    "assessment_completed",
    "assessment_ready",
    "assessment_reviewed",
    "cancel_requested",
    "info_provided",
    "interview_completed",
    "interview_requested",
    "modification_requested",
    "notification",
    "plan_approved",
    "plan_generated",
    "plan_ready",
    "plan_rejected",
    "run_within",
    "skill_validation_requested",
]
