"""Google's Gemini API, spoken natively through llmctl's HTTP client; counts from its countTokens endpoint."""

from llmctl.providers.gemini.provider import GeminiProvider

__all__ = ["GeminiProvider"]
