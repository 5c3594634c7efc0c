"""The interview state machine of SPEC section 4, as data plus one pure function.

A transition is looked up in TRANSITIONS; anything not listed is forbidden. Where the contract
gives one trigger two outcomes (a plan for an auto-approving tenant, a rejection that asks for a
retry, info that is or is not complete) they are separate triggers, so the table stays total and
readable and no guard hides inside code.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    RECEIVED = "RECEIVED"
    INFO_NEEDED = "INFO_NEEDED"
    VALIDATING_SKILLS = "VALIDATING_SKILLS"
    GENERATING_PLAN = "GENERATING_PLAN"
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    COMPLETED = "COMPLETED"
    ASSESSMENT_PENDING = "ASSESSMENT_PENDING"
    ASSESSMENT_APPROVED = "ASSESSMENT_APPROVED"
    ASSESSMENT_REJECTED = "ASSESSMENT_REJECTED"
    CANCELLED = "CANCELLED"


class Trigger(StrEnum):
    INTAKE_FAILED = "intake_failed"
    INTAKE_PASSED = "intake_passed"
    INFO_COMPLETED = "info_completed"
    INFO_STILL_MISSING = "info_still_missing"
    PLANNER_STARTED = "planner_started"
    PLAN_GENERATED = "plan_generated"
    PLAN_AUTO_APPROVED = "plan_auto_approved"
    PLAN_APPROVED = "plan_approved"
    PLAN_REJECTED = "plan_rejected"
    PLAN_REJECTED_RETRY = "plan_rejected_retry"
    PLAN_REVISION_REQUESTED = "plan_revision_requested"
    INTERVIEW_COMPLETED = "interview_completed"
    ASSESSMENT_COMPLETED = "assessment_completed"
    ASSESSMENT_APPROVED = "assessment_approved"
    ASSESSMENT_REJECTED = "assessment_rejected"
    CANCEL = "cancel"


TERMINAL_STATES: frozenset[State] = frozenset(
    {State.REJECTED, State.ASSESSMENT_APPROVED, State.ASSESSMENT_REJECTED, State.CANCELLED}
)

_FLOW: dict[State, dict[Trigger, State]] = {
    State.RECEIVED: {
        Trigger.INTAKE_FAILED: State.INFO_NEEDED,
        Trigger.INTAKE_PASSED: State.VALIDATING_SKILLS,
    },
    State.INFO_NEEDED: {
        Trigger.INFO_COMPLETED: State.VALIDATING_SKILLS,
        Trigger.INFO_STILL_MISSING: State.INFO_NEEDED,
    },
    State.VALIDATING_SKILLS: {Trigger.PLANNER_STARTED: State.GENERATING_PLAN},
    State.GENERATING_PLAN: {
        Trigger.PLAN_GENERATED: State.PENDING,
        Trigger.PLAN_AUTO_APPROVED: State.APPROVED,
    },
    State.PENDING: {
        Trigger.PLAN_APPROVED: State.APPROVED,
        Trigger.PLAN_REJECTED: State.REJECTED,
        Trigger.PLAN_REJECTED_RETRY: State.GENERATING_PLAN,
        Trigger.PLAN_REVISION_REQUESTED: State.GENERATING_PLAN,
    },
    State.APPROVED: {Trigger.INTERVIEW_COMPLETED: State.COMPLETED},
    State.COMPLETED: {Trigger.ASSESSMENT_COMPLETED: State.ASSESSMENT_PENDING},
    State.ASSESSMENT_PENDING: {
        Trigger.ASSESSMENT_APPROVED: State.ASSESSMENT_APPROVED,
        Trigger.ASSESSMENT_REJECTED: State.ASSESSMENT_REJECTED,
    },
}

TRANSITIONS: dict[State, dict[Trigger, State]] = {
    state: ({} if state in TERMINAL_STATES else {**_FLOW.get(state, {}), Trigger.CANCEL: State.CANCELLED})
    for state in State
}


class TransitionNotAllowed(Exception):
    """The trigger is not allowed in the current state; nothing changed."""

    def __init__(self, state: State, trigger: Trigger):
        self.state = state
        self.trigger = trigger
        self.allowed = allowed_triggers(state)
        allowed = ", ".join(self.allowed) or "none (terminal state)"
        super().__init__(f"{trigger} is not allowed in state {state}; allowed: {allowed}")


def allowed_triggers(state: State) -> list[Trigger]:
    return list(TRANSITIONS[state])


def next_state(state: State, trigger: Trigger) -> State:
    """The state ``trigger`` leads to from ``state``, or TransitionNotAllowed."""
    try:
        return TRANSITIONS[state][trigger]
    except KeyError:
        raise TransitionNotAllowed(state, trigger) from None
