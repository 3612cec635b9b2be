"""The OpenAI API and OpenAI-compatible servers, with tiktoken counting offline."""

from llmctl.providers.openai.provider import OpenAIProvider

__all__ = ["OpenAIProvider"]
