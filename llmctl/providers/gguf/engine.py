"""llama.cpp plumbing for the gguf provider: quiet logs, safe loading, exact tokens, the generation loop.

Imported only when a GGUF model is used: it imports llama_cpp at module level.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import ctypes
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import llama_cpp
import llama_cpp.llama_cpp as llama_lib

#: The last lines llama.cpp logged, quoted when a load fails (it never prints on its own).
RECENT_LOG: collections.deque[str] = collections.deque(maxlen=20)


@llama_lib.llama_log_callback
def _keep_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    line = text.decode("utf-8", errors="replace").strip()
    if line:
        RECENT_LOG.append(line)


llama_lib.llama_log_set(_keep_log, ctypes.c_void_p(0))


def last_log_error() -> str:
    """The most telling recent llama.cpp log line, for an error message."""
    for line in reversed(RECENT_LOG):
        if "error" in line.lower() or "failed" in line.lower():
            return line
    return RECENT_LOG[-1] if RECENT_LOG else ""


def cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


def extra_buffer_types_wanted() -> bool:
    """Whether llama.cpp may use its extra CPU buffer types (AMX, repacked weights).

    Virtual machines often advertise AMX without enabling its tile registers; llama.cpp's AMX
    kernels then die with a protection fault on the first matrix product. On an AMX CPU they are
    off unless LLMCTL_GGUF_EXTRA_BUFTS=1 says the machine really runs them.
    """
    forced = os.environ.get("LLMCTL_GGUF_EXTRA_BUFTS")
    if forced is not None:
        return forced.strip().lower() in ("1", "true", "yes", "on")
    return not cpu_has_amx()


@contextlib.contextmanager
def model_params_patch() -> Iterator[None]:
    """While a Llama is built, hand it model params with extra buffer types off when they are unsafe."""
    if extra_buffer_types_wanted():
        yield
        return
    original = llama_lib.llama_model_default_params

    def without_extra_bufts() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    llama_lib.llama_model_default_params = without_extra_bufts
    try:
        yield
    finally:
        llama_lib.llama_model_default_params = original


#: One load at a time: with verbose=False llama_cpp points fds 1 and 2 at /dev/null while it loads and
#: puts back what it found, so two loads at once (a tokenize compare of two GGUF models) could leave
#: stdout on /dev/null for good; model_params_patch swaps a module global the same way.
_LOADING = threading.Lock()


def open_llama(path: str, **kwargs: Any) -> llama_cpp.Llama:
    """A Llama with llama.cpp's logging silenced; raises ValueError/RuntimeError as llama_cpp does."""
    with _LOADING, model_params_patch():
        llm = llama_cpp.Llama(model_path=path, verbose=False, **kwargs)
    llama_lib.llama_log_set(_keep_log, ctypes.c_void_p(0))
    return llm


def vocab_of(llm: llama_cpp.Llama) -> Any:
    return llama_lib.llama_model_get_vocab(llm.model)


def tokenize(llm: llama_cpp.Llama, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
    data = text.encode("utf-8")
    vocab = vocab_of(llm)
    room = len(data) + 8
    buf = (llama_lib.llama_token * room)()
    n = llama_lib.llama_tokenize(vocab, data, len(data), buf, room, add_special, parse_special)
    if n < 0:
        room = -n
        buf = (llama_lib.llama_token * room)()
        n = llama_lib.llama_tokenize(vocab, data, len(data), buf, room, add_special, parse_special)
        if n < 0:
            raise RuntimeError(f"llama.cpp could not tokenize {len(data)} bytes")
    return list(buf[:n])


def token_piece(vocab: Any, token: int, *, special: bool) -> bytes:
    """The bytes of one token; no size limit (llama_cpp's own helper stops at 32 bytes)."""
    size = 64
    buf = ctypes.create_string_buffer(size)
    n = llama_lib.llama_token_to_piece(vocab, token, buf, size, 0, special)
    if n < 0:
        size = -n
        buf = ctypes.create_string_buffer(size)
        n = llama_lib.llama_token_to_piece(vocab, token, buf, size, 0, special)
    return buf.raw[:max(n, 0)]


def is_end_of_generation(vocab: Any, token: int) -> bool:
    return bool(llama_lib.llama_vocab_is_eog(vocab, token))


@dataclass
class Sampling:
    """The sampler settings; defaults are llama-cpp-python's create_completion defaults."""

    max_tokens: int
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    output_tokens: int
    finish_reason: str
    started: float
    first_token_at: float | None
    finished: float


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters could be the start of a stop string (not shown yet)."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:k]):
                longest = k
                break
    return longest


def generate(llm: llama_cpp.Llama, prompt: list[int], sampling: Sampling, stops: list[str],
             on_text: Callable[[str], None] | None = None, grammar: Any = None) -> Generation:
    """Sample until end of generation, a stop string or max_tokens; text is streamed as it settles.

    Output tokens count every sampled token but the end-of-generation one, as llama.cpp's own
    completion usage does.
    """
    vocab = vocab_of(llm)
    stops = [s for s in stops if s]
    if sampling.seed is not None:
        # A reused KV-cache prefix is evaluated in other batch shapes, which moves the logits by
        # rounding; a seeded run evaluates the whole prompt so the same seed gives the same text.
        llm.reset()
        llm.set_seed(sampling.seed)
    else:
        llm.set_seed(random.SystemRandom().randrange(2**31))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text, sent, produced, finish, cut_at_stop = "", 0, 0, "length", False
    started, first_at = time.perf_counter(), None
    tokens = llm.generate(prompt, top_k=sampling.top_k, top_p=sampling.top_p, min_p=sampling.min_p,
                          temp=sampling.temperature, repeat_penalty=sampling.repeat_penalty, grammar=grammar)
    try:
        for token in tokens:
            if first_at is None:
                first_at = time.perf_counter()
            if is_end_of_generation(vocab, token):
                finish = "stop"
                break
            produced += 1
            text += decoder.decode(token_piece(vocab, token, special=False))
            cut = min((i for i in (text.find(s, sent) for s in stops) if i >= 0), default=-1)
            if cut >= 0:
                text, finish, cut_at_stop = text[:cut], "stop", True
                break
            ready = len(text) - _held_back(text, stops)
            if on_text is not None and ready > sent:
                on_text(text[sent:ready])
                sent = ready
            if produced >= sampling.max_tokens:
                break
    finally:
        tokens.close()
    if not cut_at_stop:
        text += decoder.decode(b"", final=True)
    if on_text is not None and len(text) > sent:
        on_text(text[sent:])
    return Generation(text, len(prompt), produced, finish, started, first_at, time.perf_counter())


def json_schema_grammar(schema: dict[str, Any]) -> Any:
    """llama.cpp's GBNF grammar for a JSON schema: sampling can only produce matching JSON."""
    import json

    return llama_cpp.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def _log_softmax_rows(llm: llama_cpp.Llama, indexes: list[int]) -> Any:
    import numpy as np

    n_vocab = llm.n_vocab()
    rows = np.stack([np.ctypeslib.as_array(llm._ctx.get_logits_ith(i), shape=(n_vocab,)) for i in indexes])
    rows = rows.astype(np.float64)
    peak = rows.max(axis=1, keepdims=True)
    return rows - peak - np.log(np.exp(rows - peak).sum(axis=1, keepdims=True))


def score_continuations(llm: llama_cpp.Llama, prompt: list[int], continuations: list[list[int]],
                        *, reuse_prompt: bool = True) -> list[float]:
    """Summed log-probability of each token list right after `prompt`.

    The prompt is evaluated once; for every continuation the KV cache is cut back to the prompt's
    end and only the continuation's tokens are evaluated, in one batch that keeps the logits of
    each position. `reuse_prompt=False` evaluates the prompt again for each one, the baseline the
    benchmark compares against.
    """
    out: list[float] = []
    first: Any = None
    for tokens in continuations:
        if first is None or not reuse_prompt:
            llm.reset()
            llm.eval(prompt)
            first = _log_softmax_rows(llm, [-1])[0]
        total = float(first[tokens[0]])
        if len(tokens) > 1:
            n_past = len(prompt)
            llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
            # The last token goes in too, though only the rows before it are read: llama.cpp takes
            # one-token batches through another kernel path whose rounding on quantized weights
            # moves a log-probability by up to 0.15 from what a batched evaluation gives.
            llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
            llm._ctx.decode(llm._batch)
            rows = _log_softmax_rows(llm, list(range(len(tokens) - 1)))
            total += float(sum(rows[i, t] for i, t in enumerate(tokens[1:])))
        llm.n_tokens = len(prompt)
        out.append(total)
    return out
