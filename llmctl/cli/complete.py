"""`llmctl complete`: send a prompt (or a batch of them) to a model; text on stdout, cost on stderr."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.conversation_options import (
    CidOpt,
    ContinueOpt,
    NoLogOpt,
    ParamOpt,
    SaveOpt,
    TemplateOpt,
    TruncateHistoryOpt,
    prompt_setup,
)
from llmctl.cli.options import (
    AllowPickleOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DeviceOpt,
    FieldOpt,
    FileOpt,
    FormatOpt,
    JsonlOpt,
    JsonOpt,
    MaxRetriesOpt,
    MaxWaitOpt,
    ModelOpt,
    NCtxOpt,
    NGpuLayersOpt,
    QuietOpt,
    RetryTimeoutsOpt,
    ThreadsOpt,
    TimeoutOpt,
    TrustRemoteCodeOpt,
    VerboseOpt,
)
from llmctl.cli.run_options import (
    BatchApiOpt,
    DedupeOpt,
    EstimateOpt,
    MaxCostOpt,
    ModelsFileOpt,
    NoCacheOpt,
    OrderedOpt,
    OutputFileOpt,
    PollIntervalOpt,
    ResumeOpt,
    RetryFailedOpt,
)


@guarded
def complete_command(
    ctx: typer.Context,
    prompt: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="The prompt (words are joined); piped stdin and -f files come before it in one prompt.",
        show_default=False)] = None,
    model: ModelOpt = None,
    models_file: ModelsFileOpt = None,
    file: FileOpt = None,
    jsonl: JsonlOpt = None,
    field: FieldOpt = "text",
    each: Annotated[bool, typer.Option(
        "--each", help="One request per -f file (JSONL out); without it several files make one prompt.")] = False,
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
    max_wait: MaxWaitOpt = None,
    retry_timeouts: RetryTimeoutsOpt = False,
    concurrency: ConcurrencyOpt = None,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
    n_gpu_layers: NGpuLayersOpt = None,
    device: DeviceOpt = None,
    allow_pickle: AllowPickleOpt = False,
    trust_remote_code: TrustRemoteCodeOpt = False,
    estimate: EstimateOpt = False,
    output: OutputFileOpt = None,
    resume: ResumeOpt = False,
    dedupe: DedupeOpt = False,
    retry_failed: RetryFailedOpt = False,
    ordered: OrderedOpt = None,
    max_cost: MaxCostOpt = None,
    no_cache: NoCacheOpt = False,
    batch_api: BatchApiOpt = False,
    poll_interval: PollIntervalOpt = 30.0,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    table_format: FormatOpt = None,
    continue_last: ContinueOpt = False,
    cid: CidOpt = None,
    truncate_history: TruncateHistoryOpt = False,
    no_log: NoLogOpt = False,
    template_name: TemplateOpt = None,
    params: ParamOpt = None,
    save: SaveOpt = None,
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
      llmctl complete -m openai:gpt-4o-mini -m mistral:mistral-small-latest -m smollm2 "Compare us"
      llmctl complete --estimate -m openai:gpt-4o --max-tokens 500 -f prompt.txt
      llmctl complete --jsonl prompts.jsonl -o answers.jsonl --resume --max-cost 5
      llmctl complete -c "Which is the longest?"                    # go on with the last conversation
      llmctl complete -s "You are terse." "Explain $topic" --save explain
      llmctl complete --template explain -p topic BPE
    """
    from llmctl.cli import complete_show as show
    from llmctl.cli.run_command import model_names, run_options
    from llmctl.core.errors import UsageError
    from llmctl.core.inputs import collect_inputs
    from llmctl.providers.base import CompletionRequest
    from llmctl.run import CompleteJob, Session

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose, table_format=table_format)
    if each and not file:
        raise UsageError("--each sends one request per -f file; give files with -f")
    settings = run_options(out, concurrency=concurrency or 4, max_cost=max_cost, output=output, resume=resume,
                           retry_failed=retry_failed, ordered=ordered, no_cache=no_cache,
                           dedupe=dedupe)
    options = dict(timeout=timeout, max_retries=max_retries, max_wait=max_wait,
                   retry_timeouts=retry_timeouts, concurrency=concurrency, n_ctx=n_ctx, threads=threads,
                   n_gpu_layers=n_gpu_layers, device=device, allow_pickle=allow_pickle,
                   trust_remote_code=trust_remote_code, verbose=out.verbose)
    # Conversations and templates (llmctl.run.conversations, llmctl.core.templates).
    from llmctl.core import templates as tpl
    from llmctl.run import conversations as conv

    setup = prompt_setup(continue_last, cid, truncate_history, no_log, template_name, params, save)
    sampling = dict(max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, stop=list(stop or []),
                    seed=seed, repeat_penalty=repeat_penalty)
    if setup.save:
        saved = tpl.save_template(tpl.template_from_command(setup.save, system, prompt, model, sampling))
        out.info(f"saved template {setup.save} to {saved}")
        return
    applied = tpl.apply_template(setup.template, setup.params, system=system, model=model, sampling=sampling,
                                 collect=lambda: collect_inputs(prompt, file, jsonl, field, join_args=True,
                                                                join_files=not each),
                                 nothing_given=not (prompt or file or jsonl))
    items, model = applied.items, applied.model
    single = (len(items) == 1 and not (jsonl or each or output or batch_api or models_file)
              and len(model or []) <= 1)
    link, template, model = conv.attach(setup.conversation, CompletionRequest(
        prompt="", system=applied.system, **applied.sampling), model, single)
    names = model_names(model, models_file, "complete")
    job = CompleteJob(template, measure_stream=len(names) > 1 and not estimate)
    session = Session(job, names, options, base_url)
    if not estimate:
        conv.prepare(session, items, link, setup.conversation, out.warn)
    if estimate:
        show.estimate(out, session, items)
    elif batch_api:
        from llmctl.cli.batch import run_with_batch_api

        run_with_batch_api(out, session, items, output=output, poll_interval=poll_interval, dedupe=dedupe)
    elif len(session.targets) > 1 and not output:
        show.compare(out, session, items, settings)
    elif len(items) == 1 and not jsonl and not output:
        streaming = stream if stream is not None else (out.stdout_is_tty() and not out.json_mode)
        show.one(out, session, items[0], settings, streaming)
    else:
        show.batch(out, session, items, settings)
