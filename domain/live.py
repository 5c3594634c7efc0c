"""What the live streams say (SPEC section 7), as pure functions of an interview row.

Every row write is a full snapshot, so a stream only remembers how far it got: the number of
history entries sent (the SSE ``id``, which Last-Event-ID resumes from) or the run executions
and assessments already told. A slow client then needs only the newest row, never a backlog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from domain.thinking import RunReport
from models.base import WireModel
from tables.interview import Interview


@dataclass(frozen=True)
class LiveEvent:
    event: str
    data: dict[str, Any]
    id: str | None = None


def transition_event(row: Interview, position: int) -> LiveEvent:
    """The history entry at ``position`` (1-based), which is also its SSE id."""
    entry = row.history[position - 1]
    return LiveEvent(
        event="transition",
        id=str(position),
        data={"interviewId": row.interview_id, "version": position, **entry.to_wire(exclude_none=False)},
    )


def positions_after(row: Interview, after: int) -> range:
    """The 1-based positions (SSE ids) of the history entries after the first ``after``."""
    return range(max(after, 0) + 1, len(row.history) + 1)


def _reports(row: Interview) -> list[RunReport]:
    return [r for r in (row.plan_run, row.assessment_run) if r is not None and r.execution_id]


def run_events(row: Interview, told: set[str]) -> list[LiveEvent]:
    """node_end per step and done (or error) for every run execution not yet in ``told`` (updated)."""
    events: list[LiveEvent] = []
    for report in _reports(row):
        assert report.execution_id is not None
        if report.execution_id in told:
            continue
        told.add(report.execution_id)
        for step in report.steps:
            events.append(
                LiveEvent(
                    event="node_end",
                    data={
                        "execution_id": report.execution_id,
                        "agent": report.agent,
                        "node": step.node,
                        "status": "completed",
                        "tokens_used": step.tokens_used,
                        "message": step.message,
                    },
                )
            )
        summary = {
            "execution_id": report.execution_id,
            "agent": report.agent,
            "model": report.model,
            "tokens_used": report.tokens_used,
            "cost_usd": report.cost_usd,
        }
        if report.budget_exceeded:
            events.append(
                LiveEvent(event="error", data={**summary, "status": "error", "message": report.fallback_reason})
            )
        status = "completed_with_fallback" if report.fallback_used else "completed"
        events.append(LiveEvent(event="done", data={**summary, "status": status}))
    return events


# --- workspace events: the AEGIS seed's eight types, one pydantic model each -----------------


class ChecklistItemUpdate(WireModel):
    type: Literal["checklist_item_update"] = "checklist_item_update"
    item_id: str
    label: str
    status: Literal["pending", "in_progress", "done", "failed"]
    score: int | None = None
    evidence: list[str] = []


class ArtifactGenerated(WireModel):
    type: Literal["artifact_generated"] = "artifact_generated"
    artifact_id: str
    kind: str
    title: str
    content: str


class DataTableUpdate(WireModel):
    type: Literal["data_table_update"] = "data_table_update"
    table_id: str
    columns: list[str]
    rows: list[list[Any]]


class FormFieldUpdate(WireModel):
    type: Literal["form_field_update"] = "form_field_update"
    field: str
    value: Any


class ValidationResult(WireModel):
    type: Literal["validation_result"] = "validation_result"
    valid: bool
    issues: list[str] = []


class SpatialUpdate(WireModel):
    type: Literal["spatial_update"] = "spatial_update"
    element_id: str
    x: float
    y: float


class AgentStatus(WireModel):
    type: Literal["agent_status"] = "agent_status"
    agent: str
    status: Literal["idle", "running", "completed", "failed"]
    message: str = ""


class AssessmentComplete(WireModel):
    type: Literal["assessment_complete"] = "assessment_complete"
    assessment_id: str
    overall_score: int
    recommendation: str
    summary: str


WORKSPACE_EVENT_TYPES: dict[str, type[BaseModel]] = {
    model.model_fields["type"].default: model
    for model in (
        ChecklistItemUpdate,
        ArtifactGenerated,
        DataTableUpdate,
        FormFieldUpdate,
        ValidationResult,
        SpatialUpdate,
        AgentStatus,
        AssessmentComplete,
    )
}


@dataclass
class WorkspaceProgress:
    """What a workspace stream has told: whether the assessor was seen running, and the assessment."""

    running_told: bool = False
    assessments: set[str] = field(default_factory=set)


def _workspace(event: BaseModel) -> LiveEvent:
    data = event.model_dump(mode="json", by_alias=True)
    return LiveEvent(event=str(data["type"]), data=data)


def workspace_events(row: Interview, progress: WorkspaceProgress) -> list[LiveEvent]:
    """The assessment workspace of an interview: the assessor at work, then its result per competency."""
    events: list[LiveEvent] = []
    if row.pending_assessment_id and not progress.running_told:
        progress.running_told = True
        events.append(_workspace(AgentStatus(agent="assessor", status="running", message="scoring the transcript")))
        if row.plan is not None:
            events += [
                _workspace(ChecklistItemUpdate(item_id=c.name, label=c.name, status="in_progress"))
                for c in row.plan.competencies
            ]
    assessment = row.assessment
    if assessment is None or assessment.assessment_id in progress.assessments:
        return events
    progress.assessments.add(assessment.assessment_id)
    minimum = {c.name: c.minimum_score for c in row.plan.competencies} if row.plan else {}
    for score in assessment.competency_scores:
        status: Literal["done", "failed"] = "done" if score.score >= minimum.get(score.name, 1) else "failed"
        events.append(
            _workspace(
                ChecklistItemUpdate(
                    item_id=score.name, label=score.name, status=status, score=score.score, evidence=score.evidence
                )
            )
        )
    planned = {c.name for c in row.plan.competencies} if row.plan else set()
    missing = sorted(planned - {s.name for s in assessment.competency_scores})
    events.append(_workspace(ValidationResult(valid=not missing, issues=[f"not scored: {m}" for m in missing])))
    events.append(_workspace(AgentStatus(agent="assessor", status="completed", message=assessment.summary)))
    events.append(
        _workspace(
            AssessmentComplete(
                assessment_id=assessment.assessment_id,
                overall_score=assessment.overall_score,
                recommendation=assessment.recommendation,
                summary=assessment.summary,
            )
        )
    )
    return events
