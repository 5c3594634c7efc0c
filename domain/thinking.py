"""Agents that think (SPEC section 6): an optional chat model in front of an offline, deterministic Runnable.

``thinking_runnable`` asks the chat model for structured output (a pydantic model described to it by
``PydanticOutputParser``), retries unparsable or incomplete answers, keeps to a token budget, and falls back
to the offline Runnable when the model cannot deliver. Every run returns a ``Thought``: the output plus a
``RunReport`` of what happened, step by step, for the run stream and the interview row.

Pure Python and langchain-core: no Faust, no Kafka, and no network unless a configured chat model uses one.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import PydanticOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, ensure_config
from pydantic import BaseModel, Field, ValidationError

from models.base import WireModel

InT = TypeVar("InT")
# Unbound on purpose: an unparametrised Thought then serialises its output by the output's own type.
OutT = TypeVar("OutT")
DraftT = TypeVar("DraftT", bound=BaseModel)

OFFLINE = "offline"
FORMAT_INSTRUCTIONS = "format_instructions"
# Error texts quote the model's output; keep reports and stream events small.
MAX_ERROR_CHARS = 400


# The ignore: pydantic's mypy plugin synthesises __init__(**kwargs), which clashes with a field named kwargs.
class ModelSettings(BaseModel):  # type: ignore[no-redef]
    """Which chat model an agent uses, and how much it may spend on one run."""

    import_path: str | None = None  # "pkg.module:ClassName" or "pkg.module.ClassName"; None = offline only
    # repr=False: kwargs may carry an API key, and settings end up in logs.
    kwargs: dict[str, Any] = Field(default_factory=dict, repr=False)
    max_attempts: int = Field(default=2, ge=1)
    token_budget: int = Field(default=8000, ge=1)
    cost_per_1k_tokens_usd: float = Field(default=0.0, ge=0, allow_inf_nan=False)


def model_settings_from_env(env: Mapping[str, str], prefix: str) -> ModelSettings:
    """``{prefix}_MODEL``, ``_MODEL_KWARGS`` (JSON object), ``_MAX_ATTEMPTS``, ``_TOKEN_BUDGET``,
    ``_COST_PER_1K_TOKENS_USD``. Unset or blank variables keep the defaults; ``offline`` means no model.
    """

    def value(suffix: str) -> str | None:
        raw = env.get(f"{prefix}_{suffix}")
        return raw.strip() if raw is not None and raw.strip() else None

    defaults = ModelSettings()
    import_path = value("MODEL")
    if import_path is not None and import_path.casefold() == OFFLINE:
        import_path = None
    if import_path is not None:
        _split_import_path(import_path, f"{prefix}_MODEL")

    kwargs: dict[str, Any] = {}
    raw_kwargs = value("MODEL_KWARGS")
    if raw_kwargs is not None:
        try:
            parsed = json.loads(raw_kwargs)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{prefix}_MODEL_KWARGS must be a JSON object: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"{prefix}_MODEL_KWARGS must be a JSON object, got {type(parsed).__name__}")
        kwargs = parsed

    return ModelSettings(
        import_path=import_path,
        kwargs=kwargs,
        max_attempts=_int_from(value("MAX_ATTEMPTS"), f"{prefix}_MAX_ATTEMPTS", defaults.max_attempts),
        token_budget=_int_from(value("TOKEN_BUDGET"), f"{prefix}_TOKEN_BUDGET", defaults.token_budget),
        cost_per_1k_tokens_usd=_cost_from(value("COST_PER_1K_TOKENS_USD"), f"{prefix}_COST_PER_1K_TOKENS_USD"),
    )


def _int_from(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    try:
        number = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number >= 1, got {raw!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {raw!r}")
    return number


def _cost_from(raw: str | None, name: str) -> float:
    if raw is None:
        return 0.0
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number >= 0, got {raw!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a number >= 0, got {raw!r}")
    return number


def _split_import_path(import_path: str, what: str = "model import path") -> tuple[str, str]:
    module, sep, attribute = import_path.strip().partition(":")
    if not sep:
        module, _, attribute = import_path.strip().rpartition(".")
    if not module or not attribute or not all(part.isidentifier() for part in [*module.split("."), attribute]):
        raise ValueError(f"{what} must look like 'package.module:ClassName', got {import_path!r}")
    return module, attribute


def load_chat_model(settings: ModelSettings) -> BaseChatModel | None:
    """The configured chat model, or None when the agent runs offline only."""
    if settings.import_path is None:
        return None
    module_name, class_name = _split_import_path(settings.import_path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"chat model {settings.import_path!r}: cannot import {module_name!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError(f"chat model {settings.import_path!r}: module {module_name!r} has no {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, BaseChatModel)):
        raise ValueError(f"chat model {settings.import_path!r} is not a langchain-core BaseChatModel class")
    try:
        return cls(**settings.kwargs)
    except ValidationError as exc:
        # Name the failing fields only: the input values may be secrets.
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"chat model {settings.import_path!r} rejected its kwargs: {problems}") from None
    except Exception as exc:
        raise ValueError(f"chat model {settings.import_path!r} could not be created: {type(exc).__name__}") from exc


class RunStep(WireModel):
    node: str  # "model_call", "parse", "validate", "budget", "fallback", "offline"
    tokens_used: int
    message: str


class RunReport(WireModel):
    agent: str
    model: str  # the chat model's class name, or "offline"
    attempts: int  # model calls made
    fallback_used: bool
    fallback_reason: str | None
    tokens_used: int
    cost_usd: float
    budget_exceeded: bool
    steps: list[RunStep]
    execution_id: str | None = None  # the planId / assessmentId the run produced (set by the step)


class Thought(BaseModel, Generic[OutT]):
    output: OutT
    report: RunReport


def estimate_tokens(text: str) -> int:
    """About four characters per token: langchain's own counter needs transformers, which we do not ship."""
    return math.ceil(len(text) / 4)


def _messages_text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(message.text) for message in messages)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _describe(exc: BaseException) -> str:
    return _short(f"{type(exc).__name__}: {exc}")


class _Run(Generic[InT, OutT, DraftT]):
    """The bookkeeping of one run, shared by the sync and async paths so they cannot drift apart."""

    def __init__(self, spec: _Spec[InT, OutT, DraftT], request: InT) -> None:
        self.spec = spec
        self.request = request
        self.steps: list[RunStep] = []
        self.attempts = 0
        self.tokens_used = 0
        self.budget_exceeded = False
        self.failure: str | None = None  # why the model's last attempt did not count: the fallback reason

    def step(self, node: str, message: str, tokens: int = 0) -> None:
        self.steps.append(RunStep(node=node, tokens_used=tokens, message=message))

    def next_messages(self) -> list[BaseMessage] | None:
        """The prompt for the next model call, or None when no further call may be made."""
        if self.budget_exceeded or self.attempts >= self.spec.settings.max_attempts:
            return None
        messages = self.spec.prompt.format_messages(**self.spec.prompt_vars(self.request))
        budget = self.spec.settings.token_budget
        # Do not pay for a call whose prompt alone already breaks the budget.
        needed = self.tokens_used + estimate_tokens(_messages_text(messages))
        if needed > budget:
            self._over_budget(f"token budget {budget} exceeded ({needed} tokens with the next prompt, estimated)")
            return None
        self.attempts += 1
        return messages

    def call_failed(self, exc: Exception) -> None:
        self.failure = f"model call failed: {_describe(exc)}"
        self.step("model_call", f"attempt {self.attempts}: {_describe(exc)}")

    def answered(self, messages: list[BaseMessage], response: BaseMessage) -> OutT | None:
        """Count, check the budget, parse and finalize one answer; None when it does not count."""
        text = str(response.text)
        usage = response.usage_metadata if isinstance(response, AIMessage) else None
        if usage and usage.get("total_tokens"):
            tokens, how = usage["total_tokens"], "reported"
        else:
            tokens, how = estimate_tokens(_messages_text(messages)) + estimate_tokens(text), "estimated"
        self.tokens_used += tokens
        self.step("model_call", f"attempt {self.attempts}: {len(text)} characters, {tokens} tokens ({how})", tokens)

        budget = self.spec.settings.token_budget
        if self.tokens_used > budget:
            self._over_budget(f"token budget {budget} exceeded ({self.tokens_used} tokens)")
            return None
        try:
            draft = self.spec.parser.parse(text)
        except OutputParserException as exc:
            self._bad_output("parse", exc)
            return None
        self.step("parse", f"attempt {self.attempts}: parsed {type(draft).__name__}")
        try:
            output = self.spec.finalize(self.request, draft)
        except ValueError as exc:
            self._bad_output("validate", exc)
            return None
        self.step("validate", f"attempt {self.attempts}: output meets the request")
        return output

    def _bad_output(self, node: str, exc: Exception) -> None:
        self.failure = f"model output unparsable after {self.attempts} attempts: {_describe(exc)}"
        self.step(node, f"attempt {self.attempts}: {_describe(exc)}")

    def _over_budget(self, reason: str) -> None:
        self.budget_exceeded = True
        self.failure = reason
        self.step("budget", reason)

    def fallback_reason(self) -> str:
        if self.failure is None:  # only when max_attempts allowed no call at all, which settings forbid
            return "no model call was made"
        return self.failure

    def thought(self, output: OutT, *, fallback: bool) -> Thought[OutT]:
        if fallback or self.spec.chat_model is None:
            self.step(OFFLINE, f"offline {self.spec.name} produced the output")
        settings = self.spec.settings
        return Thought(
            output=output,
            report=RunReport(
                agent=self.spec.name,
                model=self.spec.model_name,
                attempts=self.attempts,
                fallback_used=fallback,
                fallback_reason=self.fallback_reason() if fallback else None,
                tokens_used=self.tokens_used,
                cost_usd=round(self.tokens_used / 1000 * settings.cost_per_1k_tokens_usd, 6),
                budget_exceeded=self.budget_exceeded,
                steps=self.steps,
            ),
        )

    def falling_back(self) -> None:
        self.step("fallback", self.fallback_reason())


class _Spec(Generic[InT, OutT, DraftT]):
    def __init__(
        self,
        name: str,
        offline: Runnable[InT, OutT],
        parser: PydanticOutputParser[DraftT],
        prompt: ChatPromptTemplate,
        prompt_vars: Callable[[InT], dict[str, Any]],
        finalize: Callable[[InT, DraftT], OutT],
        chat_model: BaseChatModel | None,
        settings: ModelSettings,
    ) -> None:
        self.name = name
        self.offline = offline
        self.parser = parser
        self.prompt = prompt
        self.prompt_vars = prompt_vars
        self.finalize = finalize
        self.chat_model = chat_model
        self.settings = settings
        self.model_name = type(chat_model).__name__ if chat_model is not None else OFFLINE
        self.offline_function = _plain_function(offline)

    def run_offline(self, request: InT, config: RunnableConfig) -> OutT:
        if self.offline_function is not None:
            return self.offline_function(request)
        return self.offline.invoke(request, config)

    async def arun_offline(self, request: InT, config: RunnableConfig) -> OutT:
        if self.offline_function is not None:
            return self.offline_function(request)
        return await self.offline.ainvoke(request, config)

    def run(self, request: InT, config: RunnableConfig) -> Thought[OutT]:
        run: _Run[InT, OutT, DraftT] = _Run(self, request)
        if self.chat_model is not None:
            while (messages := run.next_messages()) is not None:
                try:
                    response = self.chat_model.invoke(messages, config)
                except Exception as exc:
                    run.call_failed(exc)
                    continue
                output = run.answered(messages, response)
                if output is not None:
                    return run.thought(output, fallback=False)
            run.falling_back()
        # The offline Runnable is the last resort: its errors propagate.
        return run.thought(self.run_offline(request, config), fallback=self.chat_model is not None)

    async def arun(self, request: InT, config: RunnableConfig) -> Thought[OutT]:
        run: _Run[InT, OutT, DraftT] = _Run(self, request)
        if self.chat_model is not None:
            while (messages := run.next_messages()) is not None:
                try:
                    response = await self.chat_model.ainvoke(messages, config)
                except Exception as exc:
                    run.call_failed(exc)
                    continue
                output = run.answered(messages, response)
                if output is not None:
                    return run.thought(output, fallback=False)
            run.falling_back()
        return run.thought(await self.arun_offline(request, config), fallback=self.chat_model is not None)


def thinking_runnable(
    name: str,
    *,
    offline: Runnable[InT, OutT],
    output_model: type[DraftT],
    prompt: ChatPromptTemplate,
    prompt_vars: Callable[[InT], dict[str, Any]],
    finalize: Callable[[InT, DraftT], OutT],
    chat_model: BaseChatModel | None,
    settings: ModelSettings,
) -> Runnable[InT, Thought[OutT]]:
    """A Runnable that asks ``chat_model`` for an ``output_model``, finalizes it, and falls back to ``offline``.

    ``prompt`` must take ``{format_instructions}`` (filled with the parser's JSON schema instructions) plus
    the variables ``prompt_vars`` returns. ``finalize`` turns the parsed draft into the output, forcing ids
    and checking that it answers the request; a ValueError from it counts as an unusable answer (retry).
    """
    if FORMAT_INSTRUCTIONS not in prompt.input_variables:
        raise ValueError(f"{name} prompt must contain {{{FORMAT_INSTRUCTIONS}}}")
    parser: PydanticOutputParser[DraftT] = PydanticOutputParser(pydantic_object=output_model)
    spec: _Spec[InT, OutT, DraftT] = _Spec(
        name,
        offline,
        parser,
        prompt.partial(**{FORMAT_INSTRUCTIONS: parser.get_format_instructions()}),
        prompt_vars,
        finalize,
        chat_model,
        settings,
    )
    return _Thinking(spec)


def _plain_function(offline: Runnable[InT, OutT]) -> Callable[[InT], OutT] | None:
    """The one-argument function an offline RunnableLambda wraps, to be called directly.

    RunnableLambda sets up a callback manager and inspects the function's signature on every
    call: about 1 ms, ten times what the offline planner itself takes. Its result is the same.
    """
    func = getattr(offline, "func", None) if isinstance(offline, RunnableLambda) else None
    if func is None or inspect.iscoroutinefunction(func):
        return None
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    return func if len(parameters) == 1 else None


class _Thinking(Runnable[InT, Thought[OutT]]):
    """A run as a Runnable, without RunnableLambda's per-call overhead (see ``_plain_function``).

    The caller's config, callbacks included, still reaches the chat model.
    """

    def __init__(self, spec: _Spec[InT, OutT, Any]) -> None:
        self.spec = spec
        self.name = spec.name

    @property
    def answers_at_once(self) -> bool:
        """No chat model and a plain offline function: ``invoke`` never waits on anything."""
        return self.spec.chat_model is None and self.spec.offline_function is not None

    def invoke(self, input: InT, config: RunnableConfig | None = None, **kwargs: Any) -> Thought[OutT]:
        return self.spec.run(input, ensure_config(config))

    async def ainvoke(self, input: InT, config: RunnableConfig | None = None, **kwargs: Any) -> Thought[OutT]:
        return await self.spec.arun(input, ensure_config(config))


def answers_at_once(runnable: Runnable[Any, Any]) -> bool:
    """Whether ``runnable`` is a thinking run that answers without waiting (the offline model alone)."""
    return isinstance(runnable, _Thinking) and runnable.answers_at_once
