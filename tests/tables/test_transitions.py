"""Every state against every trigger, checked against SPEC section 4 written out independently."""

from __future__ import annotations

import pytest

from tables.interview import PROCESSED_WINDOW, Interview
from tables.state_machine import State, TransitionNotAllowed, Trigger, next_state

S, T = State, Trigger
NON_TERMINAL = [s for s in S if s not in {S.REJECTED, S.ASSESSMENT_APPROVED, S.ASSESSMENT_REJECTED, S.CANCELLED}]

EXPECTED: dict[tuple[State, Trigger], State] = {
    (S.RECEIVED, T.INTAKE_FAILED): S.INFO_NEEDED,
    (S.RECEIVED, T.INTAKE_PASSED): S.VALIDATING_SKILLS,
    (S.INFO_NEEDED, T.INFO_COMPLETED): S.VALIDATING_SKILLS,
    (S.INFO_NEEDED, T.INFO_STILL_MISSING): S.INFO_NEEDED,
    (S.VALIDATING_SKILLS, T.PLANNER_STARTED): S.GENERATING_PLAN,
    (S.GENERATING_PLAN, T.PLAN_GENERATED): S.PENDING,
    (S.GENERATING_PLAN, T.PLAN_AUTO_APPROVED): S.APPROVED,
    (S.PENDING, T.PLAN_APPROVED): S.APPROVED,
    (S.PENDING, T.PLAN_REJECTED): S.REJECTED,
    (S.PENDING, T.PLAN_REJECTED_RETRY): S.GENERATING_PLAN,
    (S.PENDING, T.PLAN_REVISION_REQUESTED): S.GENERATING_PLAN,
    (S.APPROVED, T.INTERVIEW_COMPLETED): S.COMPLETED,
    (S.COMPLETED, T.ASSESSMENT_COMPLETED): S.ASSESSMENT_PENDING,
    (S.ASSESSMENT_PENDING, T.ASSESSMENT_APPROVED): S.ASSESSMENT_APPROVED,
    (S.ASSESSMENT_PENDING, T.ASSESSMENT_REJECTED): S.ASSESSMENT_REJECTED,
    **{(state, T.CANCEL): S.CANCELLED for state in NON_TERMINAL},
}


def row(state: State) -> Interview:
    interview = Interview.create(
        interview_id="iv-1", tenant_id="acme", run_id="run_1_abcdef01", event_id="e0", actor="test", at="t0"
    )
    interview.state = state
    return interview


@pytest.mark.parametrize(("state", "trigger"), [(s, t) for s in S for t in T], ids=lambda v: str(v))
def test_every_state_and_trigger(state: State, trigger: Trigger) -> None:
    interview = row(state)
    before = interview.model_dump()
    expected = EXPECTED.get((state, trigger))
    if expected is None:
        with pytest.raises(TransitionNotAllowed) as refused:
            interview.apply(trigger, event_id="e1", actor="someone", at="t1")
        assert str(state) in str(refused.value) and str(trigger) in str(refused.value)
        assert refused.value.allowed == [t for (s, t) in EXPECTED if s == state]
        assert interview.model_dump() == before
        return
    assert next_state(state, trigger) is expected
    interview.apply(trigger, event_id="e1", actor="someone", at="t1")
    assert interview.state is expected
    assert interview.version == before["version"] + 1
    assert interview.updated_at == "t1"
    last = interview.history[-1]
    assert (last.from_state, last.to_state, last.trigger, last.event_id, last.actor, last.at) == (
        state,
        expected,
        trigger,
        "e1",
        "someone",
        "t1",
    )


@pytest.mark.parametrize("state", [S.REJECTED, S.ASSESSMENT_APPROVED, S.ASSESSMENT_REJECTED, S.CANCELLED])
def test_terminal_states_allow_nothing(state: State) -> None:
    with pytest.raises(TransitionNotAllowed, match="terminal"):
        next_state(state, T.CANCEL)


def test_a_new_interview_starts_received_with_its_creation_in_history() -> None:
    interview = row(S.RECEIVED)
    assert interview.state is S.RECEIVED and interview.version == 1
    assert interview.history[0].to_wire(exclude_none=False)["from"] is None
    assert interview.history[0].to_wire()["to"] == "RECEIVED"


def test_applied_event_ids_are_remembered_in_a_bounded_window() -> None:
    interview = row(S.RECEIVED)
    for n in range(PROCESSED_WINDOW + 5):
        interview.mark_processed(f"e{n}", [])
    assert interview.processed_event("e0") is None
    assert interview.processed_event(f"e{PROCESSED_WINDOW + 4}") is not None
    assert len(interview.processed) == PROCESSED_WINDOW


def test_a_refused_trigger_is_recorded_without_changing_state() -> None:
    interview = row(S.PENDING)
    interview.record_rejection(T.PLANNER_STARTED, event_id="e9", actor="planner", at="t9", reason="not allowed")
    assert interview.state is S.PENDING
    assert interview.rejected_triggers[0].state is S.PENDING
