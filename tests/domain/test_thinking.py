"""domain.thinking: structured output from a chat model, retries, token budget and the offline fallback.

Every model here is one of langchain-core's fake chat models (or a subclass of one): no network.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel

from domain.planner import PlanRequest, build_planner, offline_plan
from domain.thinking import (
    ModelSettings,
    RunReport,
    Thought,
    estimate_tokens,
    load_chat_model,
    model_settings_from_env,
    thinking_runnable,
)
from models.payloads import Level
from models.plan import Plan

FAKE_LIST = "langchain_core.language_models.fake_chat_models:FakeListChatModel"


def request(**changes: Any) -> PlanRequest:
    fields: dict[str, Any] = {
        "plan_id": "plan-1",
        "level": Level.SENIOR,
        "skills": ["TypeScript", "React", "Node.js"],
        "job_description": "Build scalable platform services.",
    }
    return PlanRequest(**{**fields, **changes})


def draft(skills: list[str], *, duration: int = 50, plan_id: str = "model-made-id") -> dict[str, Any]:
    """A plan as a chat model would write it (camelCase, with an id of its own that must not survive)."""
    return {
        "planId": plan_id,
        "competencies": [
            {
                "name": skill,
                "weight": round(1 / len(skills), 3),
                "required": True,
                "minimumScore": 3,
                "questions": [f"Model question about {skill}?"],
            }
            for skill in skills
        ],
        "durationMinutes": duration,
        "greeting": "Hi from the model.",
    }


def fenced(payload: dict[str, Any]) -> str:
    return f"Here is the plan:\n```json\n{json.dumps(payload)}\n```"


GOOD = fenced(draft(["TypeScript", "React", "Node.js"]))
PARTIAL = json.dumps(draft(["TypeScript", "React"]))
PROSE = "I would be glad to help you plan this interview!"


class RecordingChatModel(FakeListChatModel):
    """FakeListChatModel that remembers every prompt it was sent."""

    seen: list[list[BaseMessage]] = []

    def _call(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> str:
        self.seen.append(list(messages))
        return super()._call(messages, *args, **kwargs)


class BrokenChatModel(BaseChatModel):
    """Fails like a provider whose endpoint is down; after ``failures`` calls it answers ``answer``."""

    failures: int = 1_000_000
    answer: str = ""
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "broken-fake"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("model endpoint unreachable")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.answer))])


def think(model: BaseChatModel | None, req: PlanRequest | None = None, **settings: Any) -> Thought[Plan]:
    return build_planner(ModelSettings(**settings), chat_model=model).invoke(req or request())


async def athink(model: BaseChatModel | None, req: PlanRequest | None = None, **settings: Any) -> Thought[Plan]:
    return await build_planner(ModelSettings(**settings), chat_model=model).ainvoke(req or request())


def nodes(report: RunReport) -> list[str]:
    return [step.node for step in report.steps]


def assert_consistent(report: RunReport, settings: ModelSettings | None = None) -> None:
    settings = settings or ModelSettings()
    assert report.tokens_used == sum(step.tokens_used for step in report.steps)
    assert math.isclose(report.cost_usd, report.tokens_used / 1000 * settings.cost_per_1k_tokens_usd)
    assert report.attempts == nodes(report).count("model_call")
    assert all(step.message for step in report.steps)


# --- no chat model -------------------------------------------------------------------------


async def test_without_a_chat_model_the_offline_runnable_answers() -> None:
    thought = await athink(None)

    assert thought.output == offline_plan(request())
    report = thought.report
    assert (report.agent, report.model, report.attempts) == ("planner", "offline", 0)
    assert report.fallback_used is False
    assert report.fallback_reason is None
    assert (report.tokens_used, report.cost_usd, report.budget_exceeded) == (0, 0.0, False)
    assert nodes(report) == ["offline"]
    assert think(None) == thought


# --- structured output ---------------------------------------------------------------------


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_structured_output_from_the_model_becomes_the_plan(run: str) -> None:
    model = FakeListChatModel(responses=[GOOD])
    planner = build_planner(chat_model=model)
    thought = planner.invoke(request()) if run == "invoke" else await planner.ainvoke(request())

    plan = thought.output
    assert isinstance(plan, Plan)
    assert plan.plan_id == "plan-1"  # ours, not the model's "model-made-id"
    assert [c.name for c in plan.competencies] == ["TypeScript", "React", "Node.js"]
    assert plan.competencies[0].questions == ["Model question about TypeScript?"]
    assert plan.greeting == "Hi from the model."
    assert plan.duration_minutes == 50
    assert plan != offline_plan(request())

    report = thought.report
    assert report.model == "FakeListChatModel"
    assert report.attempts == 1
    assert report.fallback_used is False
    assert report.fallback_reason is None
    assert report.budget_exceeded is False
    assert report.tokens_used > 0
    assert nodes(report) == ["model_call", "parse", "validate"]
    assert_consistent(report)


def test_the_prompt_carries_the_request_and_the_format_instructions() -> None:
    model = RecordingChatModel(responses=[GOOD], seen=[])
    think(model, request(instructions="Focus on   testing", position="Platform Engineer"))

    assert len(model.seen) == 1
    prompt = "\n".join(str(m.text) for m in model.seen[0])
    for expected in ("TypeScript, React, Node.js", "SENIOR", "Platform Engineer", "Focus on testing"):
        assert expected in prompt
    # PydanticOutputParser's instructions: the JSON schema of the draft, with the wire (camelCase) names.
    assert "JSON schema" in prompt
    assert '"competencies"' in prompt
    assert '"durationMinutes"' in prompt


def test_tokens_come_from_usage_metadata_when_the_model_reports_them() -> None:
    answer = AIMessage(content=GOOD, usage_metadata={"input_tokens": 1000, "output_tokens": 234, "total_tokens": 1234})
    settings = ModelSettings(cost_per_1k_tokens_usd=0.5)
    thought = build_planner(settings, chat_model=GenericFakeChatModel(messages=iter([answer]))).invoke(request())

    assert thought.report.model == "GenericFakeChatModel"
    assert thought.report.tokens_used == 1234
    assert thought.report.cost_usd == pytest.approx(0.617)
    assert_consistent(thought.report, settings)


def test_tokens_are_estimated_at_four_characters_each_without_usage_metadata() -> None:
    model = RecordingChatModel(responses=[GOOD], seen=[])
    thought = think(model)

    prompt = "\n".join(str(m.text) for m in model.seen[0])
    assert thought.report.tokens_used == estimate_tokens(prompt) + estimate_tokens(GOOD)
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("") == 0


def test_model_spelling_of_skills_is_replaced_by_the_requests() -> None:
    answer = json.dumps(draft(["typescript", "REACT", "node.js", "Communication"]))
    thought = think(FakeListChatModel(responses=[answer]))

    assert thought.report.fallback_used is False
    assert [c.name for c in thought.output.competencies] == ["TypeScript", "React", "Node.js", "Communication"]


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "failed"),
    [
        (PROSE, ["parse"]),
        (PARTIAL, ["parse", "validate"]),
        (json.dumps({"greeting": "no competencies"}), ["parse"]),
        (json.dumps(draft(["TypeScript", "React", "Node.js", "react"])), ["parse", "validate"]),
        (json.dumps(draft(["TypeScript", "React", "Node.js"], duration=0)), ["parse", "validate"]),
    ],
    ids=["prose", "misses-a-skill", "schema-violation", "duplicate-competency", "zero-duration"],
)
async def test_a_bad_first_answer_is_retried(first: str, failed: list[str]) -> None:
    thought = await athink(FakeMessagesListChatModel(responses=[AIMessage(content=first), AIMessage(content=GOOD)]))

    assert thought.report.attempts == 2
    assert thought.report.fallback_used is False
    assert thought.report.fallback_reason is None
    assert [c.name for c in thought.output.competencies] == ["TypeScript", "React", "Node.js"]
    assert nodes(thought.report) == ["model_call", *failed, "model_call", "parse", "validate"]
    assert thought.report.steps[len(failed)].message.startswith("attempt 1:")
    assert_consistent(thought.report)


def test_a_failed_call_is_retried() -> None:
    model = BrokenChatModel(failures=1, answer=GOOD)
    thought = think(model)

    assert model.calls == 2
    assert thought.report.attempts == 2
    assert thought.report.fallback_used is False
    assert thought.output.greeting == "Hi from the model."
    assert "ConnectionError" in thought.report.steps[0].message


# --- fallback ------------------------------------------------------------------------------


@pytest.mark.parametrize("attempts", [1, 2, 3])
async def test_only_bad_answers_fall_back_to_the_offline_plan(attempts: int) -> None:
    model = FakeListChatModel(responses=[PROSE, PARTIAL])
    thought = await athink(model, max_attempts=attempts)

    assert thought.output == offline_plan(request())
    report = thought.report
    assert report.model == "FakeListChatModel"
    assert report.attempts == attempts
    assert report.fallback_used is True
    assert report.fallback_reason is not None
    assert report.fallback_reason.startswith(f"model output unparsable after {attempts} attempts: ")
    last_error = "does not cover Node.js" if attempts % 2 == 0 else "OutputParserException"
    assert last_error in report.fallback_reason
    assert nodes(report)[-2:] == ["fallback", "offline"]
    assert report.steps[-2].message == report.fallback_reason
    assert report.budget_exceeded is False
    assert_consistent(report)


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_a_model_that_raises_falls_back_naming_the_exception(run: str) -> None:
    model = BrokenChatModel()
    thought = think(model) if run == "invoke" else await athink(model)

    assert model.calls == 2  # the default max_attempts
    assert thought.output == offline_plan(request())
    assert thought.report.fallback_used is True
    assert thought.report.fallback_reason == "model call failed: ConnectionError: model endpoint unreachable"
    assert thought.report.tokens_used == 0
    assert nodes(thought.report) == ["model_call", "model_call", "fallback", "offline"]


def test_errors_of_the_offline_runnable_propagate() -> None:
    def broken(_: str) -> Plan:
        raise RuntimeError("offline planner broke")

    runnable = thinking_runnable(
        "toy",
        offline=RunnableLambda(broken),
        output_model=Plan,
        prompt=ChatPromptTemplate.from_messages([("human", "{text}\n{format_instructions}")]),
        prompt_vars=lambda text: {"text": text},
        finalize=lambda _, plan: plan,
        chat_model=FakeListChatModel(responses=[PROSE]),
        settings=ModelSettings(),
    )
    with pytest.raises(RuntimeError, match="offline planner broke"):
        runnable.invoke("anything")


def test_an_empty_request_fails_before_any_model_call() -> None:
    model = RecordingChatModel(responses=[GOOD], seen=[])
    with pytest.raises(ValueError, match="nothing to plan"):
        think(model, request(skills=[], qualifications=[]))
    assert model.seen == []


# --- token budget --------------------------------------------------------------------------


def test_a_prompt_larger_than_the_budget_is_never_sent() -> None:
    model = RecordingChatModel(responses=[GOOD], seen=[])
    thought = think(model, token_budget=10)

    assert model.seen == []
    report = thought.report
    assert report.budget_exceeded is True
    assert report.fallback_used is True
    assert report.attempts == 0
    assert report.tokens_used == 0
    assert report.fallback_reason is not None
    assert report.fallback_reason.startswith("token budget 10 exceeded")
    assert thought.output == offline_plan(request())
    assert nodes(report) == ["budget", "fallback", "offline"]


async def test_an_answer_that_exceeds_the_budget_is_discarded() -> None:
    usage = {"input_tokens": 9000, "output_tokens": 123, "total_tokens": 9123}
    model = GenericFakeChatModel(messages=iter([AIMessage(content=GOOD, usage_metadata=usage)]))
    settings = ModelSettings(token_budget=8000, cost_per_1k_tokens_usd=2.0)
    thought = await build_planner(settings, chat_model=model).ainvoke(request())

    report = thought.report
    assert report.fallback_reason == "token budget 8000 exceeded (9123 tokens)"
    assert report.budget_exceeded is True
    assert report.fallback_used is True
    assert report.attempts == 1  # no second call once the budget is spent
    assert report.tokens_used == 9123
    assert report.cost_usd == pytest.approx(18.246)
    assert thought.output == offline_plan(request())
    assert_consistent(report, settings)


def test_the_budget_counts_every_attempt_of_the_run() -> None:
    recorder = RecordingChatModel(responses=[PROSE], seen=[])
    think(recorder, max_attempts=1)
    prompt_tokens = estimate_tokens("\n".join(str(m.text) for m in recorder.seen[0]))
    assert prompt_tokens < 500  # so the second call passes the prompt check and the total then breaks the budget

    usage = {"input_tokens": 400, "output_tokens": 100, "total_tokens": 500}
    answers = [AIMessage(content=PROSE, usage_metadata=usage) for _ in range(3)]
    budget = 500 + prompt_tokens
    thought = think(FakeMessagesListChatModel(responses=answers), token_budget=budget, max_attempts=3)

    assert thought.report.attempts == 2
    assert thought.report.tokens_used == 1000
    assert thought.report.fallback_reason == f"token budget {budget} exceeded (1000 tokens)"


# --- report and Thought on the wire --------------------------------------------------------


def test_report_travels_in_camel_case_and_round_trips() -> None:
    thought = think(FakeListChatModel(responses=[PROSE]), max_attempts=1)
    wire = thought.report.to_wire(exclude_none=False)

    assert {"fallbackUsed", "fallbackReason", "tokensUsed", "costUsd", "budgetExceeded"} <= set(wire)
    assert set(wire["steps"][0]) == {"node", "tokensUsed", "message"}  # type: ignore[index]
    assert RunReport.model_validate(wire) == thought.report


def test_a_thought_serialises_its_output() -> None:
    thought = think(None)
    dumped = thought.model_dump(mode="json")

    assert dumped["output"]["plan_id"] == "plan-1"
    assert Thought[Plan].model_validate(dumped) == Thought[Plan](output=thought.output, report=thought.report)


def test_a_prompt_without_format_instructions_is_refused() -> None:
    class Out(BaseModel):
        text: str

    with pytest.raises(ValueError, match="format_instructions"):
        thinking_runnable(
            "toy",
            offline=RunnableLambda(lambda text: Out(text=text)),
            output_model=Out,
            prompt=ChatPromptTemplate.from_messages([("human", "{text}")]),
            prompt_vars=lambda text: {"text": text},
            finalize=lambda _, out: out,
            chat_model=None,
            settings=ModelSettings(),
        )


# --- settings ------------------------------------------------------------------------------


def test_settings_default_to_offline() -> None:
    settings = model_settings_from_env({}, "PLANNER")

    assert settings == ModelSettings()
    assert settings.import_path is None
    assert (settings.max_attempts, settings.token_budget, settings.cost_per_1k_tokens_usd) == (2, 8000, 0.0)
    assert load_chat_model(settings) is None


def test_settings_read_every_variable_of_the_prefix() -> None:
    env = {
        "ASSESSOR_MODEL": FAKE_LIST,
        "ASSESSOR_MODEL_KWARGS": '{"responses": ["a", "b"], "sleep": null}',
        "ASSESSOR_MAX_ATTEMPTS": "3",
        "ASSESSOR_TOKEN_BUDGET": " 12000 ",
        "ASSESSOR_COST_PER_1K_TOKENS_USD": "0.25",
        "PLANNER_MAX_ATTEMPTS": "9",  # another prefix: ignored
    }
    settings = model_settings_from_env(env, "ASSESSOR")

    assert settings == ModelSettings(
        import_path=FAKE_LIST,
        kwargs={"responses": ["a", "b"], "sleep": None},
        max_attempts=3,
        token_budget=12000,
        cost_per_1k_tokens_usd=0.25,
    )


@pytest.mark.parametrize("value", ["", "   ", "offline", "OFFLINE"])
def test_blank_or_offline_model_means_no_model(value: str) -> None:
    assert model_settings_from_env({"PLANNER_MODEL": value}, "PLANNER").import_path is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PLANNER_MODEL_KWARGS", "{not json", "PLANNER_MODEL_KWARGS must be a JSON object"),
        ("PLANNER_MODEL_KWARGS", '["a"]', "PLANNER_MODEL_KWARGS must be a JSON object, got list"),
        ("PLANNER_MAX_ATTEMPTS", "two", "PLANNER_MAX_ATTEMPTS must be a whole number >= 1, got 'two'"),
        ("PLANNER_MAX_ATTEMPTS", "0", "PLANNER_MAX_ATTEMPTS must be a whole number >= 1"),
        ("PLANNER_MAX_ATTEMPTS", "1.5", "PLANNER_MAX_ATTEMPTS must be a whole number"),
        ("PLANNER_TOKEN_BUDGET", "-5", "PLANNER_TOKEN_BUDGET must be a whole number >= 1"),
        ("PLANNER_COST_PER_1K_TOKENS_USD", "cheap", "PLANNER_COST_PER_1K_TOKENS_USD must be a number >= 0"),
        ("PLANNER_COST_PER_1K_TOKENS_USD", "-0.1", "PLANNER_COST_PER_1K_TOKENS_USD must be a number >= 0"),
        ("PLANNER_COST_PER_1K_TOKENS_USD", "nan", "PLANNER_COST_PER_1K_TOKENS_USD must be a number >= 0"),
        ("PLANNER_COST_PER_1K_TOKENS_USD", "inf", "PLANNER_COST_PER_1K_TOKENS_USD must be a number >= 0"),
        ("PLANNER_MODEL", "not a path", "PLANNER_MODEL must look like 'package.module:ClassName'"),
        ("PLANNER_MODEL", "JustAName", "PLANNER_MODEL must look like"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        model_settings_from_env({name: value}, "PLANNER")
    assert message in str(raised.value)


def test_settings_never_show_the_model_kwargs() -> None:
    settings = ModelSettings(import_path=FAKE_LIST, kwargs={"api_key": "sk-very-secret"})
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings)


# --- loading a chat model by import path ---------------------------------------------------


@pytest.mark.parametrize("path", [FAKE_LIST, FAKE_LIST.replace(":", ".")], ids=["colon", "dotted"])
def test_a_chat_model_loads_by_import_path(path: str) -> None:
    model = load_chat_model(ModelSettings(import_path=path, kwargs={"responses": [GOOD]}))

    assert isinstance(model, FakeListChatModel)
    assert model.responses == [GOOD]


def test_the_planner_uses_the_model_its_settings_name() -> None:
    settings = model_settings_from_env(
        {"PLANNER_MODEL": FAKE_LIST, "PLANNER_MODEL_KWARGS": json.dumps({"responses": [GOOD]})}, "PLANNER"
    )
    thought = build_planner(settings).invoke(request())

    assert thought.report.model == "FakeListChatModel"
    assert thought.report.fallback_used is False
    assert thought.output.greeting == "Hi from the model."


def test_a_chat_model_argument_overrides_the_settings() -> None:
    settings = ModelSettings(import_path=FAKE_LIST, kwargs={"responses": [PROSE]})
    thought = build_planner(settings, chat_model=GenericFakeChatModel(messages=iter([GOOD]))).invoke(request())

    assert thought.report.model == "GenericFakeChatModel"
    assert thought.report.fallback_used is False


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_package.models:Chat", "cannot import 'no_such_package.models'"),
        ("langchain_core.language_models.fake_chat_models:NoSuchModel", "has no 'NoSuchModel'"),
        ("langchain_core.messages:AIMessage", "is not a langchain-core BaseChatModel class"),
        ("langchain_core.language_models.fake_chat_models:FakeListChatModelError", "is not a langchain-core"),
        ("json:dumps", "is not a langchain-core BaseChatModel class"),
        ("::", "must look like 'package.module:ClassName'"),
    ],
)
def test_a_bad_import_path_is_a_clear_error(path: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        load_chat_model(ModelSettings(import_path=path))
    assert message in str(raised.value)
    assert path in str(raised.value) or path == "::"


def test_bad_model_kwargs_name_the_field_but_not_the_value() -> None:
    with pytest.raises(ValueError) as raised:
        load_chat_model(ModelSettings(import_path=FAKE_LIST, kwargs={"responses": "sk-very-secret"}))
    assert "rejected its kwargs: responses" in str(raised.value)
    assert "sk-very-secret" not in str(raised.value)
