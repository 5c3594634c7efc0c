"""The interview row: current state, details, plan, history and the events already applied."""

from __future__ import annotations

from pydantic import Field

from domain.access import AccessLink
from domain.thinking import RunReport
from models.base import WireModel
from models.payloads import AssessmentCompleted, DataQuality, InterviewDetails, MissingField
from models.plan import Plan
from tables.state_machine import TERMINAL_STATES, State, Trigger, next_state

# How many applied eventIds (with what they sent) a row remembers for redelivery. Redelivery
# only ever replays the uncommitted tail of a partition, so a short window is enough.
PROCESSED_WINDOW = 32
REJECTIONS_KEPT = 50


class HistoryEntry(WireModel):
    from_state: State | None = Field(alias="from")
    to_state: State = Field(alias="to")
    trigger: str
    event_id: str
    actor: str
    at: str
    note: str | None = None  # the comment, reason or instructions that came with the trigger


class RejectedTrigger(WireModel):
    """A trigger the state machine refused: recorded, never applied."""

    trigger: str
    state: State
    event_id: str
    actor: str
    at: str
    reason: str


class SentMessage(WireModel):
    """A follow-on message exactly as sent, so a redelivered input can send it again unchanged."""

    topic: str
    key: str
    value: str
    headers: dict[str, str] = Field(default_factory=dict)


class ProcessedEvent(WireModel):
    event_id: str
    sent: list[SentMessage] = Field(default_factory=list)
    # False while a planner or assessor run started by this event is still under way: a
    # redelivery then re-sends what was sent so far and runs the model again.
    done: bool = True


class Completion(WireModel):
    """What the interview edge reported when the interview ended (the transcript goes to the assessor)."""

    session_id: str | None = None
    ended_at: str
    transcript_lines: int


class Interview(WireModel):
    interview_id: str
    tenant_id: str
    run_id: str
    external_id: str | None = None
    state: State = State.RECEIVED
    version: int = 0
    details: InterviewDetails = Field(default_factory=InterviewDetails)
    callback_url: str | None = None
    missing_fields: list[MissingField] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    data_quality: DataQuality | None = None
    plan: Plan | None = None
    validated_skills: list[str] = Field(default_factory=list)
    plan_run: RunReport | None = None
    # The plan / assessment a planner or assessor run is producing; results for any other id
    # (a plan the recruiter already replaced, say) are stale and not applied.
    pending_plan_id: str | None = None
    pending_assessment_id: str | None = None
    superseded_plan_ids: list[str] = Field(default_factory=list)
    access_link: AccessLink | None = None
    completion: Completion | None = None
    assessment: AssessmentCompleted | None = None
    assessment_run: RunReport | None = None
    # Webhooks are numbered per interview as transitions produce them, so the webhook agent
    # can deliver them in transition order whichever agent queued them first.
    webhook_sequence: int = 0
    history: list[HistoryEntry] = Field(default_factory=list)
    rejected_triggers: list[RejectedTrigger] = Field(default_factory=list)
    processed: list[ProcessedEvent] = Field(default_factory=list)
    created_at: str
    updated_at: str

    @classmethod
    def create(
        cls,
        *,
        interview_id: str,
        tenant_id: str,
        run_id: str,
        event_id: str,
        actor: str,
        at: str,
        external_id: str | None = None,
        details: InterviewDetails | None = None,
        callback_url: str | None = None,
    ) -> Interview:
        interview = cls(
            interview_id=interview_id,
            tenant_id=tenant_id,
            run_id=run_id,
            external_id=external_id,
            details=details or InterviewDetails(),
            callback_url=callback_url,
            created_at=at,
            updated_at=at,
        )
        interview.history.append(
            HistoryEntry(
                from_state=None, to_state=State.RECEIVED, trigger="created", event_id=event_id, actor=actor, at=at
            )
        )
        interview.version = 1
        return interview

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def apply(self, trigger: Trigger, *, event_id: str, actor: str, at: str, note: str | None = None) -> None:
        """Move to the state ``trigger`` leads to and record it; TransitionNotAllowed if forbidden."""
        target = next_state(self.state, trigger)
        self.history.append(
            HistoryEntry(
                from_state=self.state,
                to_state=target,
                trigger=trigger,
                event_id=event_id,
                actor=actor,
                at=at,
                note=note,
            )
        )
        self.state = target
        self.version += 1
        self.updated_at = at

    def record_rejection(self, trigger: str, *, event_id: str, actor: str, at: str, reason: str) -> None:
        self.rejected_triggers.append(
            RejectedTrigger(trigger=trigger, state=self.state, event_id=event_id, actor=actor, at=at, reason=reason)
        )
        del self.rejected_triggers[:-REJECTIONS_KEPT]

    def processed_event(self, event_id: str) -> ProcessedEvent | None:
        return next((p for p in self.processed if p.event_id == event_id), None)

    def mark_processed(self, event_id: str, sent: list[SentMessage], *, done: bool = True) -> None:
        existing = self.processed_event(event_id)
        if existing is not None:
            existing.sent.extend(sent)
            existing.done = done
            return
        self.processed.append(ProcessedEvent(event_id=event_id, sent=sent, done=done))
        del self.processed[:-PROCESSED_WINDOW]

    def next_webhook_sequence(self) -> int:
        self.webhook_sequence += 1
        return self.webhook_sequence
