"""run_within: an offline planner run as one step gives exactly what begin, run, ready give as two."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from steps_support import ctx, decoded, new_row, requested

from domain.planner import build_planner
from domain.steps import (
    StepContext,
    StepResult,
    interview_requested,
    plan_ready,
    run_within,
    skill_validation_requested,
)
from domain.thinking import answers_at_once
from models.codec import BadMessage
from tables.interview import Interview
from tables.state_machine import State

PLANNER = build_planner()


def _in_two_steps(current: Interview | None, source: Any, step_ctx: StepContext) -> tuple[StepResult, StepResult]:
    begun = skill_validation_requested(current, source, step_ctx)
    assert begun.work is not None and begun.interview is not None
    written = Interview.model_validate_json(begun.interview.model_dump_json(by_alias=True))  # as stored
    thought = asyncio.run(PLANNER.ainvoke(begun.work))
    return begun, plan_ready(written, source, step_ctx, thought=thought)


def _asked() -> Any:
    return decoded(interview_requested(None, requested(), ctx()).sent[0])


def test_one_step_writes_the_row_two_steps_end_with() -> None:
    source, step_ctx, row = _asked(), ctx(), new_row()
    begun, ready = _in_two_steps(row.model_copy(deep=True), source, step_ctx)

    one = run_within(skill_validation_requested, PLANNER.invoke, plan_ready)(row, source, step_ctx)

    assert one.interview is not None and ready.interview is not None
    assert one.interview.state is State.GENERATING_PLAN
    assert one.interview.plan_run is not None
    assert one.interview.model_dump() == ready.interview.model_dump()
    assert [m.value for m in one.sent] == [m.value for m in begun.sent + ready.sent]
    assert one.work is None and one.dead_letter is None and not one.duplicate


def test_a_run_begun_before_a_crash_is_finished_in_one_step() -> None:
    source, step_ctx = _asked(), ctx()
    begun, ready = _in_two_steps(new_row(), source, step_ctx)
    assert begun.interview is not None  # written; the worker died before the model answered

    one = run_within(skill_validation_requested, PLANNER.invoke, plan_ready)(begun.interview, source, step_ctx)

    assert one.interview is not None
    assert [m.value for m in one.sent] == [m.value for m in ready.sent]
    assert one.interview.processed_event(source.id) is not None
    assert one.interview.processed_event(source.id).done  # type: ignore[union-attr]


def test_a_redelivery_after_the_write_replays_what_was_sent() -> None:
    source = _asked()
    step = run_within(skill_validation_requested, PLANNER.invoke, plan_ready)
    first = step(new_row(), source, ctx())

    again = step(first.interview, source, ctx())

    assert again.duplicate and again.interview is None
    assert [m.value for m in again.sent] == [m.value for m in first.sent]


def test_a_refused_begin_never_runs_the_model() -> None:
    calls: list[Any] = []
    step = run_within(skill_validation_requested, calls.append, plan_ready)
    row = new_row()
    row.details.skills, row.details.qualifications = [], []

    with pytest.raises(BadMessage, match="nothing to plan"):
        step(row, _asked(), ctx())
    assert calls == []


def test_only_the_offline_model_alone_answers_at_once() -> None:
    assert answers_at_once(PLANNER)
    assert not answers_at_once(build_planner(chat_model=FakeListChatModel(responses=["{}"])))
