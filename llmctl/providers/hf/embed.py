"""Sentence embeddings from a transformers encoder: length-sorted batches, pooling as the model declares."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import EmbeddingRequest, Embeddings
from llmctl.providers.hf.folder import HFFolder, Pooling

#: most texts in one forward pass, and most token slots (texts x longest) in one pass, on a CPU core;
#: measured on MiniLM: small batches, one per core, beat one large batch spread over every core
CPU_BATCH = (16, 2048)
GPU_BATCH = (128, 32768)


def _batches(lengths: list[int], max_batch: int, max_tokens: int) -> list[list[int]]:
    """Indices grouped longest first, so each batch pads little (and often not at all)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current:
            longest = lengths[current[0]]
            full = len(current) >= max_batch or (len(current) + 1) * longest > max_tokens
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

    def run(batch: list[int]) -> None:
        longest = lengths[batch[0]]
        rows = np.full((len(batch), longest), pad_id, dtype=np.int64)
        for r, index in enumerate(batch):
            rows[r, :lengths[index]] = ids[index]
        with torch.inference_mode():
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

    if device != "cpu":
        for batch in _batches(lengths, *GPU_BATCH):
            run(batch)
    else:
        _run_per_core(run, _batches(lengths, *CPU_BATCH))
    return Embeddings(out.tolist(), Usage(sum(lengths), estimated=False), folder.path.name)


def _run_per_core(run: Callable[[list[int]], None], batches: list[list[int]]) -> None:
    """One batch per core at once, each on a single thread: no cross-core sync inside every matmul.

    torch releases the GIL inside its kernels, so Python threads give real parallelism here; on
    MiniLM this beat one batch at a time over all cores by about 10% (benchmarks/bench_hf_embed.py).
    """
    import torch

    cores = torch.get_num_threads()
    if cores <= 1 or len(batches) <= 1:
        for batch in batches:
            run(batch)
        return

    def single_threaded(batch: list[int]) -> None:
        torch.set_num_threads(1)
        run(batch)

    try:
        with ThreadPoolExecutor(max_workers=cores, thread_name_prefix="llmctl-embed") as pool:
            for _ in pool.map(single_threaded, batches):
                pass
    finally:
        torch.set_num_threads(cores)
