"""`llmctl complete`: send a prompt (or a batch of them) to a model; text on stdout, cost on stderr."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import (
    AllowPickleOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DeviceOpt,
    FieldOpt,
    FileOpt,
    JsonlOpt,
    JsonOpt,
    MaxRetriesOpt,
    NCtxOpt,
    NGpuLayersOpt,
    QuietOpt,
    SingleModelOpt,
    ThreadsOpt,
    TimeoutOpt,
    TrustRemoteCodeOpt,
    VerboseOpt,
)


@guarded
def complete_command(
    ctx: typer.Context,
    prompt: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="The prompt (words are joined); else stdin, -f or --jsonl.", show_default=False)] = None,
    model: SingleModelOpt = None,
    file: FileOpt = None,
    jsonl: JsonlOpt = None,
    field: FieldOpt = "text",
    system: Annotated[Optional[str], typer.Option("--system", "-s", help="System prompt.",  # noqa: UP045
                                                  show_default=False)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-tokens", help="Most tokens to generate (default: the model's cap, see `llmctl models`; "
        "512 for a local GGUF model).", show_default=False)] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", "-t",  # noqa: UP045
                                                         help="Sampling temperature.", show_default=False)] = None,
    top_p: Annotated[Optional[float], typer.Option("--top-p", help="Nucleus sampling mass.",  # noqa: UP045
                                                   show_default=False)] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="Sample from the k likeliest tokens.",  # noqa: UP045
                                                 show_default=False)] = None,
    stop: Annotated[Optional[list[str]], typer.Option("--stop", help="Stop at this text (repeatable).",  # noqa: UP045
                                                      show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Sampling seed.", show_default=False)] = None,  # noqa: UP045
    repeat_penalty: Annotated[Optional[float], typer.Option(  # noqa: UP045
        "--repeat-penalty", help="Penalty for repeated tokens (local models).", show_default=False)] = None,
    stream: Annotated[Optional[bool], typer.Option(  # noqa: UP045
        "--stream/--no-stream", help="Stream text as it arrives (default: when stdout is a terminal).",
        show_default=False)] = None,
    base_url: BaseUrlOpt = None,
    timeout: TimeoutOpt = None,
    max_retries: MaxRetriesOpt = None,
    concurrency: ConcurrencyOpt = 4,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
    n_gpu_layers: NGpuLayersOpt = None,
    device: DeviceOpt = None,
    allow_pickle: AllowPickleOpt = False,
    trust_remote_code: TrustRemoteCodeOpt = False,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Complete a prompt with any model: API, OpenAI-compatible server, or local file.

    \b
      llmctl complete "Tell me a story about nights and frogs"      # the embedded local model
      cat review.txt | llmctl complete -m mistral:mistral-small-latest --system "Answer in French"
      llmctl complete --json -m openai:gpt-4o --temperature 0 --seed 7 "..." | jq .cost.total
      llmctl complete -m openai:gpt-4o-mini --jsonl prompts.jsonl --concurrency 8 > answers.jsonl
    """
    from llmctl.cli import complete_run as run
    from llmctl.cli.backend import backend_options
    from llmctl.core.errors import UsageError
    from llmctl.providers.base import CompletionRequest
    from llmctl.providers.defaults import with_model_defaults

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose)
    if max_tokens is not None and max_tokens < 1:
        raise UsageError(f"--max-tokens must be at least 1, not {max_tokens}")
    if temperature is not None and temperature < 0:
        raise UsageError(f"--temperature must be 0 or more, not {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1], not {top_p}")
    if top_k is not None and top_k < 1:
        raise UsageError(f"--top-k must be at least 1, not {top_k}")
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {concurrency}")
    if stop is not None and any(s == "" for s in stop):
        raise UsageError("--stop needs a non-empty text")
    options = backend_options(timeout=timeout, max_retries=max_retries, concurrency=concurrency, n_ctx=n_ctx,
                              threads=threads, n_gpu_layers=n_gpu_layers, device=device,
                              allow_pickle=allow_pickle, trust_remote_code=trust_remote_code, verbose=out.verbose)
    template = CompletionRequest(prompt="", system=system, max_tokens=max_tokens, temperature=temperature,
                                 top_p=top_p, top_k=top_k, stop=list(stop or []), seed=seed,
                                 repeat_penalty=repeat_penalty)
    items = run.read_prompts(prompt, file, jsonl, field)
    ref, provider = run.open_for_completion(out, model, options, base_url)
    template = with_model_defaults(template, ref, provider)
    if len(items) == 1 and not jsonl:
        streaming = stream if stream is not None else (out.stdout_is_tty() and not out.json_mode)
        run.complete_one(out, ref, provider, template, items[0].text, streaming)
    else:
        run.complete_batch(out, ref, provider, template, items, concurrency)
