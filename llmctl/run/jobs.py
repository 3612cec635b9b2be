"""What a command asks of the run layer: the Job protocol, and the complete and embed jobs."""

from __future__ import annotations

import dataclasses
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from llmctl.core.errors import ProviderError
from llmctl.core.usage import Usage
from llmctl.providers.base import COMPLETE, EMBED, CompletionRequest, EmbeddingRequest, ModelRef, Provider, Tokenizer

if TYPE_CHECKING:
    from llmctl.run.conversations import ConversationLink
    from llmctl.run.prompt_features import PromptFeatures

#: Called with each piece of streamed text of one (model, input) pair.
DeltaSink = Callable[[ModelRef, str], None]


@dataclass
class Outcome:
    """One input's result: the record's result fields, what it used, and timings the job measured."""

    fields: dict[str, Any]
    usage: Usage
    ttft_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: each model call's usage where one input took several (tool rounds, a schema retry): each is
    #: logged as its own call; `usage` is their sum
    rounds: list[Usage] = field(default_factory=list)


@dataclass(frozen=True)
class Estimate:
    """What one input would use, counted locally: exact input tokens, and the most output it may get."""

    input_tokens: int
    max_output_tokens: int
    #: the largest single call's input, where one input takes several calls (what must fit the window)
    largest_call: int | None = None
    #: what retrying every answer that may be sent again (a structured answer that fails validation
    #: is asked for once more) could add: in the worst case, never in the expected one
    retry_input_tokens: int = 0
    retry_output_tokens: int = 0
    #: of input_tokens, those counted for attachments by the provider's rule (always an estimate)
    attachment_tokens: int = 0
    #: no bound on the output is known (no --max-tokens, no max_output, no context window): the
    #: answer may run as long as the server lets it, so no budget can hold it
    unbounded: bool = False


class Job(ABC):
    """One command's work on one input with one model; the run layer does everything around it.

    A job names its `command` (for the usage log, the output file and resume), the provider
    `capability` it needs, the `result_keys` its records carry (null in a failed record), and the
    `settings` that make two runs the same (compared on --resume, part of the cache key).
    """

    command: ClassVar[str]
    capability: ClassVar[str] = COMPLETE
    result_keys: tuple[str, ...] = ()
    #: inputs sent in one provider call (embeddings batch; completions go one at a time)
    chunk_size: int = 1
    #: the conversation a single prompt belongs to: its exchange is stored with the call's log row
    conversation: ConversationLink | None = None

    def settings(self) -> dict[str, Any]:
        return {}

    def check(self, ref: ModelRef, provider: Provider) -> str:
        """Refuse a model that cannot do this job (exit 2) before anything is sent; returns the
        capability to load it for (a job whose models differ, a task on an HF head, says which)."""
        provider.require(ref, self.capability)
        return self.capability

    def failed_fields(self, error: BaseException) -> dict[str, Any]:
        """Result fields a failed record may still carry (how many calls a task made before it gave up)."""
        return {}

    def chunk_for(self, ref: ModelRef, provider: Provider) -> int:
        """Inputs sent in one call to this model (a task on a batched head takes many, a prompt one)."""
        return self.chunk_size

    def cacheable(self) -> bool:
        """Whether the same request always gets the same answer, so a stored one may stand in."""
        return False

    @abstractmethod
    def run_one(self, ref: ModelRef, provider: Provider, text: str, on_text: Callable[[str], None] | None
                ) -> Outcome:
        """Send one input; raise an LlmctlError on failure (it becomes the record's `error`)."""

    def run_many(self, ref: ModelRef, provider: Provider, texts: Sequence[str]) -> list[Outcome]:
        return [self.run_one(ref, provider, text, None) for text in texts]

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        """Tokens the request for `text` would use; the default counts the text alone."""
        return Estimate(tokenizer.count(text), 0)


class CompleteJob(Job):
    """`complete`: one prompt, one answer."""

    command = "complete"
    capability = COMPLETE
    result_keys: tuple[str, ...] = ("text", "finish_reason")

    def __init__(self, template: CompletionRequest, *, measure_stream: bool = False,
                 features: PromptFeatures | None = None) -> None:
        from llmctl.run.prompt_features import PromptFeatures

        self.features = features or PromptFeatures()
        self.template = dataclasses.replace(template, attachments=list(self.features.attachments))
        #: stream even when nobody prints, to measure time to first token (compare mode)
        self.measure_stream = measure_stream
        if self.features.schema is not None:
            self.result_keys = ("text", "finish_reason", "json")
        if self.features.tools:
            self.result_keys = (*self.result_keys, "tool_calls")

    def settings(self) -> dict[str, Any]:
        request = {f.name: getattr(self.template, f.name) for f in dataclasses.fields(self.template)}
        for key in ("prompt", "stream", "history", "attachments", "tools", "tool_rounds"):
            request.pop(key, None)
        return {**request, **self.features.settings()}

    def check(self, ref: ModelRef, provider: Provider) -> str:
        provider.require(ref, self.capability)
        refused = self.features.tools and not provider.supports_tools(ref)
        self.features.check(ref, provider, _tool_backends(ref.kind) if refused else [])
        return self.capability

    def cacheable(self) -> bool:
        # A tool may answer differently each time (the time, a file): its chain is never replayed.
        if self.features.tools:
            return False
        # The cache key does not hold earlier turns: a conversation's later turns are always sent.
        return (self.template.temperature == 0 or self.template.seed is not None) and not self.template.history

    def request_for(self, ref: ModelRef, provider: Provider, text: str, stream: bool) -> CompletionRequest:
        """The request for one input; what the user left unset comes from the model's defaults
        (its alias's settings, then what the model itself declares: system prompt, sampling, cap)."""
        from llmctl.providers.defaults import with_model_defaults

        request = dataclasses.replace(self.template, prompt=text, stream=stream)
        return with_model_defaults(request, ref, provider)

    def run_one(self, ref: ModelRef, provider: Provider, text: str, on_text: Callable[[str], None] | None
                ) -> Outcome:
        if self.features.schema is not None or self.features.tools:
            return self._run_featured(ref, provider, text)
        stream = on_text is not None or self.measure_stream
        started = time.perf_counter()
        first: list[float] = []

        def sink(delta: str) -> None:
            if not first and delta:
                first.append(time.perf_counter())
            if on_text is not None:
                on_text(delta)

        completion = provider.complete(ref, self.request_for(ref, provider, text, stream), sink if stream else None)
        ttft = round((first[0] - started) * 1000, 1) if first else None
        return Outcome({"text": completion.text, "finish_reason": completion.finish_reason},
                       completion.usage, ttft, extra=self._attached())

    def _attached(self) -> dict[str, Any]:
        """The record's note of what was attached: path or URL, type and hash, never the bytes."""
        if not self.features.attachments:
            return {}
        return {"attachments": [a.to_json() for a in self.features.attachments]}

    def _run_featured(self, ref: ModelRef, provider: Provider, text: str) -> Outcome:
        """A prompt with a schema or tools: no streaming (the answer is checked, or not the last word)."""
        from llmctl.run.prompt_features import (
            SchemaMismatch,
            ask_with_schema,
            parse_answer,
            run_tool_chain,
            schema_request,
        )

        request = self.request_for(ref, provider, text, False)
        schema = self.features.schema
        fields: dict[str, Any] = {}
        if self.features.tools:
            chain = run_tool_chain(provider, ref, schema_request(provider, ref, request, schema) if schema else request,
                                   self.features)
            rounds, completion = chain.rounds, chain.completion
            fields["tool_calls"] = [r.to_json() for r in chain.results]
            if chain.cut:
                provider.warn(f"{ref.label}: stopped after {len(rounds)} model calls (--chain-limit); the "
                              f"last one asked for {len(completion.tool_calls)} more tool call(s), not run")
            if schema is not None:
                value, problem = parse_answer(completion.text, schema)
                if problem is not None:
                    raise SchemaMismatch(f"{ref.label}: the answer does not match --schema: {problem}",
                                         _sum(rounds))
                fields["json"] = value
        else:
            assert schema is not None
            value, completion, used = ask_with_schema(provider, ref, request, schema)
            rounds = [used]
            fields["json"] = value
        out_text = json.dumps(fields["json"], ensure_ascii=False) if "json" in fields else completion.text
        return Outcome({"text": out_text, "finish_reason": completion.finish_reason, **fields}, _sum(rounds),
                       extra=self._attached(),
                       rounds=rounds if len(rounds) > 1 else [])

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        request = self.request_for(ref, provider, text, False)
        window = ref.context_window or tokenizer.context_window
        ceiling = self.template.max_tokens or ref.facts.max_output or 0
        if not ceiling and window:
            ceiling = window
        inputs = provider.count_request(ref, request)
        if self.template.max_tokens is None and window:
            # Without --max-tokens the answer may run to the output limit or the end of the window.
            ceiling = min(ceiling, max(window - inputs, 0))
        if not ceiling and request.max_tokens is not None:
            # No limit known but a default cap from the model's settings (an alias's max_tokens): that is sent.
            ceiling = request.max_tokens
        bounded = request.max_tokens is not None or ref.facts.max_output is not None or bool(window)
        attached = self._attachment_tokens(ref)
        inputs += attached
        # The schema and the tools' descriptions travel with the request, and are read as input.
        if self.features.schema is not None:
            inputs += tokenizer.count(json.dumps(self.features.schema))
        if self.features.tools:
            inputs += tokenizer.count(json.dumps([t.spec.parameters for t in self.features.tools]))
            inputs += sum(tokenizer.count(t.spec.name + " " + t.spec.description) for t in self.features.tools)
        retry_in = retry_out = 0
        if self.features.tools:
            from llmctl.run.prompt_features import chain_extra_tokens

            retry_in, retry_out = chain_extra_tokens(inputs, ceiling, self.features.chain_limit)
        elif self.features.schema is not None:
            # One retry, carrying the first answer, where it does not match.
            retry_in, retry_out = inputs + ceiling + 64, ceiling
        return Estimate(inputs, ceiling, unbounded=not bounded, retry_input_tokens=retry_in,
                        retry_output_tokens=retry_out, attachment_tokens=attached)

    def _attachment_tokens(self, ref: ModelRef) -> int:
        """Images by the model's documented rule; a type with no rule counts nothing (said in the README)."""
        from llmctl.providers.image_tokens import image_tokens

        total = 0
        for attachment in self.features.attachments:
            if attachment.kind == "image":
                total += image_tokens(ref.facts.image_tokens, attachment.width, attachment.height) or 0
        return total


def _tool_backends(but: str) -> list[str]:
    """The installed backends that call tools (for the error naming them), a plugin that fails to load aside."""
    from llmctl.core.errors import LlmctlError
    from llmctl.providers.registry import find_provider_class, known_kinds

    found = []
    for kind in known_kinds():
        try:
            cls = find_provider_class(kind)
        except LlmctlError:
            continue
        if kind != but and cls is not None and cls.tool_calling:
            found.append(kind)
    return found


def _sum(rounds: Sequence[Usage]) -> Usage:
    total = rounds[0]
    for usage in rounds[1:]:
        total = total + usage
    return total


class EmbedJob(Job):
    """`embed`: one vector per input; inputs travel to the provider in chunks."""

    command = "embed"
    capability = EMBED
    result_keys = ("dimensions", "embedding")
    chunk_size = 64

    def __init__(self, dimensions: int | None = None, normalize: bool = False) -> None:
        self.dimensions = dimensions
        self.normalize = normalize

    def settings(self) -> dict[str, Any]:
        return {"dimensions": self.dimensions, "normalize": self.normalize}

    def cacheable(self) -> bool:
        return True

    def run_one(self, ref: ModelRef, provider: Provider, text: str, on_text: Callable[[str], None] | None
                ) -> Outcome:
        return self.run_many(ref, provider, [text])[0]

    def run_many(self, ref: ModelRef, provider: Provider, texts: Sequence[str]) -> list[Outcome]:
        result = provider.embed(ref, EmbeddingRequest(list(texts), self.dimensions, self.normalize))
        if len(result.vectors) != len(texts):
            raise ProviderError(f"{ref.label} returned {len(result.vectors)} vectors for {len(texts)} inputs")
        shares = split_usage(result.usage, [len(t) for t in texts])
        return [Outcome({"dimensions": len(vector), "embedding": vector}, usage)
                for vector, usage in zip(result.vectors, shares, strict=True)]


def split_usage(usage: Usage, weights: Sequence[int]) -> list[Usage]:
    """One call's usage shared among its inputs by length; the shares add up to the whole.

    A provider reports one count for a whole embeddings call; with more than one input, each
    record's share is marked estimated.
    """
    if len(weights) == 1:
        return [usage]
    total_weight = sum(weights) or len(weights)
    shares: list[Usage] = []
    given = 0
    for index, weight in enumerate(weights):
        if index == len(weights) - 1:
            tokens = usage.input_tokens - given
        else:
            tokens = usage.input_tokens * (weight or 1) // total_weight
        given += tokens
        shares.append(Usage(tokens, 0, 0, estimated=True))
    return shares
