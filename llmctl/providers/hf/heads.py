"""HF task heads: sequence classification (softmax over id2label), NLI entailment, token classification
(BIO/IOB tags merged into character spans), and label scoring with a reused KV cache."""

from __future__ import annotations

from typing import Any

from llmctl.core.usage import Usage

#: texts per forward pass for a classification head
BATCH = 64


def _labels(model: Any) -> list[str]:
    mapping = model.config.id2label
    return [str(mapping[i]) for i in range(len(mapping))]


def classify_texts(model: Any, tokenizer: Any, texts: list[str], device: str,
                   max_length: int | None) -> tuple[list[dict[str, float]], Usage]:
    """Every text's probability per head label, batched and padded; usage counts the real tokens."""
    import torch

    names = _labels(model)
    results: list[dict[str, float]] = []
    tokens = 0
    # Sorting by length keeps padding small inside each batch.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    found: dict[int, dict[str, float]] = {}
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            part = order[start:start + BATCH]
            batch = tokenizer([texts[i] for i in part], padding=True, truncation=max_length is not None,
                              max_length=max_length, return_tensors="pt").to(device)
            tokens += int(batch["attention_mask"].sum())
            probs = torch.softmax(model(**batch).logits.float(), dim=-1).tolist()
            for index, row in zip(part, probs, strict=True):
                found[index] = dict(zip(names, row, strict=True))
    results = [found[i] for i in range(len(texts))]
    return results, Usage(tokens, 0, estimated=False)


def nli_logits(model: Any, tokenizer: Any, premise: str, hypotheses: list[str], device: str,
               max_length: int | None) -> tuple[list[tuple[float, float]], Usage]:
    """(entailment, contradiction) logits of `premise` against each hypothesis, one batch."""
    import torch

    names = [n.lower() for n in _labels(model)]
    entail = names.index("entailment")
    contra = names.index("contradiction") if "contradiction" in names else None
    with torch.inference_mode():
        batch = tokenizer([premise] * len(hypotheses), hypotheses, padding=True,
                          truncation="only_first" if max_length else False, max_length=max_length,
                          return_tensors="pt").to(device)
        logits = model(**batch).logits.float()
    pairs = [(float(row[entail]), float(row[contra]) if contra is not None else 0.0) for row in logits]
    return pairs, Usage(int(batch["attention_mask"].sum()), 0, estimated=False)


def _split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); a tag without a prefix counts as inside."""
    if tag == "O" or not tag:
        return "O", ""
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in "BIESL":
        return tag[0], tag[2:]
    return "I", tag


def token_entities(model: Any, tokenizer: Any, text: str, device: str,
                   max_length: int | None) -> tuple[list[dict[str, Any]], Usage]:
    """Entities as {text, type, start, end, score}: BIO/IOB tags merged through the offset mapping."""
    import torch

    names = _labels(model)
    enc = tokenizer(text, return_offsets_mapping=True, truncation=max_length is not None, max_length=max_length,
                    return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.inference_mode():
        probs = torch.softmax(model(**enc.to(device)).logits[0].float(), dim=-1)
    best = probs.argmax(dim=-1).tolist()
    entities: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    scores: list[float] = []

    def close() -> None:
        nonlocal current
        if current is not None:
            current["text"] = text[current["start"]:current["end"]]
            current["score"] = round(sum(scores) / len(scores), 4)
            entities.append(current)
        current = None

    for position, ((start, end), label_id) in enumerate(zip(offsets, best, strict=True)):
        if start == end:  # special tokens carry no text
            continue
        prefix, kind = _split_tag(names[label_id])
        score = float(probs[position, label_id])
        if prefix == "O":
            close()
            continue
        # BIO/IOB merging as transformers' "simple" aggregation: I (or E/L) of the open entity's type
        # extends it; B, S, or another type starts a new one.
        if current is not None and kind == current["type"] and prefix in "IEL":
            current["end"] = end
            scores.append(score)
            continue
        close()
        current = {"type": kind, "start": start, "end": end}
        scores = [score]
    close()
    return entities, Usage(len(offsets), 0, estimated=False)


def score_continuations(model: Any, prompt: list[int], continuations: list[list[int]], device: str,
                        *, reuse_prompt: bool = True) -> list[float]:
    """Summed log-probability of each token list after `prompt`: one forward pass over the prompt, its
    KV cache cut back to the prompt after every continuation."""
    import inspect

    import torch

    # transformers 5 renamed the cache argument and output from `past_key_values` to `cache`.
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    out: list[float] = []
    with torch.inference_mode():
        prompt_ids = torch.tensor([prompt], dtype=torch.long, device=device)
        first = model(input_ids=prompt_ids, use_cache=True)
        cache = getattr(first, name)
        head = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
        for tokens in continuations:
            if not reuse_prompt:
                cache = getattr(model(input_ids=prompt_ids, use_cache=True), name)
            total = float(head[tokens[0]])
            if len(tokens) > 1:
                step = model(input_ids=torch.tensor([tokens[:-1]], device=device), use_cache=True,
                             **{name: cache})
                rows = torch.log_softmax(step.logits[0].float(), dim=-1)
                total += float(sum(rows[i, t] for i, t in enumerate(tokens[1:])))
                cache.crop(-(len(tokens) - 1))  # back to the prompt (negative: tokens to drop)
            out.append(total)
    return out
