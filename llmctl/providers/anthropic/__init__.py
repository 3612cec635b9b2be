"""Anthropic's Messages API (Claude), spoken natively through llmctl's HTTP client; counts from its count endpoint."""

from llmctl.providers.anthropic.provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
