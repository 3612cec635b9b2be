"""What `complete` can add to a prompt: a schema the answer must match, attachments, tools and their loop."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmctl.core.attachments import Attachment
from llmctl.core.errors import ProviderError, UsageError
from llmctl.core.tooling import RESULT_BYTES, Tool, ToolCall, ToolResult
from llmctl.core.usage import Usage
from llmctl.providers.base import Completion, CompletionRequest, ModelRef, Provider

#: how many model calls a tool chain may take by default (llm's --chain-limit default too)
DEFAULT_CHAIN_LIMIT = 5


@dataclass
class PromptFeatures:
    """Everything `complete` sends besides the prompt and its sampling settings; all optional."""

    #: JSON Schema of the answer (an object); None: free text
    schema: dict[str, Any] | None = None
    attachments: list[Attachment] = field(default_factory=list)
    #: the tools the command line named (-T, --functions); nothing else is ever run
    tools: list[Tool] = field(default_factory=list)
    #: most model calls one prompt may take while the model keeps asking for tools
    chain_limit: int = DEFAULT_CHAIN_LIMIT
    #: told of every call as it is run (--td)
    on_tool: Callable[[ToolResult], None] | None = None

    def __post_init__(self) -> None:
        if self.chain_limit < 1:
            raise UsageError(f"--chain-limit must be at least 1, not {self.chain_limit}")

    def check(self, ref: ModelRef, provider: Provider, tool_backends: list[str]) -> None:
        """Refuse, before anything is sent, what this model cannot take (exit 2)."""
        for attachment in self.attachments:
            problem = provider.attachment_problem(ref, attachment)
            if problem:
                raise UsageError(problem)
        if self.tools and not provider.supports_tools(ref):
            raise UsageError(f"{ref.label} cannot call tools; tools work with {', '.join(tool_backends)} models "
                             "(OpenAI-compatible servers through a profile or --base-url)")

    def settings(self) -> dict[str, Any]:
        """What makes two runs the same (compared on --resume, part of the cache key)."""
        out: dict[str, Any] = {}
        if self.schema is not None:
            out["schema"] = self.schema
        if self.attachments:
            out["attachments"] = [a.to_json() for a in self.attachments]
        if self.tools:
            out["tools"] = [t.spec.name for t in self.tools]
            out["chain_limit"] = self.chain_limit
        return out


@dataclass
class ToolChain:
    """A prompt's answer after its tool rounds: the last completion, each round's usage, every call run."""

    completion: Completion
    rounds: list[Usage]
    results: list[ToolResult]
    #: the model still asked for tools when --chain-limit was reached (those calls were not run)
    cut: bool = False


def run_tool_chain(provider: Provider, ref: ModelRef, request: CompletionRequest, features: PromptFeatures
                   ) -> ToolChain:
    """Send the prompt with its tools; run each call the model asks for and send the results back,
    until it answers without calls or `chain_limit` model calls were made."""
    by_name = {tool.spec.name: tool for tool in features.tools}
    rounds: list[Usage] = []
    results: list[ToolResult] = []
    current = dataclasses.replace(request, tools=[t.spec for t in features.tools], stream=False)
    while True:
        completion = provider.complete(ref, current)
        rounds.append(completion.usage)
        if not completion.tool_calls:
            return ToolChain(completion, rounds, results)
        if len(rounds) >= features.chain_limit:
            return ToolChain(completion, rounds, results, cut=True)
        ran = [_run(by_name, call) for call in completion.tool_calls]
        for result in ran:
            if features.on_tool is not None:
                features.on_tool(result)
        results.extend(ran)
        turn: list[dict[str, Any]] = [{"role": "assistant", "content": completion.text,
                                       "tool_calls": list(completion.tool_calls)}]
        turn += [{"role": "tool", "tool_call_id": r.call.id, "name": r.call.name, "content": r.output} for r in ran]
        current = dataclasses.replace(current, tool_rounds=[*current.tool_rounds, *turn])


def _run(by_name: dict[str, Tool], call: ToolCall) -> ToolResult:
    tool = by_name.get(call.name)
    if tool is None:
        # Only tools named on the command line run; a made-up name is the model's mistake to read.
        return ToolResult(call, f"Error: there is no tool named {call.name!r}; the tools are "
                                f"{', '.join(by_name)}", error=True)
    return tool.run(call)


def chain_extra_tokens(input_tokens: int, output_tokens: int, chain_limit: int) -> tuple[int, int]:
    """The most a tool chain can add to one call's tokens: each further round resends everything so far,
    plus what the model wrote and the tools answered (each round's answers cut to RESULT_BYTES)."""
    extra_in = extra_out = 0
    for round_number in range(1, chain_limit):
        extra_in += input_tokens + round_number * (output_tokens + RESULT_BYTES)
        extra_out += output_tokens
    return extra_in, extra_out


class SchemaMismatch(ProviderError):
    """The answer did not match --schema, after one retry that said why; the calls were still paid."""

    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(message)
        self.usage = usage


def schema_request(provider: Provider, ref: ModelRef, request: CompletionRequest, schema: dict[str, Any]
                   ) -> CompletionRequest:
    """The schema goes in the request where the backend enforces it while decoding, else in the prompt."""
    if provider.constrains_json(ref):
        return dataclasses.replace(request, json_schema=schema, stream=False)
    prompt = (f"{request.prompt}\n\nAnswer with one JSON object that matches this JSON schema, and nothing else:\n"
              f"{json.dumps(schema)}")
    return dataclasses.replace(request, prompt=prompt, stream=False)


def parse_answer(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """The JSON object in an answer and why it does not match the schema (None: it does)."""
    from llmctl.core.schemas import answer_problem

    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None, "the answer holds no JSON object"
    try:
        value = json.loads(text[start:end + 1])
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at character {exc.pos})"
    return value, answer_problem(value, schema)


def ask_with_schema(provider: Provider, ref: ModelRef, request: CompletionRequest, schema: dict[str, Any]
                    ) -> tuple[Any, Completion, Usage]:
    """Ask for an answer that matches `schema`; once more with the problem if it does not; else SchemaMismatch."""
    current = schema_request(provider, ref, request, schema)
    used = Usage(0)
    problem = ""
    for _attempt in range(2):
        completion = provider.complete(ref, current)
        used = used + completion.usage
        value, problem_found = parse_answer(completion.text, schema)
        if problem_found is None:
            return value, completion, used
        problem = problem_found
        history = [*current.history, {"role": "user", "content": current.prompt},
                   {"role": "assistant", "content": completion.text}]
        current = dataclasses.replace(current, history=history, attachments=[],
                                      prompt=f"That answer is not valid: {problem}. Answer again with only the "
                                             "corrected JSON object.")
    raise SchemaMismatch(f"{ref.label}: the answer does not match --schema after one retry: {problem}", used)
