"""Hugging Face transformers models from local folders: tokenize, generate, embed."""

from llmctl.providers.hf.provider import HFProvider

__all__ = ["HFProvider"]
