"""The work behind `llmctl tokenize`, kept apart so the command module stays a thin parser."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from llmctl.core.config import get_config
from llmctl.core.errors import InputError, UsageError
from llmctl.core.inputs import FinalNewlineStripped, InputItem, collect_inputs, open_input_binary, source_name
from llmctl.core.output import Output, plural
from llmctl.core.pricing import PriceTable, price_hint
from llmctl.core.usage import LOCAL_COST, Cost, Usage, format_money
from llmctl.providers.base import ModelRef, Tokenizer
from llmctl.providers.registry import default_model_name, get_tokenizer, provider_class, resolve_model


def default_name() -> str:
    return default_model_name(purpose="complete")


def read_items(texts: Sequence[str] | None, files: Sequence[str] | None, jsonl: str | None,
               field: str) -> list[InputItem]:
    # Empty input counts 0 tokens, as `wc -w` and ttok count it; a record whose text is no string is an error.
    items = collect_inputs(texts, files, jsonl, field, allow_empty_text=True)
    for item in items:
        if item.problem is not None and not item.problem.endswith(": empty input"):
            raise InputError(item.problem)
    return items


def _load(out: Output, name: str, options: dict[str, Any]) -> tuple[ModelRef, Tokenizer]:
    ref = resolve_model(name)
    with out.spinner(f"loading the {ref.label} tokenizer"):
        tokenizer = get_tokenizer(ref, options)
    return ref, tokenizer


def _context_window(ref: ModelRef, tokenizer: Tokenizer) -> int | None:
    return ref.context_window or tokenizer.context_window


def input_cost(ref: ModelRef, tokens: int, out: Output | None = None) -> Cost:
    if provider_class(ref.kind).local:
        return LOCAL_COST
    cost = PriceTable(get_config()).cost_for(ref.provider, ref.model, ref.settings, Usage(input_tokens=tokens))
    if cost.input is None and out is not None:
        out.warn(f"no price is known for {ref.label}; cost is unknown "
                 f"({price_hint(ref.provider, ref.model, ref.settings)})")
    return cost


def _record(ref: ModelRef, tokenizer: Tokenizer, tokens: int, cost: Cost) -> dict[str, Any]:
    return {
        "model": ref.label,
        "tokens": tokens,
        **({"estimated": True} if tokenizer.estimated else {}),
        "context_window": _context_window(ref, tokenizer),
        "tokenizer": tokenizer.name,
        "cost": cost.to_json(),
    }


def _summary(out: Output, ref: ModelRef, tokenizer: Tokenizer, tokens: int, cost: Cost) -> None:
    parts = [ref.label, plural(tokens, "token") + (f" (estimated with {tokenizer.name})" if tokenizer.estimated
                                                   else "")]
    window = _context_window(ref, tokenizer)
    if window:
        parts.append(f"{100 * tokens / window:.1f}% of {window:,}")
    if cost.local:
        parts.append("local, no cost")
    else:
        parts.append(f"{format_money(cost.input, cost.currency)} as input")
    out.summary(" · ".join(parts))


def count_streams(out: Output, name: str, paths: Sequence[str], options: dict[str, Any],
                  *, piped_stdin: bool = False) -> None:
    """Count files (or stdin) without holding them as token lists: `wc`-style for several."""
    ref, tokenizer = _load(out, name, options)
    counts: list[tuple[str, int]] = []
    for path in paths:
        stream = open_input_binary(path)
        reader: Any = FinalNewlineStripped(stream) if piped_stdin else stream
        try:
            n = tokenizer.count_stream(reader, source_name(path))
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        # An empty file or stdin counts 0 tokens, as `wc` counts 0 words.
        counts.append((source_name(path), n))
    _report_counts(out, ref, tokenizer, counts)


def count_items(out: Output, name: str, items: list[InputItem], options: dict[str, Any]) -> None:
    ref, tokenizer = _load(out, name, options)
    counts = [(_where(item), tokenizer.count(item.text)) for item in items]
    _report_counts(out, ref, tokenizer, counts, items)


def _where(item: InputItem) -> str:
    return item.source if item.line is None else f"{item.source}:{item.line}"


def _report_counts(out: Output, ref: ModelRef, tokenizer: Tokenizer, counts: list[tuple[str, int]],
                   items: list[InputItem] | None = None) -> None:
    total = sum(n for _, n in counts)
    total_cost = input_cost(ref, total, out)
    if out.json_mode:
        for i, (where, n) in enumerate(counts):
            record = _record(ref, tokenizer, n, input_cost(ref, n))
            if len(counts) > 1:
                record["source"] = where
            if items is not None and items[i].fields:
                record = {**items[i].fields, **record}
            out.record(record)
        return
    if len(counts) == 1:
        out.line(str(total))
    else:
        width = len(str(total))
        for where, n in counts:
            out.line(f"{n:>{width}} {where}")
        out.line(f"{total:>{width}} total")
    _summary(out, ref, tokenizer, total, total_cost)


def show_tokens(out: Output, name: str, items: list[InputItem], mode: str, truncate: int | None,
                options: dict[str, Any]) -> None:
    ref, tokenizer = _load(out, name, options)
    total = 0
    for item in items:
        ids = tokenizer.encode(item.text)
        total += len(ids)
        if mode == "truncate":
            assert truncate is not None
            kept = ids[:truncate]
            text = item.text if len(kept) == len(ids) else tokenizer.decode(kept)
            if out.json_mode:
                out.record({**item.fields, **_record(ref, tokenizer, len(kept), input_cost(ref, len(kept))),
                            "text": text, "truncated": len(kept) < len(ids)})
            else:
                out.write(text)
            continue
        if out.json_mode:
            record = {**item.fields, **_record(ref, tokenizer, len(ids), input_cost(ref, len(ids))), "ids": ids}
            if mode == "tokens":
                record["pieces"] = [readable(tokenizer.token_bytes(i)) for i in ids]
            out.record(record)
        elif mode == "ids":
            out.line(" ".join(str(i) for i in ids))
        else:
            for i in ids:
                out.line(readable(tokenizer.token_bytes(i)))
    if not out.json_mode and mode != "truncate":
        _summary(out, ref, tokenizer, total, input_cost(ref, total, out))


def readable(data: bytes) -> str:
    """A token's bytes as one printable line: UTF-8 where it decodes, \\xNN escapes elsewhere."""
    text = data.decode("utf-8", errors="backslashreplace")
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") \
        if any(c in text for c in "\n\r\t") else text


def decode_ids(out: Output, name: str, args: Sequence[str], options: dict[str, Any]) -> None:
    words = [w for arg in args for w in arg.replace(",", " ").split()]
    if not words:
        raise InputError("no token ids to decode: give ids as arguments, e.g. --decode 1687 3974")
    ids: list[int] = []
    for word in words:
        try:
            ids.append(int(word))
        except ValueError:
            raise UsageError(f"--decode takes token ids (integers), not {word!r}") from None
    ref, tokenizer = _load(out, name, options)
    tokenizer.check_ids(ids)
    text = tokenizer.decode(ids)
    if out.json_mode:
        out.record({"model": ref.label, "ids": ids, "text": text})
    else:
        out.line(text)


def compare(out: Output, names: Sequence[str], items: list[InputItem], options: dict[str, Any]) -> None:
    """One table: model, tokens, share of its context window, input cost if sent."""
    from llmctl.run.tokens import count_with_models

    with out.spinner("loading tokenizers"):
        counts = count_with_models(names, items, options)
    rows: list[list[Any]] = []
    for found in counts:
        if out.json_mode:
            out.record(found.to_json())
            continue
        if found.cost.input is None and not found.cost.local:
            ref = found.ref
            out.warn(f"no price is known for {ref.label}; cost is unknown "
                     f"({price_hint(ref.provider, ref.model, ref.settings)})")
        window = found.context_window
        share = f"{100 * found.tokens / window:.2f}%" if window else ""
        cost = found.cost
        money = "local" if cost.local else (f"{cost.input:.7f}".rstrip("0").rstrip(".") if isinstance(
            cost.input, Decimal) else "")
        rows.append([found.ref.label, found.tokens, window or "", share, money])
    if not out.json_mode:
        out.table(["model", "tokens", "context_window", "context_used", "input_cost_usd"], rows,
                  right_align=("tokens", "context_window", "context_used", "input_cost_usd"))
