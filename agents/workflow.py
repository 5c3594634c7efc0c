"""Workflow: the transitions that need no model, from plan.generated to cancellation."""

from __future__ import annotations

from agents.runtime import step_agent
from domain import steps
from models.topics import Topic

step_agent(Topic.PLAN_GENERATED, steps.plan_generated, name="workflow-plan-generated")
# approval.approved also grants the candidate's access link (SPEC: "candidate access").
step_agent(Topic.APPROVAL_APPROVED, steps.plan_approved, name="workflow-plan-approved")
step_agent(Topic.ASSESSMENT_COMPLETED, steps.assessment_completed, name="workflow-assessment-completed")
step_agent(Topic.ASSESSMENT_REVIEWED, steps.assessment_reviewed, name="workflow-assessment-reviewed")
step_agent(Topic.CANCEL_REQUESTED, steps.cancel_requested, name="workflow-cancel")
