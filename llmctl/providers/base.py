"""The provider interface every backend implements, and the request/result types it speaks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from llmctl.core.attachments import Attachment
from llmctl.core.config import BackendSettings
from llmctl.core.errors import InputError, UsageError
from llmctl.core.inputs import decode_utf8
from llmctl.core.tooling import ToolCall, ToolSpec
from llmctl.core.usage import Usage

if TYPE_CHECKING:
    from llmctl.providers.batch_format import BatchFormat
    from llmctl.providers.options import BackendOptions, ModelSettings

TOKENIZE = "tokenize"
COMPLETE = "complete"
EMBED = "embed"


@dataclass(frozen=True)
class ModelRef:
    """A resolved model name: which backend, which model, and what the configs say of it."""

    provider: str
    kind: str
    model: str
    label: str
    spec: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: the backend's [providers.*]/[profiles.*] settings, typed (a table given as a dict is read into them)
    settings: BackendSettings = field(default_factory=lambda: BackendSettings(""), hash=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.settings, dict):
            table: dict[str, Any] = self.settings
            kind = str(table["kind"]) if "kind" in table else self.kind
            object.__setattr__(self, "settings", BackendSettings.of(table, kind=kind))

    @cached_property
    def facts(self) -> ModelSettings:
        """What the configs say of the model (window, output limit, tokenizer, sampling defaults), typed:
        `spec` validated once into `options.ModelSettings` (exit 3 naming the table where it is wrong)."""
        from llmctl.providers.options import check_model_settings

        name = self.label.partition(":")[2]
        return check_model_settings(self.spec, source=None, table=f'models.{self.provider}."{name}"')

    @property
    def context_window(self) -> int | None:
        return self.facts.context_window

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(self.facts.capabilities)

    @property
    def attachment_types(self) -> frozenset[str]:
        """The MIME types the model reads besides text, as configs/models.toml lists them."""
        return frozenset(self.facts.attachments)


class Tokenizer(ABC):
    """A model's own tokenizer. Special tokens in user text are encoded as plain text."""

    name: str = "tokenizer"
    #: the model's window where only its tokenizer says it (a local model's file), else None
    context_window: int | None = None
    #: True where the counts only approximate the model's own (its provider publishes no tokenizer)
    estimated: bool = False

    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def decode(self, ids: list[int]) -> str: ...

    @abstractmethod
    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token stands for (what `--tokens` shows)."""

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def count_stream(self, stream: BinaryIO, source: str) -> int:
        """Count a whole file; backends with a faster exact path override this."""
        return self.count(decode_utf8(stream.read(), source))

    def check_ids(self, ids: list[int]) -> None:
        size = self.vocab_size
        bad = [i for i in ids if i < 0 or i >= size]
        if bad:
            raise InputError(f"token id {bad[0]} is outside the vocabulary of {self.name} (0..{size - 1})")


#: The CompletionRequest fields that SamplingOptions checks.
SAMPLING_FIELDS = ("max_tokens", "temperature", "top_p", "top_k", "repeat_penalty", "seed", "stop")


@dataclass
class CompletionRequest:
    """One prompt and its sampling settings; unset values mean the backend's default."""

    prompt: str
    system: str | None = None
    #: earlier turns as chat messages: {"role", "content"}; a tool round adds an assistant message with
    #: "tool_calls" (list of ToolCall) and {"role": "tool", "tool_call_id", "name", "content"} results
    history: list[dict[str, Any]] = field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    repeat_penalty: float | None = None
    stream: bool = False
    #: a JSON schema the answer must match (constrained decoding where the backend has it)
    json_schema: dict[str, Any] | None = None
    #: ask for log-probabilities of the generated tokens, with this many alternatives each (0: none)
    logprobs: int | None = None
    #: files and URLs sent with this prompt (checked against the model by Provider.accepts_attachment)
    attachments: list[Attachment] = field(default_factory=list)
    #: functions the model may ask to call (only those named on the command line)
    tools: list[ToolSpec] = field(default_factory=list)
    #: the tool rounds that follow this prompt: assistant messages with "tool_calls", then "tool" results
    tool_rounds: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The one range check of sampling settings, whichever backend or caller made the request.
        from llmctl.providers.options import check_sampling

        check_sampling({name: getattr(self, name) for name in SAMPLING_FIELDS})

    def messages(self) -> list[dict[str, Any]]:
        """The chat messages: system, earlier turns, then this prompt (its attachments are the provider's
        to lay out)."""
        out: list[dict[str, Any]] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        out.extend(self.history)
        out.append({"role": "user", "content": self.prompt})
        out.extend(self.tool_rounds)
        return out


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability, and the likeliest alternatives at its place."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Completion:
    text: str
    usage: Usage
    finish_reason: str | None = None
    response_model: str | None = None
    #: per generated token, when the request asked for log-probabilities
    logprobs: list[TokenLogprob] | None = None
    #: the functions the model asks to have called (finish_reason "tool_calls"); empty otherwise
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class ContinuationScores:
    """Log-probability of each candidate continuation of one prompt (summed over its tokens)."""

    logprobs: list[float]
    usage: Usage


@dataclass
class EmbeddingRequest:
    texts: list[str]
    dimensions: int | None = None
    normalize: bool = False


@dataclass
class Embeddings:
    vectors: list[list[float]]
    usage: Usage
    response_model: str | None = None


TextSink = Callable[[str], None]


class Provider(ABC):
    """One backend. Heavy libraries are imported inside methods, never at module import."""

    #: the name it registers under (its entry point's name, the `kind` of a [providers.*] table)
    kind: ClassVar[str]
    #: extra that installs the backend's libraries, for the exit-5 message
    extra: ClassVar[str | None] = None
    #: how many calls may run at once on one instance (None: no limit; local models say 1)
    max_concurrency: ClassVar[int | None] = None
    #: local backends cost nothing and say so (`"local": true`)
    local: ClassVar[bool] = False
    #: a model name is a path on this machine (a file or a folder): the cache fingerprints it, the
    #: usage log shows the name the user typed, and a profile may name it as its tokenizer
    model_is_path: ClassVar[bool] = False
    #: bare model names that are this backend's (`foo-` finds `foo:foo-large`); configs may add more
    prefixes: ClassVar[tuple[str, ...]] = ()
    #: `llmctl quantize` takes its models
    quantizable: ClassVar[bool] = False
    #: the options model, where a provider module already imports pydantic; else override option_model()
    options_model: ClassVar[type[BackendOptions] | None] = None
    #: whether the backend sends `CompletionRequest.tools` and reports the calls the model asks for
    tool_calling: ClassVar[bool] = False

    options: BackendOptions

    def __init__(self, options: BackendOptions | Mapping[str, Any] | None = None) -> None:
        #: this backend's typed options (llmctl.providers.options); a mapping is validated into them
        from llmctl.providers.options import BackendOptions, build_options

        if not isinstance(options, self.option_model()):
            given = options.model_dump() if isinstance(options, BackendOptions) else options
            options = build_options(self.kind, given=given or {})
        self.options = options
        #: How long the last load() of a local model took (ms), set by whoever timed it.
        self.load_ms: float | None = None
        self._warnings: list[str] = []

    # ------------------------------------------------------------------ what the class declares
    @classmethod
    def option_model(cls) -> type[BackendOptions]:
        """The pydantic model of this backend's options (flags, [providers.*] and [profiles.*] keys).

        Imported when asked for, so naming a model or tokenizing imports no pydantic."""
        if cls.options_model is not None:
            return cls.options_model
        from llmctl.providers.options import BackendOptions

        return BackendOptions

    @classmethod
    def claims(cls, name: str) -> bool:
        """Whether a bare name (no `provider:`) is this backend's model, such as `./x.gguf`."""
        return False

    @classmethod
    def resolve_name(cls, provider: str, model: str) -> str:
        """The model as the backend opens it (a local path for a file backend); raises UsageError."""
        return model

    @classmethod
    def unlisted_spec(cls, provider: str, model: str) -> dict[str, Any] | None:
        """What is known of a model the configs do not list (None: the name is unknown)."""
        return None

    @classmethod
    def listed_models(cls) -> list[str]:
        """Models this backend finds on its own (files in a cache, say), as typed after `NAME:`."""
        return []

    @classmethod
    def price_sources(cls) -> dict[str, str]:
        """LiteLLM's provider names for this backend's prices -> the prefix its keys carry there."""
        return {}

    def batch_format(self) -> BatchFormat | None:
        """The provider's batch API (upload, create, poll), or None where it has none."""
        return None

    def head(self, ref: ModelRef) -> str | None:
        """The model's own task head ('sequence-classification', 'nli', 'token-classification') or None."""
        return None

    def usable_context(self, ref: ModelRef) -> int | None:
        """The tokens a task may fill at once: the window the backend will open, not only the model's."""
        return self.context_window(ref)

    def encoder_decoder(self, ref: ModelRef) -> str | None:
        """The model type ('bart', 't5', ...) of an encoder-decoder model, which reads text without an
        instruction; None for a chat or completion model."""
        return None

    def count_request(self, ref: ModelRef, request: CompletionRequest) -> int:
        """The prompt tokens the provider will count for `request`: without the network, but for a
        provider's free count endpoint (Anthropic's, Gemini's, where a key is set).

        The default counts the message texts alone; a backend that knows its chat framing says more."""
        tokenizer = self.tokenizer(ref)
        return sum(tokenizer.count(m["content"]) for m in request.messages())

    def warn(self, message: str) -> None:
        """Queue a warning for the CLI to show on stderr (a provider never prints)."""
        self._warnings.append(message)

    def drain_warnings(self) -> list[str]:
        found, self._warnings = self._warnings, []
        return found

    def load(self, ref: ModelRef, capability: str = COMPLETE) -> None:  # noqa: B027 - optional hook
        """Get ready to use `ref` for `capability` (load a local model, build a client); the CLI shows
        a spinner meanwhile."""

    def capabilities(self, ref: ModelRef) -> frozenset[str]:
        return ref.capabilities or frozenset({TOKENIZE})

    def require(self, ref: ModelRef, capability: str) -> None:
        caps = self.capabilities(ref)
        if capability in caps:
            return
        if capability == COMPLETE and EMBED in caps:
            raise UsageError(f"{ref.label} is an embedding model; use `llmctl embed`")
        if capability == EMBED and COMPLETE in caps:
            raise UsageError(f"{ref.label} is a generation model, not an embedding model; use `llmctl complete`")
        raise UsageError(f"{ref.label} cannot {capability}")

    @abstractmethod
    def tokenizer(self, ref: ModelRef) -> Tokenizer: ...

    @classmethod
    def standalone_tokenizer(cls, ref: ModelRef) -> Tokenizer | None:
        """The tokenizer when it depends on the model alone, not on options or a loaded model."""
        return None

    def counting_tokenizer(self, ref: ModelRef) -> Tokenizer:
        """What `tokenize` and `--estimate` count with: the model's tokenizer, or a provider's count
        endpoint where it publishes no tokenizer (`tokenizer()` stays local for chunking)."""
        return self.tokenizer(ref)

    def count_chat(self, ref: ModelRef, messages: list[dict[str, str]]) -> int | None:
        """Tokens of these messages as the model's chat template lays them out, reply prompt included.

        None where the backend knows no template (then only the texts themselves can be counted).
        """
        return None

    def context_window(self, ref: ModelRef) -> int | None:
        """The most tokens the model reads at once, as configured or as the model file says."""
        return ref.context_window

    def generation_defaults(self, ref: ModelRef) -> dict[str, Any]:
        """Sampling defaults the model itself declares (temperature, top_p, top_k, repeat_penalty,
        max_tokens); an alias's settings in configs/models.toml take precedence over them."""
        return {}

    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        raise UsageError(f"{ref.label}: the {self.kind} provider cannot complete text")

    def embed(self, ref: ModelRef, request: EmbeddingRequest) -> Embeddings:
        raise UsageError(f"{ref.label}: the {self.kind} provider cannot embed text")

    def constrains_json(self, ref: ModelRef) -> bool:
        """Whether `CompletionRequest.json_schema` is enforced while decoding (else: prompt + parse)."""
        return False

    def accepts_attachment(self, ref: ModelRef, mime: str) -> bool:
        """Whether the model reads attachments of this type (`attachments` in configs/models.toml)."""
        return mime in ref.attachment_types

    def attachment_problem(self, ref: ModelRef, attachment: Attachment) -> str | None:
        """Why `attachment` cannot go to this model (None: it can); said before anything is sent."""
        if self.accepts_attachment(ref, attachment.mime):
            return None
        takes = ", ".join(sorted(ref.attachment_types)) or "no attachments"
        return f"{ref.label} does not take {attachment.mime} attachments ({attachment.source}); it takes {takes}"

    def supports_tools(self, ref: ModelRef) -> bool:
        """Whether this model gets `CompletionRequest.tools` and reports the calls it asks for."""
        return self.tool_calling

    def gives_logprobs(self, ref: ModelRef) -> bool:
        """Whether this backend can say how likely text is: `logprobs` or `score_continuations`."""
        return False

    def score_continuations(self, ref: ModelRef, request: CompletionRequest,
                            continuations: list[str]) -> ContinuationScores:
        """Log-probability of each continuation right after the prompt (local models)."""
        raise UsageError(f"{ref.label}: the {self.kind} provider cannot score continuations")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and loaded models."""
