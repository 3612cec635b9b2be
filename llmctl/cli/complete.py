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
    MaxWaitOpt,
    NCtxOpt,
    NGpuLayersOpt,
    QuietOpt,
    RetryTimeoutsOpt,
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
        help="The prompt (words are joined); piped stdin and -f files come before it in one prompt.",
        show_default=False)] = None,
    model: SingleModelOpt = None,
    file: FileOpt = None,
    jsonl: JsonlOpt = None,
    field: FieldOpt = "text",
    each: Annotated[bool, typer.Option(
        "--each", help="One request per -f file (JSONL out); without it several files make one prompt.")] = False,
    system: Annotated[Optional[str], typer.Option("--system", "-s", help="System prompt.",  # noqa: UP045
                                                  show_default=False)] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="Most tokens to generate.",  # noqa: UP045
                                                      show_default=False)] = None,
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
    max_wait: MaxWaitOpt = None,
    retry_timeouts: RetryTimeoutsOpt = False,
    concurrency: ConcurrencyOpt = None,
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
      cat review.txt | llmctl complete "Summarise this review:"     # stdin first, then the words
      llmctl complete "Compare these:" -f a.md b.md                 # the files, then the words: one prompt
      llmctl complete --each -f docs/*.md                           # one request per file (JSONL)
      cat review.txt | llmctl complete -m mistral:mistral-small-latest --system "Answer in French"
      llmctl complete --json -m openai:gpt-4o --temperature 0 --seed 7 "..." | jq .cost.total
      llmctl complete -m openai:gpt-4o-mini --jsonl prompts.jsonl --concurrency 8 > answers.jsonl
    """
    from llmctl.cli import complete_run as run
    from llmctl.core.errors import UsageError
    from llmctl.core.inputs import collect_inputs
    from llmctl.providers.base import CompletionRequest
    from llmctl.providers.registry import default_system_prompt

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose)
    if each and not file:
        raise UsageError("--each sends one request per -f file; give files with -f")
    given = dict(timeout=timeout, max_retries=max_retries, max_wait=max_wait,
                 retry_timeouts=retry_timeouts, concurrency=concurrency, n_ctx=n_ctx, threads=threads,
                 n_gpu_layers=n_gpu_layers, device=device, allow_pickle=allow_pickle,
                 trust_remote_code=trust_remote_code)
    template = CompletionRequest(prompt="", system=system, max_tokens=max_tokens, temperature=temperature,
                                 top_p=top_p, top_k=top_k, stop=list(stop or []), seed=seed,
                                 repeat_penalty=repeat_penalty)
    items = collect_inputs(prompt, file, jsonl, field, join_args=True, join_files=not each)
    ref, provider = run.open_for_completion(out, model, given, base_url)
    if system is None:
        template.system = default_system_prompt(ref)
    if len(items) == 1 and not jsonl:
        streaming = stream if stream is not None else (out.stdout_is_tty() and not out.json_mode)
        run.complete_one(out, ref, provider, template, items[0].text, streaming)
    else:
        workers = getattr(provider.options, "concurrency", None) or provider.max_concurrency or 1
        run.complete_batch(out, ref, provider, template, items, workers)
