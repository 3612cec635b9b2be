"""Mistral tokenizers from mistral-common's bundled files, offline.

Each model in configs/models.toml names a tokenizer version; this module maps the version to the
file mistral-common ships (v1, v2, v3 and v7 are SentencePiece models, tekken is tiktoken-style).
Text is encoded without BOS/EOS, and control tokens in user text count as plain text.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from llmctl.core.errors import ConfigError, InputError, UsageError
from llmctl.core.inputs import decode_utf8
from llmctl.providers.base import ModelRef, Tokenizer
from llmctl.tokencount.tiktoken_pieces import count_in_pieces

#: tokenizer version -> file name inside mistral_common/data
TOKENIZER_FILES: dict[str, str] = {
    "v1": "tokenizer.model.v1",
    "v2": "mistral_instruct_tokenizer_240216.model.v2",
    "v3": "mistral_instruct_tokenizer_240323.model.v3",
    "v7": "mistral_instruct_tokenizer_241114.model.v7",
    "tekken": "tekken_240718.json",
}


def _data_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("mistral_common")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("mistral-common is not installed; run: pip install mistral-common")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class MistralTokenizer(Tokenizer):
    def __init__(self, version: str) -> None:
        if version not in TOKENIZER_FILES:
            raise ConfigError(f"unknown Mistral tokenizer version {version!r}; known: {', '.join(TOKENIZER_FILES)}")
        self.version = version
        self.name = f"mistral:{version}"
        self._inner: Any = None

    def _tokenizer(self) -> Any:
        if self._inner is None:
            path = _data_dir() / TOKENIZER_FILES[self.version]
            if self.version == "tekken":
                from mistral_common.tokens.tokenizers.tekken import Tekkenizer

                self._inner = Tekkenizer.from_file(path)
            else:
                from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer

                self._inner = SentencePieceTokenizer(str(path))
        return self._inner

    @property
    def is_tekken(self) -> bool:
        return self.version == "tekken"

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer().encode(text, bos=False, eos=False))

    def decode(self, ids: list[int]) -> str:
        self.check_ids(ids)
        from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

        if not self.is_tekken:
            return str(self._tokenizer().decode(ids))
        return str(self._tokenizer().decode(ids, special_token_policy=SpecialTokenPolicy.KEEP))

    def token_bytes(self, token_id: int) -> bytes:
        inner = self._tokenizer()
        if self.is_tekken:
            from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

            return bytes(inner.id_to_byte_piece(token_id, special_token_policy=SpecialTokenPolicy.KEEP))
        piece = str(inner.id_to_piece(token_id))
        if piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
            return bytes([int(piece[3:5], 16)])
        return piece.replace("\u2581", " ").encode("utf-8")

    @property
    def vocab_size(self) -> int:
        return int(self._tokenizer().n_words)

    def check_ids(self, ids: list[int]) -> None:
        size = self.vocab_size
        for i in ids:
            if i < 0 or i >= size:
                raise InputError(f"token id {i} is not in the Mistral {self.version} vocabulary (0..{size - 1})")

    def count_stream(self, stream: BinaryIO, source: str) -> int:
        if not self.is_tekken:
            return self.count(decode_utf8(stream.read(), source))
        # Tekken splits text with an o200k-style pre-tokenizer: tokencount.tiktoken_pieces holds the proof.
        model = self._tokenizer()._model
        return count_in_pieces(lambda: model, stream, source, str(model._pat_str))


@cache
def tokenizer_for_version(version: str) -> MistralTokenizer:
    """One tokenizer per version in a process: its tables load once."""
    return MistralTokenizer(version)


def mistral_tokenizer(ref: ModelRef) -> MistralTokenizer:
    """The tokenizer of a Mistral model; unknown models on custom endpoints get tekken."""
    version = ref.facts.tokenizer
    if version is None:
        if ref.settings.custom_endpoint:
            version = "tekken"
        else:
            raise UsageError(f"no tokenizer is known for {ref.label}")
    return tokenizer_for_version(version)


@cache
def _instruct(version: str) -> Any:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer as Instruct

    return Instruct.from_file(str(_data_dir() / TOKENIZER_FILES[version]))


def chat_tokens(version: str, messages: list[dict[str, str]]) -> int:
    """Prompt tokens of a chat in Mistral's instruct format (`<s>[INST] ... [/INST]`, a system prompt
    folded into the last user turn or, from v7, in `[SYSTEM_PROMPT]`), as mistral-common renders it."""
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    built = [kinds[m["role"]](content=m["content"]) for m in messages]
    return len(_instruct(version).encode_chat_completion(ChatCompletionRequest(messages=built)).tokens)
