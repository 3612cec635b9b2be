"""A scripted in-process backend with a whitespace tokenizer, for the run layer's tests.

It is a provider plugin like a third party's: `scripted_dist/llmctl_scripted-0.1.dist-info` registers
it under the `llmctl.providers` entry point group, and tests/run/conftest.py puts that folder on
sys.path, where importlib.metadata finds it; nothing patches llmctl's registry.

Model names say how each model behaves: `scripted:slow-N` answers after N ms, `scripted:broken`
fails every call, `scripted:vec` embeds. Real HTTP is exercised with the loopback fault server.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.errors import NetworkError, UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import (
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ModelRef,
    Provider,
    Tokenizer,
)
from llmctl.providers.options import HostedOptions

runner = CliRunner()


class WordTokenizer(Tokenizer):
    """One token a whitespace-separated word: easy to count by hand in a test."""

    name = "words"

    def encode(self, text: str) -> list[int]:
        return [len(word) for word in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join("x" * i for i in ids)

    def token_bytes(self, token_id: int) -> bytes:
        return b"x" * token_id

    @property
    def vocab_size(self) -> int:
        return 1000


class ScriptedProvider(Provider):
    """Answers `upper(prompt)`; a prompt containing FAIL raises; `slow-N` models wait N ms first."""

    kind = "scripted"
    # It stands in for an API: it takes the hosted options (--timeout, --concurrency).
    options_model = HostedOptions
    calls: list[tuple[str, str]] = []
    in_flight = 0
    most_in_flight = 0
    _lock = threading.Lock()

    def load(self, ref: ModelRef, capability: str = "complete") -> None:
        if ref.model == "quietload":
            # As llama.cpp does while it loads a model: the process's stdout points at /dev/null.
            saved = sys.stdout
            with open(os.devnull, "w") as null:
                sys.stdout = null
                try:
                    time.sleep(0.3)
                finally:
                    sys.stdout = saved

    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        if ref.model == "notok":
            raise UsageError(f"no tokenizer is known for {ref.label}")
        return WordTokenizer()

    def _enter(self) -> None:
        cls = type(self)
        with cls._lock:
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)

    def _leave(self) -> None:
        with type(self)._lock:
            type(self).in_flight -= 1

    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: Callable[[str], None] | None = None
                 ) -> Completion:
        type(self).calls.append((ref.model, request.prompt))
        self._enter()
        try:
            if ref.model.startswith("slow-"):
                time.sleep(int(ref.model.split("-")[1]) / 1000)
            if ref.model == "broken" or "FAIL" in request.prompt:
                raise NetworkError("connection reset by peer")
            text = request.prompt.upper()
            if request.stream and on_text:
                for word in text.split(" "):
                    on_text(word + " ")
                    time.sleep(0.005)
                    if "CUT" in word:
                        raise NetworkError("the stream was cut")
            words = len(request.prompt.split())
            return Completion(text, Usage(words + 2, len(text.split())), "stop", ref.model)
        finally:
            self._leave()

    def embed(self, ref: ModelRef, request: EmbeddingRequest) -> Embeddings:
        type(self).calls.extend((ref.model, t) for t in request.texts)
        vectors = []
        for text in request.texts:
            vec = [float(text.lower().count(c)) for c in "aeiou"]
            if request.normalize:
                norm = math.sqrt(sum(x * x for x in vec)) or 1.0
                vec = [x / norm for x in vec]
            vectors.append(vec)
        return Embeddings(vectors, Usage(sum(len(t.split()) for t in request.texts)))


CONFIG = """
[providers.scripted]
kind = "scripted"

[models.scripted."chat"]
context_window = 100
max_output = 10
capabilities = ["complete", "tokenize"]

[models.scripted."broken"]
context_window = 100
max_output = 10
capabilities = ["complete", "tokenize"]

[models.scripted."vec"]
context_window = 100
capabilities = ["embed", "tokenize"]

[prices.scripted."chat"]
input = "1000000"
output = "2000000"
as_of = "2026-11-01"
source = "test"

[prices.scripted."broken"]
input = "1000000"
output = "2000000"
as_of = "2026-11-01"
source = "test"

[prices.scripted."vec"]
input = "1000000"
as_of = "2026-11-01"
source = "test"
"""


def slow_models(*delays: int) -> str:
    text = ""
    for delay in delays:
        text += (f'\n[models.scripted."slow-{delay}"]\ncontext_window = 100\nmax_output = 10\n'
                 f'capabilities = ["complete", "tokenize"]\n'
                 f'[prices.scripted."slow-{delay}"]\ninput = "1"\noutput = "1"\nas_of = "2026-11-01"\n'
                 f'source = "test"\n')
    return text



def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)
