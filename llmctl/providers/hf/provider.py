"""The `hf` provider: a local Hugging Face model folder through transformers, offline, safetensors first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from llmctl.core.errors import LlmctlError, UsageError
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
from llmctl.providers.hf import names
from llmctl.providers.hf.folder import HFFolder
from llmctl.providers.hf.tokenizer import HFTokenizer
from llmctl.providers.registry import require_import

if TYPE_CHECKING:
    from llmctl.providers.options import HFOptions



@dataclass
class _Loaded:
    model: Any
    tokenizer: Any  # transformers tokenizer (generation) or tokenizers.Tokenizer (embedding)
    device: str
    pad_id: int = 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def quiet_libraries() -> None:
    """Keep libraries that transformers may import (torchao, torch's pytree) off our stderr.

    torchao, when installed (the quantize extra), logs a warning for each of its CUDA kernels that a
    CPU machine cannot load, and torch warns about its enum registrations; neither is the user's
    concern. Errors still show.
    """
    import logging

    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


class HFProvider(Provider):
    """Tokenize, complete and embed with a model folder on disk; nothing is downloaded."""

    kind: ClassVar[str] = "hf"
    extra: ClassVar[str | None] = "hf"
    local: ClassVar[bool] = True
    max_concurrency: ClassVar[int | None] = 1
    model_is_path: ClassVar[bool] = True
    quantizable: ClassVar[bool] = True

    options: HFOptions

    def __init__(self, options: HFOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._folders: dict[str, HFFolder] = {}
        self._tokenizers: dict[str, Tokenizer] = {}
        self._loaded: dict[str, _Loaded] = {}

    # ------------------------------------------------------------------ what it declares
    @classmethod
    def option_model(cls) -> type[HFOptions]:
        from llmctl.providers.options import HFOptions

        return HFOptions

    @classmethod
    def claims(cls, name: str) -> bool:
        return names.claims(name)

    @classmethod
    def resolve_name(cls, provider: str, model: str) -> str:
        return names.resolve(provider, model)

    def usable_context(self, ref: ModelRef) -> int | None:
        """The position table of the folder's model (512 where config.json names none)."""
        return self.folder(ref).max_positions or 512

    def encoder_decoder(self, ref: ModelRef) -> str | None:
        folder = self.folder(ref)
        return str(folder.model_type) if folder.is_encoder_decoder else None

    @property
    def trust_remote_code(self) -> bool:
        return self.options.trust_remote_code

    def folder(self, ref: ModelRef) -> HFFolder:
        found = self._folders.get(ref.model)
        if found is None:
            found = self._folders[ref.model] = HFFolder(ref.model, ref.label)
        return found

    def generation_defaults(self, ref: ModelRef) -> dict[str, Any]:
        return dict(self.folder(ref).sampling_defaults)

    def capabilities(self, ref: ModelRef) -> frozenset[str]:
        folder = self.folder(ref)
        if not folder.has("config.json"):
            return frozenset({TOKENIZE})
        if folder.head is not None:
            return frozenset({TOKENIZE, folder.head})
        return frozenset({TOKENIZE, COMPLETE if folder.generates else EMBED})

    def require(self, ref: ModelRef, capability: str) -> None:
        if capability != TOKENIZE:
            self.folder(ref).config  # noqa: B018 - "no config.json" says more than "cannot complete"
        super().require(ref, capability)

    # ---------------------------------------------------------------- tokenizer
    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        found = self._tokenizers.get(ref.model)
        if found is None:
            found = self._tokenizers[ref.model] = self._open_tokenizer(ref)
        return found

    def context_window(self, ref: ModelRef) -> int | None:
        folder = self.folder(ref)
        if not folder.has("config.json"):
            return None
        return folder.pooling.max_seq_length if folder.is_sentence_transformer else folder.max_positions

    def _open_tokenizer(self, ref: ModelRef) -> HFTokenizer:
        tok = self._read_tokenizer(ref)
        # What `tokenize` shows as the window: the most tokens the model reads at once.
        tok.context_window = self.context_window(ref)
        return tok

    def _read_tokenizer(self, ref: ModelRef) -> HFTokenizer:
        folder = self.folder(ref)
        if folder.tokenizer_json is not None:
            return HFTokenizer.from_file(str(folder.tokenizer_json), ref.label)
        folder.require_tokenizer()
        # No tokenizer.json: let transformers build the fast tokenizer from the older files.
        auto = self._transformers_tokenizer(folder)
        backend = getattr(auto, "backend_tokenizer", None)
        if backend is None:
            raise UsageError(f"{ref.label}: the tokenizer has no fast (tokenizers) form that llmctl can use")
        from tokenizers import Tokenizer as Backend

        return HFTokenizer(Backend.from_str(backend.to_str()), ref.label)

    def count_chat(self, ref: ModelRef, messages: list[dict[str, str]]) -> int | None:
        """The folder's chat template applied by transformers itself, reply prompt included."""
        folder = self.folder(ref)
        if not folder.tokenizer_config.get("chat_template") and not folder.has("chat_template.jinja"):
            return None
        auto = self._transformers_tokenizer(folder)
        ids = auto.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    def _transformers_tokenizer(self, folder: HFFolder) -> Any:
        transformers = self._transformers()
        auto_map = folder.tokenizer_config.get("auto_map")
        if auto_map and not self.trust_remote_code:
            raise UsageError(f"{folder.label}: the tokenizer needs remote code (auto_map in tokenizer_config.json); "
                             "pass --trust-remote-code if you trust this folder")
        try:
            return transformers.AutoTokenizer.from_pretrained(
                str(folder.path), local_files_only=True, trust_remote_code=self.trust_remote_code)
        except LlmctlError:
            raise
        except Exception as exc:
            raise UsageError(f"{folder.label}: cannot load the tokenizer: {_one_line(exc)}") from None

    # ------------------------------------------------------------------ loading
    def _transformers(self) -> Any:
        quiet_libraries()
        require_import("torch", "torch", "hf")
        transformers = require_import("transformers", "transformers", "hf")
        # A provider never prints: no progress bars or log lines from the library on our stderr.
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        return transformers

    def _device(self) -> str:
        import torch

        wanted = self.options.device
        if wanted == "auto":
            if torch.cuda.is_available():
                return "cuda"
            mps = getattr(torch.backends, "mps", None)
            return "mps" if mps is not None and mps.is_available() else "cpu"
        if wanted.startswith("cuda"):
            if not torch.cuda.is_available():
                raise UsageError(f"--device {wanted}: torch sees no CUDA GPU here (try --device cpu or auto)")
            index = int(wanted.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise UsageError(f"--device {wanted}: only {torch.cuda.device_count()} CUDA GPU(s) visible")
        if wanted == "mps":
            mps = getattr(torch.backends, "mps", None)
            if mps is None or not mps.is_available():
                raise UsageError("--device mps: torch sees no Apple GPU here")
        return wanted

    def load(self, ref: ModelRef, capability: str = COMPLETE) -> None:
        self._load(ref)

    def _load(self, ref: ModelRef) -> _Loaded:
        found = self._loaded.get(ref.model)
        if found is not None:
            return found
        folder = self.folder(ref)
        folder.config  # noqa: B018 - a folder without config.json fails here, with its own message
        weights = folder.weights(self.options.allow_pickle)
        transformers = self._transformers()
        import torch
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        folder.check_remote_code(self.trust_remote_code, frozenset(CONFIG_MAPPING_NAMES))
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        device = self._device()
        head = folder.head
        if head in ("sequence-classification", "nli"):
            auto_class = transformers.AutoModelForSequenceClassification
        elif head == "token-classification":
            auto_class = transformers.AutoModelForTokenClassification
        elif folder.is_encoder_decoder:
            auto_class = transformers.AutoModelForSeq2SeqLM
        elif folder.generates:
            auto_class = transformers.AutoModelForCausalLM
        else:
            auto_class = transformers.AutoModel
        try:
            model = auto_class.from_pretrained(
                str(folder.path),
                local_files_only=True,
                trust_remote_code=self.trust_remote_code,
                use_safetensors=weights == "safetensors",
                # Full precision on the CPU: half precision there is slower and drifts from the reference.
                dtype=torch.float32 if device == "cpu" else "auto",
            )
            model.to(device)
            model.eval()
        except LlmctlError:
            raise
        except Exception as exc:  # a truncated or malformed checkpoint is the user's file, not our bug
            raise UsageError(f"{ref.label}: cannot load the model: {_one_line(exc)}") from None
        if folder.generates or head is not None:
            folder.require_tokenizer()
            loaded = _Loaded(model, self._transformers_tokenizer(folder), device)
        else:
            loaded = self._embedding_tokenizer(ref, folder, model, device)
        self._loaded[ref.model] = loaded
        return loaded

    def _embedding_tokenizer(self, ref: ModelRef, folder: HFFolder, model: Any, device: str) -> _Loaded:
        """A tokenizer set up as sentence-transformers sets it: special tokens added, cut at the max length."""
        from tokenizers import Tokenizer as Backend

        folder.require_tokenizer()
        if folder.tokenizer_json is not None:
            backend = Backend.from_file(str(folder.tokenizer_json))
        else:
            auto = self._transformers_tokenizer(folder)
            if getattr(auto, "backend_tokenizer", None) is None:
                raise UsageError(f"{ref.label}: the tokenizer has no fast (tokenizers) form that llmctl can use")
            backend = Backend.from_str(auto.backend_tokenizer.to_str())
        pad_id = model.config.pad_token_id
        if backend.padding:
            pad_id = backend.token_to_id(backend.padding["pad_token"])
        backend.no_padding()
        max_len = folder.pooling.max_seq_length
        if max_len:
            backend.enable_truncation(max_len)
        else:
            backend.no_truncation()
        return _Loaded(model, backend, device, int(pad_id or 0))

    # ---------------------------------------------------------------- the work
    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        from llmctl.providers.hf.generate import generate

        self.require(ref, COMPLETE)
        loaded = self._load(ref)
        return generate(loaded.model, loaded.tokenizer, self.folder(ref), request, loaded.device,
                        on_text if request.stream else None, self.warn)

    def embed(self, ref: ModelRef, request: EmbeddingRequest) -> Embeddings:
        from llmctl.providers.hf.embed import embed_texts

        self.require(ref, EMBED)
        loaded = self._load(ref)
        folder = self.folder(ref)
        return embed_texts(loaded.model, loaded.tokenizer, loaded.pad_id, folder, folder.pooling, request,
                           loaded.device, self.warn)

    # ---------------------------------------------------------------- task heads and scoring
    def constrains_json(self, ref: ModelRef) -> bool:
        from llmctl.providers.hf.constrained import available

        return available()

    def gives_logprobs(self, ref: ModelRef) -> bool:
        return self.folder(ref).generates and not self.folder(ref).is_encoder_decoder

    def head(self, ref: ModelRef) -> str | None:
        """The model's own task head ('sequence-classification', 'nli', 'token-classification') or None."""
        return self.folder(ref).head

    def head_labels(self, ref: ModelRef) -> list[str]:
        """A classification head's labels in id order, from config.json's id2label."""
        mapping = self.folder(ref).config.get("id2label") or {}
        return [str(mapping[k]) for k in sorted(mapping, key=int)]

    def _head_model(self, ref: ModelRef, wanted: tuple[str, ...]) -> _Loaded:
        if self.head(ref) not in wanted:
            raise UsageError(f"{ref.label} has no {' or '.join(wanted)} head")
        return self._load(ref)

    def classify_texts(self, ref: ModelRef, texts: list[str]) -> tuple[list[dict[str, float]], Any]:
        """Each text's probability for every label of a sequence-classification head."""
        from llmctl.providers.hf.heads import classify_texts

        loaded = self._head_model(ref, ("sequence-classification", "nli"))
        return classify_texts(loaded.model, loaded.tokenizer, texts, loaded.device, self.folder(ref).max_positions)

    def nli_logits(self, ref: ModelRef, premise: str, hypotheses: list[str]) -> tuple[list[tuple[float, float]], Any]:
        """(entailment, contradiction) logits of the text against each hypothesis."""
        from llmctl.providers.hf.heads import nli_logits

        loaded = self._head_model(ref, ("nli",))
        return nli_logits(loaded.model, loaded.tokenizer, premise, hypotheses, loaded.device,
                          self.folder(ref).max_positions)

    def token_entities(self, ref: ModelRef, text: str) -> tuple[list[dict[str, Any]], Any]:
        """Entity spans from a token-classification head, with character offsets into `text`."""
        from llmctl.providers.hf.heads import token_entities

        loaded = self._head_model(ref, ("token-classification",))
        return token_entities(loaded.model, loaded.tokenizer, text, loaded.device, self.folder(ref).max_positions)

    def score_continuations(self, ref: ModelRef, request: CompletionRequest,
                            continuations: list[str]) -> ContinuationScores:
        from llmctl.core.usage import Usage
        from llmctl.providers.hf.generate import prompt_ids
        from llmctl.providers.hf.heads import score_continuations

        if not self.gives_logprobs(ref):
            raise UsageError(f"{ref.label}: only decoder-only generation models score continuations")
        loaded = self._load(ref)
        prompt = prompt_ids(loaded.tokenizer, request, self.warn)
        options = [list(loaded.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in continuations]
        if any(not o for o in options):
            raise UsageError("every continuation to score needs at least one token")
        scores = score_continuations(loaded.model, prompt, options, loaded.device)
        return ContinuationScores(scores, Usage(len(prompt) + sum(len(o) - 1 for o in options), 0))

    def close(self) -> None:
        self._loaded.clear()
