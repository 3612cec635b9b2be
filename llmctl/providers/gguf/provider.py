"""The `gguf` backend: local GGUF models on llama-cpp-python (tokenize, complete, embed)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmctl.core.errors import ProviderError, UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import (
    COMPLETE,
    EMBED,
    TOKENIZE,
    Completion,
    CompletionRequest,
    ContinuationScores,
    EmbeddingRequest,
    Embeddings,
    ModelRef,
    Provider,
    TextSink,
    Tokenizer,
)
from llmctl.providers.gguf import names
from llmctl.providers.gguf.file import GGUFHeader, read_gguf_header
from llmctl.providers.gguf.threads import choose_threads, sample_cpu
from llmctl.providers.registry import require_import

if TYPE_CHECKING:
    from llmctl.providers.options import GGUFOptions

LLAMA_POOLING_MEAN = 1

#: Answer cap when neither the user nor the alias gives one: a model without a chat template (or
#: one that never emits its end token) would otherwise generate until its context window is full.
DEFAULT_MAX_TOKENS = 512

#: GGUF metadata keys (general.sampling.*) that carry a model's own sampling defaults.
SAMPLING_METADATA = {"temp": "temperature", "top_p": "top_p", "top_k": "top_k", "penalty_repeat": "repeat_penalty"}


def _engine() -> Any:
    """The llama.cpp plumbing, imported on first use (exit 5 when llama-cpp-python is missing)."""
    require_import("llama_cpp", "llama-cpp-python", "gguf")
    from llmctl.providers.gguf import engine as gguf_engine

    return gguf_engine


class GGUFTokenizer(Tokenizer):
    """A GGUF model's own vocabulary, loaded without weights; no BOS, special tokens read as text."""

    def __init__(self, llm: Any, name: str) -> None:
        self._engine = _engine()
        self._llm = llm
        self._vocab = self._engine.vocab_of(llm)
        self.name = name
        self.context_window: int | None = None

    def encode(self, text: str) -> list[int]:
        return self._engine.tokenize(self._llm, text, add_special=False, parse_special=False)  # type: ignore[no-any-return]

    def decode(self, ids: list[int]) -> str:
        self.check_ids(ids)
        data = b"".join(self._engine.token_piece(self._vocab, i, special=True) for i in ids)
        return data.decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        self.check_ids([token_id])
        return self._engine.token_piece(self._vocab, token_id, special=True)  # type: ignore[no-any-return]

    @property
    def vocab_size(self) -> int:
        return int(self._engine.llama_lib.llama_vocab_n_tokens(self._vocab))


class GGUFProvider(Provider):
    kind = "gguf"
    #: a tool turn is grammar-constrained JSON (gguf/tools.py)
    tool_calling = True
    extra = "gguf"
    local = True
    max_concurrency = 1
    model_is_path = True
    quantizable = True

    options: GGUFOptions

    def __init__(self, options: GGUFOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        # The CPUs are looked at from here to the first model load, to see what else keeps them busy.
        self._cpu_at_start = sample_cpu() if self.options.threads is None else None
        self._threads: int | None = None
        self._headers: dict[str, GGUFHeader] = {}
        self._tokenizers: dict[str, GGUFTokenizer] = {}
        self._chat_models: dict[str, Any] = {}
        self._embed_models: dict[str, Any] = {}
        self._formatters: dict[str, Any] = {}

    # ------------------------------------------------------------------ what it declares
    @classmethod
    def option_model(cls) -> type[GGUFOptions]:
        from llmctl.providers.options import GGUFOptions

        return GGUFOptions

    @classmethod
    def claims(cls, name: str) -> bool:
        return names.claims(name)

    @classmethod
    def resolve_name(cls, provider: str, model: str) -> str:
        return names.resolve(provider, model)

    @classmethod
    def listed_models(cls) -> list[str]:
        return names.cached_names()

    def usable_context(self, ref: ModelRef) -> int | None:
        return self.n_ctx(ref)

    def count_request(self, ref: ModelRef, request: CompletionRequest) -> int:
        return len(self.prompt_tokens(ref, request)[0])

    # ------------------------------------------------------------------ the file
    def header(self, ref: ModelRef) -> GGUFHeader:
        found = self._headers.get(ref.model)
        if found is None:
            found = self._headers[ref.model] = read_gguf_header(ref.model)
        return found

    def capabilities(self, ref: ModelRef) -> frozenset[str]:
        header = self.header(ref)
        if header.is_embedding_only:
            return frozenset({EMBED, TOKENIZE})
        return frozenset({COMPLETE, EMBED, TOKENIZE})

    def context_window(self, ref: ModelRef) -> int | None:
        return self.header(ref).context_length

    def generation_defaults(self, ref: ModelRef) -> dict[str, Any]:
        metadata = self.header(ref).metadata
        found: dict[str, Any] = {"max_tokens": DEFAULT_MAX_TOKENS}
        for key, name in SAMPLING_METADATA.items():
            value = metadata.get(f"general.sampling.{key}")
            if isinstance(value, float):
                # Stored as f32: 0.9 reads back as 0.8999999761...; seven digits give back the value written.
                found[name] = float(f"{value:.7g}")
            elif isinstance(value, int) and not isinstance(value, bool):
                found[name] = value
        return found

    def n_ctx(self, ref: ModelRef) -> int:
        """The context window to build: --n-ctx, else the training window capped at 4096."""
        if self.options.n_ctx is not None:
            return self.options.n_ctx
        trained = self.header(ref).context_length
        return min(trained, 4096) if trained else 2048

    def thread_count(self) -> int:
        """--threads, else the CPUs this process may use less those other programs keep busy.

        llama.cpp's own default is half the CPUs (it assumes two hardware threads a core); on the
        2-core machines we measured, both CPUs generate SmolLM2 at 91 tok/s against 51 with one
        when idle, and one thread wins when other work holds the cores (see threads.py).
        """
        if self.options.threads is not None:
            return self.options.threads
        if self._threads is None:
            self._threads = choose_threads(self._cpu_at_start)
        return self._threads

    def _llama_kwargs(self, ref: ModelRef) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"n_ctx": self.n_ctx(ref)}
        threads = self.thread_count()
        kwargs["n_threads"] = threads
        kwargs["n_threads_batch"] = threads
        kwargs["n_gpu_layers"] = self.options.n_gpu_layers
        return kwargs

    def _open(self, ref: ModelRef, **extra: Any) -> Any:
        header = self.header(ref)
        engine = _engine()
        n_ctx = self.n_ctx(ref)
        trained = header.context_length
        if trained and n_ctx > trained and not extra.get("vocab_only"):
            self.warn(f"--n-ctx {n_ctx} is larger than {ref.label}'s training context of {trained} tokens; "
                      "quality may drop past it")
        try:
            return engine.open_llama(ref.model, **{**self._llama_kwargs(ref), **extra})
        except (ValueError, RuntimeError, OSError) as exc:
            detail = engine.last_log_error() or str(exc)
            raise UsageError(f"{ref.model}: llama.cpp cannot load this model: {detail}") from None

    # ------------------------------------------------------------------ loading
    def load(self, ref: ModelRef, capability: str = COMPLETE) -> None:
        """Build the llama.cpp context the capability needs: embeddings, a vocabulary, or generation."""
        if capability == EMBED:
            self._embedder(ref)
        elif capability == TOKENIZE:
            self.tokenizer(ref)
        else:
            self.chat_model(ref)

    def chat_model(self, ref: ModelRef) -> Any:
        llm = self._chat_models.get(ref.model)
        if llm is None:
            llm = self._chat_models[ref.model] = self._open(ref)
        return llm

    def _embedder(self, ref: ModelRef) -> Any:
        llm = self._embed_models.get(ref.model)
        if llm is None:
            header = self.header(ref)
            extra: dict[str, Any] = {"embedding": True}
            if header.pooling_type in (None, 0):
                # A generative model declares no pooling; llama.cpp would then give one vector per
                # token. Mean pooling gives one per text, as sentence embedders do.
                extra["pooling_type"] = LLAMA_POOLING_MEAN
            llm = self._embed_models[ref.model] = self._open(ref, **extra)
        return llm

    def context_size(self, ref: ModelRef, llm: Any) -> int:
        # llama.cpp may round the context up, but llama-cpp-python's buffers keep the size asked for.
        return min(self.n_ctx(ref), int(llm.n_ctx()))

    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        found = self._tokenizers.get(ref.model)
        if found is None:
            header = self.header(ref)
            llm = self._open(ref, vocab_only=True, n_ctx=64)
            found = self._tokenizers[ref.model] = GGUFTokenizer(llm, ref.label)
            # The training context: what `tokenize` reports as the model's window.
            found.context_window = header.context_length
        return found

    def count_chat(self, ref: ModelRef, messages: list[dict[str, str]]) -> int | None:
        """The chat template rendered and tokenized with the vocabulary alone (no weights loaded)."""
        tok = self.tokenizer(ref)
        assert isinstance(tok, GGUFTokenizer)
        formatter = self._formatter(ref, tok._llm)
        if formatter is None:
            return None
        rendered = formatter(messages=messages)
        return len(_engine().tokenize(tok._llm, rendered.prompt, add_special=not rendered.added_special,
                                      parse_special=True))

    def close(self) -> None:
        for models in (self._chat_models, self._embed_models):
            for llm in models.values():
                llm.close()
            models.clear()
        self._tokenizers.clear()

    # ------------------------------------------------------------------ completion
    def _formatter(self, ref: ModelRef, llm: Any) -> Any | None:
        """The model's own chat template (GGUF metadata), or None for a raw-completion model."""
        if ref.model in self._formatters:
            return self._formatters[ref.model]
        template = self.header(ref).chat_template
        formatter = None
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            engine = _engine()
            vocab = engine.vocab_of(llm)
            eos, bos = llm.token_eos(), llm.token_bos()

            def text_of(token: int) -> str:
                return engine.token_piece(vocab, token, special=True).decode("utf-8", "replace") if token >= 0 else ""

            formatter = Jinja2ChatFormatter(template=template, eos_token=text_of(eos), bos_token=text_of(bos),
                                            stop_token_ids=[eos])
        self._formatters[ref.model] = formatter
        return formatter

    def prompt_tokens(self, ref: ModelRef, request: CompletionRequest) -> tuple[list[int], list[str]]:
        """The exact tokens the model will read for this request, and the stop strings to add."""
        llm = self.chat_model(ref)
        engine = _engine()
        formatter = self._formatter(ref, llm)
        if formatter is not None:
            try:
                rendered = formatter(messages=request.messages())
            except Exception as exc:  # a template's raise_exception() or a Jinja error
                raise UsageError(f"{ref.label}: the model's chat template rejected the messages: {exc}") from None
            tokens = engine.tokenize(llm, rendered.prompt, add_special=not rendered.added_special,
                                     parse_special=True)
            stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
            return tokens, [s for s in stops if s]
        # No template: a base model continues the text, earlier turns included.
        parts = [request.system or ""] + [m["content"] for m in request.history] + [request.prompt]
        text = "\n".join(p for p in parts if p)
        return engine.tokenize(llm, text, add_special=True, parse_special=False), []

    def sampling(self, request: CompletionRequest, room: int) -> Any:
        engine = _engine()
        sampling = engine.Sampling(max_tokens=room)
        # The request's ranges were checked when it was made (CompletionRequest, SamplingOptions).
        if request.max_tokens is not None:
            sampling.max_tokens = min(request.max_tokens, room)
        if request.temperature is not None:
            sampling.temperature = float(request.temperature)
        if request.top_p is not None:
            sampling.top_p = float(request.top_p)
        if request.top_k is not None:
            sampling.top_k = int(request.top_k)
        if request.repeat_penalty is not None:
            sampling.repeat_penalty = float(request.repeat_penalty)
        sampling.seed = request.seed
        return sampling

    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        if request.tools:
            from llmctl.providers.gguf.tools import read_turn, tool_turn_request

            return read_turn(self.complete(ref, tool_turn_request(request)), request)
        llm = self.chat_model(ref)
        tokens, template_stops = self.prompt_tokens(ref, request)
        n_ctx = self.context_size(ref, llm)
        if len(tokens) >= n_ctx:
            raise UsageError(f"the prompt is {len(tokens)} tokens but the context window is {n_ctx} tokens "
                             "(room is needed for at least one new token); raise --n-ctx or shorten the prompt")
        sampling = self.sampling(request, n_ctx - len(tokens))
        stops = list(request.stop) + template_stops
        if request.logprobs is not None:
            raise UsageError(f"{ref.label}: gguf models score given continuations (classify --scores) but do "
                             "not report log-probabilities of generated text; openai models do")
        grammar = _engine().json_schema_grammar(request.json_schema) if request.json_schema is not None else None
        try:
            result = _engine().generate(llm, tokens, sampling, stops, on_text if request.stream else None, grammar)
        except RuntimeError as exc:
            raise ProviderError(f"{ref.label}: llama.cpp failed while generating: {exc}") from None
        usage = Usage(result.prompt_tokens, result.output_tokens, estimated=False)
        return Completion(result.text, usage, result.finish_reason, ref.label)

    def constrains_json(self, ref: ModelRef) -> bool:
        return True

    def attachment_problem(self, ref: ModelRef, attachment: Any) -> str | None:
        # llama-cpp-python reads images only through a multimodal chat handler (Llava15ChatHandler and
        # kin) built on the model's vision projector, a second file that a text-only GGUF has none of.
        return (f"{ref.label} cannot read {attachment.mime} attachments ({attachment.source}): a local GGUF "
                "model sees images only with its vision projector (mmproj) file and a multimodal model "
                "(LLaVA, Qwen2-VL, Gemma 3), which llmctl does not load yet; use an API model that takes "
                "images (`llmctl models` lists what each takes)")

    def gives_logprobs(self, ref: ModelRef) -> bool:
        return True

    def score_continuations(self, ref: ModelRef, request: CompletionRequest,
                            continuations: list[str]) -> ContinuationScores:
        llm = self.chat_model(ref)
        engine = _engine()
        tokens, _ = self.prompt_tokens(ref, request)
        options = [engine.tokenize(llm, text, add_special=False, parse_special=False) for text in continuations]
        if any(not o for o in options):
            raise UsageError("every continuation to score needs at least one token")
        longest = max(len(o) for o in options)
        n_ctx = self.context_size(ref, llm)
        if len(tokens) + longest > n_ctx:
            raise UsageError(f"the prompt is {len(tokens)} tokens and the context window {n_ctx}; "
                             "raise --n-ctx or shorten the text")
        try:
            scores = engine.score_continuations(llm, tokens, options)
        except RuntimeError as exc:
            raise ProviderError(f"{ref.label}: llama.cpp failed while scoring: {exc}") from None
        read = len(tokens) + sum(len(o) for o in options if len(o) > 1)
        return ContinuationScores(scores, Usage(read, 0, estimated=False))

    # ------------------------------------------------------------------ embeddings
    def embed(self, ref: ModelRef, request: EmbeddingRequest) -> Embeddings:
        if request.dimensions is not None:
            raise UsageError(f"--dimensions is not supported by {ref.label} (its vectors have a fixed width)")
        llm = self._embedder(ref)
        engine = _engine()
        limit = min(self.context_size(ref, llm), int(llm.n_batch))
        for index, text in enumerate(request.texts):
            count = len(engine.tokenize(llm, text, add_special=True, parse_special=False))
            if count > limit:
                raise UsageError(f"input {index + 1} is {count} tokens; {ref.label} embeds at most {limit} "
                                 "tokens at a time (raise --n-ctx)")
        try:
            vectors, counted = llm.embed(request.texts, normalize=False, truncate=False, return_count=True)
        except (RuntimeError, ValueError) as exc:
            detail = engine.last_log_error() or str(exc)
            raise ProviderError(f"{ref.label}: llama.cpp cannot embed with this model: {detail}") from None
        if vectors and isinstance(vectors[0], list) and vectors[0] and isinstance(vectors[0][0], list):
            raise ProviderError(f"{ref.label}: llama.cpp returned one vector per token (the model declares "
                                "no pooling)")
        out = [[float(x) for x in v] for v in vectors]
        if request.normalize:
            out = [_unit(v) for v in out]
        return Embeddings(out, Usage(int(counted), 0, estimated=False), ref.label)


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector
