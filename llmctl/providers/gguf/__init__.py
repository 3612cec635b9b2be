"""GGUF models through llama.cpp (llama-cpp-python): file checks, engine, server, bench."""

from llmctl.providers.gguf.provider import GGUFProvider

__all__ = ["GGUFProvider"]
