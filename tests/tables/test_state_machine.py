"""The interview state machine (SPEC section 4) and the interview row that records it.

EXPECTED is written out from the contract's table, independently of tables.state_machine, and every
(State, Trigger) pair is checked against it: the allowed ones lead where the contract says, every
other one is refused and changes nothing.
"""

from __future__ import annotations

import itertools

import pytest

from tables.interview import PROCESSED_WINDOW, Interview, SentMessage
from tables.state_machine import TERMINAL_STATES, State, TransitionNotAllowed, Trigger, allowed_triggers, next_state

S, T = State, Trigger

NON_TERMINAL: tuple[State, ...] = (
    S.RECEIVED,
    S.INFO_NEEDED,
    S.VALIDATING_SKILLS,
    S.GENERATING_PLAN,
    S.PENDING,
    S.APPROVED,
    S.COMPLETED,
    S.ASSESSMENT_PENDING,
)
TERMINAL: tuple[State, ...] = (S.REJECTED, S.ASSESSMENT_APPROVED, S.ASSESSMENT_REJECTED, S.CANCELLED)

# (from, trigger) -> to, straight from the table in SPEC section 4.
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
    # "any non-terminal | cancel | CANCELLED"
    **{(state, T.CANCEL): S.CANCELLED for state in NON_TERMINAL},
}

ALL_PAIRS: list[tuple[State, Trigger]] = list(itertools.product(State, Trigger))
ALLOWED: list[tuple[State, Trigger, State]] = [(s, t, EXPECTED[(s, t)]) for s, t in ALL_PAIRS if (s, t) in EXPECTED]
FORBIDDEN: list[tuple[State, Trigger]] = [(s, t) for s, t in ALL_PAIRS if (s, t) not in EXPECTED]

AT = "2024-01-15T10:01:00.000Z"
LATER = "2024-01-15T10:02:30.250Z"


def _pair_id(pair: tuple[object, ...]) -> str:
    return "-".join(str(part) for part in pair)


def _row(state: State = State.RECEIVED) -> Interview:
    interview = Interview.create(
        interview_id="iv-1",
        tenant_id="acme",
        run_id="run_1705312860_0a1b2c3d",
        event_id="ev-create",
        actor="gateway",
        at=AT,
    )
    interview.state = state
    return interview


def test_every_state_and_trigger_is_covered() -> None:
    assert set(State) == set(NON_TERMINAL) | set(TERMINAL)
    assert len(ALLOWED) + len(FORBIDDEN) == len(State) * len(Trigger)
    assert {s for s, _ in EXPECTED} == set(NON_TERMINAL)


def test_terminal_states_are_the_contracts() -> None:
    assert set(TERMINAL_STATES) == set(TERMINAL)


@pytest.mark.parametrize(("state", "trigger", "target"), ALLOWED, ids=[_pair_id(p) for p in ALLOWED])
def test_next_state_of_allowed_pair(state: State, trigger: Trigger, target: State) -> None:
    assert next_state(state, trigger) is target


@pytest.mark.parametrize(("state", "trigger", "target"), ALLOWED, ids=[_pair_id(p) for p in ALLOWED])
def test_apply_allowed_pair_moves_and_records(state: State, trigger: Trigger, target: State) -> None:
    interview = _row(state)
    history_before = list(interview.history)
    version_before = interview.version

    interview.apply(trigger, event_id="ev-42", actor="recruiter@acme", at=LATER)

    assert interview.state is target
    assert interview.version == version_before + 1
    assert interview.updated_at == LATER
    assert interview.created_at == AT
    assert interview.history[:-1] == history_before
    entry = interview.history[-1]
    assert entry.from_state is state
    assert entry.to_state is target
    assert entry.trigger == trigger
    assert entry.event_id == "ev-42"
    assert entry.actor == "recruiter@acme"
    assert entry.at == LATER


@pytest.mark.parametrize(("state", "trigger"), FORBIDDEN, ids=[_pair_id(p) for p in FORBIDDEN])
def test_next_state_of_forbidden_pair_raises(state: State, trigger: Trigger) -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        next_state(state, trigger)

    message = str(caught.value)
    assert str(state) in message
    assert str(trigger) in message
    allowed_here = [t for (s, t) in EXPECTED if s is state]
    for allowed in allowed_here:
        assert str(allowed) in message
    assert caught.value.state is state
    assert caught.value.trigger is trigger
    assert set(caught.value.allowed) == set(allowed_here)


@pytest.mark.parametrize(("state", "trigger"), FORBIDDEN, ids=[_pair_id(p) for p in FORBIDDEN])
def test_apply_forbidden_pair_changes_nothing(state: State, trigger: Trigger) -> None:
    interview = _row(state)
    before = interview.model_dump()

    with pytest.raises(TransitionNotAllowed):
        interview.apply(trigger, event_id="ev-42", actor="recruiter@acme", at=LATER)

    assert interview.model_dump() == before


@pytest.mark.parametrize("state", TERMINAL)
def test_terminal_states_allow_nothing(state: State) -> None:
    assert allowed_triggers(state) == []
    assert _row(state).is_terminal
    for trigger in Trigger:
        with pytest.raises(TransitionNotAllowed, match="terminal"):
            next_state(state, trigger)


@pytest.mark.parametrize("state", NON_TERMINAL)
def test_non_terminal_states_allow_exactly_the_contracts_triggers(state: State) -> None:
    assert set(allowed_triggers(state)) == {t for (s, t) in EXPECTED if s is state}
    assert Trigger.CANCEL in allowed_triggers(state)
    assert not _row(state).is_terminal


def test_create_starts_received_with_one_history_entry() -> None:
    interview = Interview.create(
        interview_id="iv-7",
        tenant_id="acme",
        run_id="run_1705312860_0a1b2c3d",
        event_id="ev-create",
        actor="gateway",
        at=AT,
        external_id="ats-123",
        callback_url="https://ats.example.com/hook",
    )

    assert interview.state is State.RECEIVED
    assert interview.version == 1
    assert interview.created_at == interview.updated_at == AT
    assert interview.external_id == "ats-123"
    assert interview.callback_url == "https://ats.example.com/hook"
    assert len(interview.history) == 1
    entry = interview.history[0]
    assert entry.from_state is None
    assert entry.to_state is State.RECEIVED
    assert entry.event_id == "ev-create"
    assert entry.actor == "gateway"
    assert entry.at == AT
    assert interview.processed == []
    assert interview.rejected_triggers == []


def test_a_whole_happy_path_is_recorded_in_order() -> None:
    interview = _row()
    path = [
        (T.INTAKE_PASSED, S.VALIDATING_SKILLS),
        (T.PLANNER_STARTED, S.GENERATING_PLAN),
        (T.PLAN_GENERATED, S.PENDING),
        (T.PLAN_APPROVED, S.APPROVED),
        (T.INTERVIEW_COMPLETED, S.COMPLETED),
        (T.ASSESSMENT_COMPLETED, S.ASSESSMENT_PENDING),
        (T.ASSESSMENT_APPROVED, S.ASSESSMENT_APPROVED),
    ]
    for n, (trigger, _) in enumerate(path):
        interview.apply(trigger, event_id=f"ev-{n}", actor="test", at=LATER)

    assert interview.state is S.ASSESSMENT_APPROVED
    assert interview.version == 1 + len(path)
    assert [h.to_state for h in interview.history] == [S.RECEIVED, *(to for _, to in path)]
    assert [h.from_state for h in interview.history] == [None, S.RECEIVED, *(to for _, to in path[:-1])]
    assert interview.is_terminal


def test_processed_event_is_remembered_with_what_it_sent() -> None:
    interview = _row()
    sent = [SentMessage(topic="plan.generated", key="iv-1", value='{"a":1}')]

    assert interview.processed_event("ev-1") is None
    interview.mark_processed("ev-1", sent)

    processed = interview.processed_event("ev-1")
    assert processed is not None
    assert processed.sent == sent
    assert interview.processed_event("ev-2") is None


def test_processed_window_drops_the_oldest() -> None:
    interview = _row()
    ids = [f"ev-{n}" for n in range(PROCESSED_WINDOW + 1)]
    for event_id in ids:
        interview.mark_processed(event_id, [])

    assert len(interview.processed) == PROCESSED_WINDOW
    assert interview.processed_event(ids[0]) is None
    for event_id in ids[1:]:
        assert interview.processed_event(event_id) is not None
    assert [p.event_id for p in interview.processed] == ids[1:]


def test_processed_window_keeps_everything_up_to_its_size() -> None:
    interview = _row()
    for n in range(PROCESSED_WINDOW):
        interview.mark_processed(f"ev-{n}", [])

    assert interview.processed_event("ev-0") is not None
    assert len(interview.processed) == PROCESSED_WINDOW


@pytest.mark.parametrize("state", [S.RECEIVED, S.VALIDATING_SKILLS, S.CANCELLED])
def test_record_rejection_keeps_state_and_records(state: State) -> None:
    interview = _row(state)
    version, history = interview.version, list(interview.history)

    interview.record_rejection("plan_approved", event_id="ev-9", actor="recruiter", at=LATER, reason="not allowed")

    assert interview.state is state
    assert interview.version == version
    assert interview.history == history
    rejected = interview.rejected_triggers[-1]
    assert rejected.trigger == "plan_approved"
    assert rejected.state is state
    assert rejected.event_id == "ev-9"
    assert rejected.actor == "recruiter"
    assert rejected.at == LATER
    assert rejected.reason == "not allowed"


def test_history_serialises_with_from_and_to_keys() -> None:
    interview = _row()
    interview.apply(T.INTAKE_PASSED, event_id="ev-2", actor="gateway", at=LATER)

    wire = interview.to_wire()
    history = wire["history"]
    assert isinstance(history, list)
    assert history[1] == {
        "from": "RECEIVED",
        "to": "VALIDATING_SKILLS",
        "trigger": "intake_passed",
        "eventId": "ev-2",
        "actor": "gateway",
        "at": LATER,
    }
    # The creation entry keeps its "from" (as null) when None is not excluded, as /history serves it.
    assert interview.history[0].to_wire(exclude_none=False)["from"] is None
    assert interview.history[0].to_wire(exclude_none=False)["to"] == "RECEIVED"


def test_row_round_trips_through_its_table_json() -> None:
    interview = _row()
    interview.apply(T.INTAKE_FAILED, event_id="ev-2", actor="gateway", at=LATER)
    interview.mark_processed("ev-2", [SentMessage(topic="interview.info_needed", key="iv-1", value="{}")])
    interview.record_rejection("plan_approved", event_id="ev-3", actor="x", at=LATER, reason="no")

    restored = Interview.model_validate_json(interview.model_dump_json(by_alias=True))

    assert restored == interview
