"""Input tokens of a chat request as each provider counts them: the messages plus the chat format.

OpenAI wraps every message in `<|im_start|>ROLE<|im_sep|>CONTENT<|im_end|>` (3 tokens of
framing a message, plus the role's own token) and primes the reply with 3 more tokens.
Mistral's instruct format (`<s>[INST] ... [/INST]`, a system prompt folded into the last user
turn or, from v7, in `[SYSTEM_PROMPT]`) is rendered by mistral-common itself. A GGUF model's
own chat template is rendered by the provider, exactly as it will be sent.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from llmctl.providers.base import CompletionRequest, ModelRef, Provider, Tokenizer

#: OpenAI chat framing, per message and for the reply's priming
OPENAI_TOKENS_PER_MESSAGE = 3
OPENAI_REPLY_PRIMING = 3


def openai_chat_tokens(tokenizer: Tokenizer, request: CompletionRequest) -> int:
    total = OPENAI_REPLY_PRIMING
    for message in request.messages():
        total += OPENAI_TOKENS_PER_MESSAGE + tokenizer.count(message["role"]) + tokenizer.count(message["content"])
    return total


@cache
def _mistral_instruct(version: str) -> Any:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from llmctl.providers.mistral.tokens import TOKENIZER_FILES, _data_dir

    return MistralTokenizer.from_file(str(_data_dir() / TOKENIZER_FILES[version]))


def mistral_chat_tokens(tokenizer: Tokenizer, request: CompletionRequest) -> int:
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    messages = [kinds[m["role"]](content=m["content"]) for m in request.messages()]
    version = getattr(tokenizer, "version", "tekken")
    encoded = _mistral_instruct(version).encode_chat_completion(ChatCompletionRequest(messages=messages))
    return len(encoded.tokens)


def chat_input_tokens(ref: ModelRef, provider: Provider, tokenizer: Tokenizer, request: CompletionRequest) -> int:
    """The prompt tokens the provider will report for `request` (no network, but for a provider's free count
    endpoint)."""
    counted = provider.count_request(ref, request)
    if counted is not None:
        return counted
    if ref.kind == "openai":
        return openai_chat_tokens(tokenizer, request)
    if ref.kind == "mistral":
        return mistral_chat_tokens(tokenizer, request)
    exact = getattr(provider, "prompt_tokens", None)
    if callable(exact):
        tokens, _ = exact(ref, request)
        return len(tokens)
    return sum(tokenizer.count(m["content"]) for m in request.messages())
