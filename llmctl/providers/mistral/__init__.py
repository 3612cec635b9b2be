"""The Mistral API, with mistral-common's tokenizers."""

from llmctl.providers.mistral.provider import MistralProvider

__all__ = ["MistralProvider"]
