"""Text generation with transformers `generate()`: prompt building, sampling settings, stop strings, streaming."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import Completion, CompletionRequest, TextSink
from llmctl.providers.hf.folder import HFFolder

#: new tokens when the request names no --max-tokens
DEFAULT_MAX_TOKENS = 256


class _TextTracker:
    """Decodes generated ids as they arrive; cuts at the first stop string; streams what is final."""

    def __init__(self, tokenizer: Any, stop: list[str], eos_ids: set[int], on_text: TextSink | None) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.eos_ids = eos_ids
        self.on_text = on_text
        self.ids: list[int] = []
        self.saw_eos = False
        self.stopped = False
        self.text = ""
        self.sent = 0

    def add(self, token_id: int) -> None:
        if self.stopped or self.saw_eos:
            return
        if token_id in self.eos_ids:
            self.saw_eos = True
            return
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            self.text = text[:cut]
            self.stopped = True
            self._emit(len(self.text))
            return
        self.text = text
        # Hold back a possible start of a stop string, and a character still missing bytes.
        ready = len(text) - self.hold
        while ready > self.sent and text[ready - 1] == "\ufffd":
            ready -= 1
        self._emit(ready)

    def finish(self) -> None:
        self._emit(len(self.text))

    def _emit(self, upto: int) -> None:
        if upto > self.sent:
            if self.on_text is not None:
                self.on_text(self.text[self.sent:upto])
            self.sent = upto


def _streamer(tracker: _TextTracker) -> Any:
    from transformers.generation.streamers import BaseStreamer

    class Streamer(BaseStreamer):  # type: ignore[misc]
        def __init__(self) -> None:
            self.first = True

        def put(self, value: Any) -> None:
            if self.first:  # generate() hands over the prompt (or decoder start) first
                self.first = False
                return
            for token in value.reshape(-1).tolist():
                tracker.add(int(token))

        def end(self) -> None:
            tracker.finish()

    return Streamer()


def _stop_criteria(tracker: _TextTracker, start: int) -> Any:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopStrings(StoppingCriteria):  # type: ignore[misc]
        """Ends generation once the decoded text holds a stop string (the streamer cuts it)."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            text = tracker.tokenizer.decode(input_ids[0, start:].tolist(), skip_special_tokens=True)
            hit = any(s in text for s in tracker.stop)
            return torch.full((input_ids.shape[0],), hit, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopStrings()]) if tracker.stop else None


def prompt_ids(tokenizer: Any, request: CompletionRequest, warn: Callable[[str], None]) -> list[int]:
    """The prompt as token ids: through the chat template when the model has one, raw otherwise."""
    messages = request.messages()
    if getattr(tokenizer, "chat_template", None):
        try:
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # a template is code from the folder; its failure is the model's
            raise UsageError(f"the model's chat template failed: {' '.join(str(exc).split())[:200]}") from None
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if len(messages) > 1:
        warn("the model has no chat template; the system prompt and history are joined to the prompt as text")
    text = "\n\n".join(m["content"] for m in messages)
    return list(tokenizer(text)["input_ids"])


def _generation_config(model: Any, request: CompletionRequest, max_new: int, tokenizer: Any) -> Any:
    config = copy.deepcopy(model.generation_config)
    config.max_new_tokens = max_new
    config.max_length = None
    config.num_beams = 1
    config.num_return_sequences = 1
    if request.temperature is not None:
        config.do_sample = request.temperature > 0
        if config.do_sample:
            config.temperature = request.temperature
    elif request.top_p is not None or request.top_k is not None:
        config.do_sample = True
    if request.top_p is not None:
        config.top_p = request.top_p
    if request.top_k is not None:
        config.top_k = request.top_k
    if not config.do_sample:
        # Sampling knobs mean nothing to greedy search; leaving them set only makes transformers warn.
        config.temperature = config.top_p = config.top_k = None
    if request.repeat_penalty is not None:
        config.repetition_penalty = request.repeat_penalty
    if config.pad_token_id is None:
        eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
        config.pad_token_id = eos[0] if isinstance(eos, list) else eos
    return config


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    found: set[int] = set()
    for value in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, list):
            found.update(int(v) for v in value)
    return found


def generate(model: Any, tokenizer: Any, folder: HFFolder, request: CompletionRequest, device: str,
             on_text: TextSink | None, warn: Callable[[str], None]) -> Completion:
    import torch

    ids = prompt_ids(tokenizer, request, warn)
    limit = folder.max_positions
    n_prompt = len(ids)
    encoder_decoder = bool(model.config.is_encoder_decoder)
    if limit is not None and n_prompt > limit:
        raise UsageError(f"{folder.label}: the prompt is {n_prompt} tokens, more than the {limit} the model takes")
    max_new = request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS
    if max_new < 1:
        raise UsageError(f"--max-tokens must be at least 1, not {max_new}")
    if limit is not None and not encoder_decoder and n_prompt + max_new > limit:
        room = limit - n_prompt
        if room < 1:
            raise UsageError(f"{folder.label}: the prompt is {n_prompt} tokens and fills the model's "
                             f"{limit}-token window; nothing is left to generate")
        if request.max_tokens is not None:
            warn(f"--max-tokens {max_new} cut to {room}: the prompt takes {n_prompt} of the model's {limit} tokens")
        max_new = room
    config = _generation_config(model, request, max_new, tokenizer)
    if request.seed is not None:
        torch.manual_seed(request.seed)
    tracker = _TextTracker(tokenizer, request.stop, _eos_ids(model, tokenizer), on_text)
    start = 1 if encoder_decoder else n_prompt
    if request.logprobs is not None:
        raise UsageError(f"{folder.label}: hf models score given continuations (classify --scores) but do "
                         "not report log-probabilities of generated text; openai models do")
    processors = None
    if request.json_schema is not None:
        from transformers import LogitsProcessorList

        from llmctl.providers.hf.constrained import json_schema_processor

        n_vocab = int(model.get_output_embeddings().weight.shape[0])
        processors = LogitsProcessorList([json_schema_processor(tokenizer, n_vocab, _eos_ids(model, tokenizer),
                                                                request.json_schema, start)])
    input_ids = torch.tensor([ids], dtype=torch.long, device=device)
    with torch.inference_mode():
        model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            generation_config=config,
            streamer=_streamer(tracker),
            stopping_criteria=_stop_criteria(tracker, start),
            logits_processor=processors,
        )
    # Tokens the model produced, the ending one excepted, as llama.cpp and the APIs count them.
    output_tokens = len(tracker.ids)
    finish = "stop" if tracker.stopped or tracker.saw_eos else "length"
    return Completion(tracker.text, Usage(n_prompt, output_tokens, estimated=False), finish, folder.path.name)
