"""Sentence embeddings from a transformers encoder: length-sorted batches, pooling as the model declares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import EmbeddingRequest, Embeddings
from llmctl.providers.hf_folder import HFFolder, Pooling

#: most texts in one forward pass, and most token slots (texts x longest) in one pass
MAX_BATCH = 64
MAX_BATCH_TOKENS = 4096


def _batches(lengths: list[int]) -> list[list[int]]:
    """Indices grouped longest first, so each batch pads little (and often not at all)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current:
            longest = lengths[current[0]]
            full = len(current) >= MAX_BATCH or (len(current) + 1) * longest > MAX_BATCH_TOKENS
            if full:
                batches.append(current)
                current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def _pool(hidden: Any, mask: Any, lengths: Any, mode: str) -> Any:
    import torch

    if mode == "cls":
        return hidden[:, 0]
    if mode == "lasttoken":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths - 1]
    if mask is None:  # every text in the batch has the same length: nothing to mask
        if mode == "max":
            return hidden.max(dim=1).values
        summed = hidden.sum(dim=1)
        count = torch.full((hidden.shape[0], 1), hidden.shape[1], dtype=hidden.dtype, device=hidden.device)
    else:
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        if mode == "max":
            return hidden.masked_fill(weights == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
        summed = (hidden * weights).sum(dim=1)
        count = weights.sum(dim=1).clamp(min=1e-9)
    if mode == "mean_sqrt_len_tokens":
        return summed / count.sqrt()
    return summed / count


def embed_texts(model: Any, backend_tokenizer: Any, pad_id: int, folder: HFFolder, pooling: Pooling,
                request: EmbeddingRequest, device: str, warn: Callable[[str], None]) -> Embeddings:
    import numpy as np
    import torch

    width = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "d_model", 0))
    if request.dimensions is not None and request.dimensions != width:
        raise UsageError(f"{folder.label} gives {width}-dimensional vectors and cannot change that (--dimensions)")
    if not request.texts:
        return Embeddings([], Usage(0, estimated=False), folder.path.name)
    # The Rust tokenizer encodes the whole list on every core at once.
    encodings = backend_tokenizer.encode_batch_fast(request.texts, add_special_tokens=True)
    ids = [e.ids for e in encodings]
    truncated = sum(1 for e in encodings if e.overflowing)
    if truncated:
        warn(f"{truncated} text(s) longer than {pooling.max_seq_length} tokens were cut to fit {folder.label}")
    lengths = [len(x) for x in ids]
    if min(lengths) == 0:
        raise UsageError(f"{folder.label}: an input text has no tokens")
    out = np.empty((len(ids), width), dtype=np.float32)
    normalize = pooling.normalize or request.normalize
    with torch.inference_mode():
        for batch in _batches(lengths):
            longest = lengths[batch[0]]
            rows = np.full((len(batch), longest), pad_id, dtype=np.int64)
            for r, index in enumerate(batch):
                rows[r, :lengths[index]] = ids[index]
            input_ids = torch.from_numpy(rows).to(device)
            batch_lengths = torch.tensor([lengths[i] for i in batch], device=device)
            mask = None
            if lengths[batch[-1]] != longest:
                mask = (torch.arange(longest, device=device)[None, :] < batch_lengths[:, None]).long()
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            vectors = _pool(hidden, mask, batch_lengths, pooling.mode)
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
            out[batch] = vectors.float().cpu().numpy()
    return Embeddings(out.tolist(), Usage(sum(lengths), estimated=False), folder.path.name)
