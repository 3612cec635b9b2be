"""`llmctl complete`: send a prompt (or a batch of them) to a model; text on stdout, cost on stderr."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmctl.cli.model_command import ModelFlags, model_command
from llmctl.cli.options import FieldOpt, FileOpt, JsonlOpt, ModelOpt
from llmctl.cli.prompt_options import (
    AttachmentOpt,
    AttachmentTypeOpt,
    ChainLimitOpt,
    FunctionsOpt,
    SchemaMultiOpt,
    SchemaOpt,
    ToolOpt,
    ToolsDebugOpt,
)
from llmctl.cli.run_options import ModelsFileOpt


@model_command(batch=True)
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
    schema: SchemaOpt = None,
    schema_multi: SchemaMultiOpt = None,
    attachment: AttachmentOpt = None,
    attachment_type: AttachmentTypeOpt = None,
    tool: ToolOpt = None,
    functions: FunctionsOpt = None,
    chain_limit: ChainLimitOpt = 5,
    tools_debug: ToolsDebugOpt = False,
    *,
    flags: ModelFlags,
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
      llmctl complete --schema 'name, population int' "A French city"          # a JSON object out
      llmctl complete -a photo.jpg "What is in this picture?" -m openai:gpt-4o-mini
      llmctl complete -T calc "What is 1234 * 5678?" -m openai:gpt-5-mini --td
    """
    from llmctl.cli.complete_show import show
    from llmctl.cli.prompt_options import prompt_features
    from llmctl.cli.run_command import model_names
    from llmctl.core.errors import UsageError
    from llmctl.core.inputs import collect_inputs
    from llmctl.providers.base import CompletionRequest
    from llmctl.run import CompleteJob, Plan

    out = flags.out
    if each and not file:
        raise UsageError("--each sends one request per -f file; give files with -f")
    settings = flags.run_options()
    template = CompletionRequest(prompt="", system=system, max_tokens=max_tokens, temperature=temperature,
                                 top_p=top_p, top_k=top_k, stop=list(stop or []), seed=seed,
                                 repeat_penalty=repeat_penalty)
    features = prompt_features(out, schema=schema, schema_multi=schema_multi, attachments=attachment,
                               typed=attachment_type, tools=tool, functions=functions, chain_limit=chain_limit,
                               tools_debug=tools_debug)
    names = model_names(model, models_file, "complete")
    items = collect_inputs(prompt, file, jsonl, field, join_args=True, join_files=not each)
    estimate = flags.run.estimate
    session = flags.session(CompleteJob(template, measure_stream=len(names) > 1 and not estimate,
                                            features=features), names)
    plan = Plan(estimate=estimate, batch_api=flags.batch.batch_api, poll_interval=flags.batch.poll_interval,
                single=jsonl is None, compare=True)
    streaming = stream if stream is not None else (out.stdout_is_tty() and not out.json_mode)
    show(out, session, items, plan, settings, streaming)
