"""Structured answers: a JSON schema the backend enforces where it can, pydantic validation, one retry."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from llmctl.core.usage import Usage
from llmctl.providers.base import CompletionRequest, ModelRef, Provider
from llmctl.tasks.result import InvalidAnswerError

M = TypeVar("M", bound=BaseModel)

_warned: set[tuple[int, str]] = set()
_warned_lock = threading.Lock()


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the strict form OpenAI asks for: every property required, no extras."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        # Nested models arrive as $ref; inlined, every backend's schema compiler reads them alike.
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    schema = inline(schema)

    def tighten(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("title", None)
            node.pop("default", None)
            if node.get("type") == "object" and "properties" in node:
                node["required"] = list(node["properties"])
                node["additionalProperties"] = False
            for value in node.values():
                tighten(value)
        elif isinstance(node, list):
            for value in node:
                tighten(value)

    tighten(schema)
    return schema


def json_text(text: str) -> str:
    """The JSON object inside an answer that was asked for in the prompt (code fences, chatter around it)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the answer holds no JSON object")
    return text[start:end + 1]


#: a validation problem is cut to this many UTF-8 bytes in the retry prompt, which bounds its tokens
PROBLEM_BYTES = 200
#: the most tokens the problem can take there: a token is at least one byte (4 more for merges at its edges)
PROBLEM_TOKENS_AT_MOST = PROBLEM_BYTES + 4


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
        text = f"{where}: {first.get('msg', 'invalid')}"
    elif isinstance(exc, json.JSONDecodeError):
        text = f"not valid JSON ({exc.msg} at character {exc.pos})"
    else:
        text = str(exc)
    return " ".join(text.split()).encode()[:PROBLEM_BYTES].decode(errors="ignore")


def structured_request(provider: Provider, ref: ModelRef, template: CompletionRequest, prompt: str,
                       answer: type[BaseModel]) -> CompletionRequest:
    """The first request `ask_structured` sends: the schema in the prompt, and in the request where the
    backend constrains decoding (what --estimate counts)."""
    schema = strict_schema(answer)
    native = provider.constrains_json(ref)
    text = (f"{prompt}\n\nAnswer with one JSON object that matches this JSON schema, and nothing else:\n"
            f"{json.dumps(schema)}")
    return dataclasses.replace(template, prompt=text, json_schema=schema if native else None, stream=False,
                               logprobs=None)


def retry_request(request: CompletionRequest, answer_text: str, problem: str) -> CompletionRequest:
    """The second request: the first exchange as history, then the validation problem."""
    history = [*request.history, {"role": "user", "content": request.prompt},
               {"role": "assistant", "content": answer_text}]
    return dataclasses.replace(request, history=history,
                               prompt=f"That answer is not valid: {problem}. Answer again with only "
                                      "the corrected JSON object.")


def ask_structured(provider: Provider, ref: ModelRef, template: CompletionRequest, prompt: str,
                   answer: type[M]) -> tuple[M, Usage, int]:
    """Ask for an answer shaped as `answer`; retry once with the validation error; else InvalidAnswerError.

    Backends that constrain decoding get the schema in the request; the others get it in the prompt
    and the answer is parsed out of the text (queued as a warning once per provider and model).
    """
    request = structured_request(provider, ref, template, prompt, answer)
    if request.json_schema is None:
        key = (id(provider), ref.label)
        with _warned_lock:
            if key not in _warned:
                _warned.add(key)
                provider.warn(f"{ref.label} cannot constrain its answer to a JSON schema; "
                              "asking for JSON in the prompt and parsing the answer")
    usage, calls, problem = Usage(0), 0, ""
    for _attempt in range(2):
        completion = provider.complete(ref, request)
        usage, calls = usage + completion.usage, calls + 1
        try:
            return answer.model_validate_json(json_text(completion.text)), usage, calls
        except (ValidationError, ValueError) as exc:
            problem = _problem(exc)
        request = retry_request(request, completion.text, problem)
    raise InvalidAnswerError(f"{ref.label}: the answer did not validate after one retry: {problem}", usage, calls)
