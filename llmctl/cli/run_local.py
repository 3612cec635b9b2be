"""`llmctl run-local`: chat with a local model in the terminal, ask it once, serve it, or benchmark it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.completion import complete_model_name
from llmctl.cli.conversation_options import CidOpt, NoLogOpt, prompt_setup
from llmctl.cli.options import FormatOpt, JsonOpt, QuietOpt, VerboseOpt
from llmctl.core.errors import BudgetExceededError, InputError, UsageError
from llmctl.core.inputs import decode_utf8
from llmctl.core.output import Output, plural
from llmctl.core.usage import format_money

if TYPE_CHECKING:
    from llmctl.chat import ChatSession, Turn
    from llmctl.providers.base import ModelRef, Provider


def _resolve(name: str) -> ModelRef:
    from llmctl.providers.registry import resolve_model

    path = Path(name).expanduser()
    if ":" not in name and path.suffix != ".gguf" and path.is_file():
        name = f"gguf:{path}"
    return resolve_model(name)


def _options(n_ctx: int | None, threads: int | None, n_gpu_layers: int | None) -> dict[str, Any]:
    return {"n_ctx": n_ctx, "threads": threads, "n_gpu_layers": n_gpu_layers}


def _rate(tokens: int, seconds: float) -> str:
    return f"{tokens / seconds:.1f} tok/s" if seconds > 0 and tokens else "- tok/s"


def _turn_line(turn: Turn, local: bool) -> str:
    """Tokens, what the turn cost (an API model; a local one costs nothing), speed and time."""
    usage, seconds = turn.usage, turn.seconds
    money = [] if local else [format_money(turn.cost)]
    return " · ".join([f"{usage.input_tokens:,} in + {usage.output_tokens:,} out tokens", *money,
                       _rate(usage.output_tokens, seconds), f"{seconds:.2f} s"])


def _repl(chat: ChatSession, out: Output) -> None:
    from llmctl.chat import COMMANDS_HELP, LineReader

    out.info(f"chatting with {chat.ref.label} · {COMMANDS_HELP}")
    reader = LineReader()
    try:
        while True:
            try:
                line = reader.read()
            except KeyboardInterrupt:
                sys.stderr.write("\n")
                continue
            if line is None:
                sys.stderr.write("\n")
                return
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                message = chat.command(text)
                if message is None:
                    return
                out.info(message)
                continue
            _answer(chat, out, line)
    finally:
        reader.close()


def _answer(chat: ChatSession, out: Output, text: str) -> None:
    try:
        turn = chat.ask(text, out.write)
    except KeyboardInterrupt:
        out.write("\n")
        out.info("(answer interrupted)")
        return
    except (UsageError, BudgetExceededError) as exc:
        # The chat goes on (a budget's refusal sent nothing): the user may still /save it.
        out.warn(exc.one_line())
        return
    if turn.dropped:
        out.info(f"(the conversation outgrew the context window; dropped the oldest {turn.dropped} turn(s))")
    if not turn.text.endswith("\n"):
        out.write("\n")
    out.info(_turn_line(turn, chat.provider.local))


def _one_shot(chat: ChatSession, out: Output, text: str) -> None:
    turn = chat.ask(text, None if out.json_mode else out.write)
    if out.json_mode:
        out.record(turn.record)
        return
    if not turn.text.endswith("\n"):
        out.write("\n")
    out.summary(f"{chat.ref.label} · {_turn_line(turn, chat.provider.local)}")


def _serve(out: Output, ref: ModelRef, provider: Provider, host: str, port: int, embedding: bool,
           api_key: str | None) -> None:
    from llmctl.providers.gguf import GGUFProvider

    if not isinstance(provider, GGUFProvider):
        raise UsageError(f"--serve runs GGUF models; {ref.label} is a {ref.kind} model")
    from llmctl.providers.gguf.serve import LocalServer, ServerStopped, is_loopback, plan_for
    from llmctl.providers.gguf.serve_asgi import KEY_ENV

    plan = plan_for(provider, ref, embedding=embedding)
    try:
        with LocalServer(plan, host, port, show_log=out.verbose, api_key=api_key) as server:
            with out.spinner(f"starting a server for {ref.label}"):
                server.wait_ready()
            if not api_key and not is_loopback(host):
                out.warn(f"serving on {host} with no API key: anyone who can reach port {port} can use the model; "
                         f"set {KEY_ENV} (or --api-key) to require one")
            what = "chat and embeddings" if plan.embedding and not provider.header(ref).is_embedding_only \
                else "embeddings" if plan.embedding else "chat"
            out.info(f"serving {ref.label} at {server.base_url} (OpenAI-compatible {what}; model name "
                     f"{plan.alias!r}); Ctrl-C stops it")
            if api_key:
                out.info(f"every request must send the header 'Authorization: Bearer KEY' (KEY: --api-key or "
                         f"${KEY_ENV}); llmctl sends it for a profile with base_url = \"{server.base_url}\" and "
                         f"key_env = \"{KEY_ENV}\"")
            else:
                out.info(f"try: llmctl complete --base-url {server.base_url} -m openai:{plan.alias} \"Hello\"")
            server.wait()
    except (KeyboardInterrupt, ServerStopped) as stop:
        why = f" ({stop})" if isinstance(stop, ServerStopped) else ""
        out.info(f"server stopped{why}")


def _bench(out: Output, ref: ModelRef, provider: Provider, load_s: float, max_tokens: int | None,
           seed: int | None) -> None:
    from llmctl.providers.gguf import GGUFProvider

    if not isinstance(provider, GGUFProvider):
        raise UsageError(f"--bench measures GGUF models; {ref.label} is a {ref.kind} model")
    from llmctl.providers.gguf.bench import run_bench

    with out.spinner(f"benchmarking {ref.label}"):
        result = run_bench(provider, ref, load_s=load_s, gen_tokens=max_tokens or 128, seed=seed or 0)
    if out.json_mode:
        out.record(result.to_json())
        return
    rows = [
        ("model", result.model),
        ("context window", plural(result.n_ctx, "token")),
        ("threads", result.threads),
        ("load", f"{result.load_s:.2f} s"),
        ("prompt processing", f"{result.prompt_tokens_per_s:.1f} tok/s ({plural(result.prompt_tokens, 'token')})"),
        ("generation", f"{result.generation_tokens_per_s:.1f} tok/s ({plural(result.generated_tokens, 'token')})"),
        ("time to first token",
         f"{result.time_to_first_token_ms:.0f} ms ({result.request_prompt_tokens}-token prompt)"),
        ("peak memory (RSS)", f"{result.peak_rss_mb:.0f} MB"),
    ]
    out.table(["metric", "value"], rows, title=f"run-local --bench {ref.label}")


@guarded
def run_local_command(
    ctx: typer.Context,
    model: Annotated[Optional[str], typer.Argument(  # noqa: UP045
        help="A .gguf file or an alias such as smollm2 (with --continue: the conversation's model).",
        show_default=False, autocompletion=complete_model_name)] = None,
    prompt: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(help="Ask once and exit (else stdin when piped, else an interactive chat).",
                       show_default=False),
    ] = None,
    serve: Annotated[bool, typer.Option("--serve", help="Serve the model over an OpenAI-compatible API.")] = False,
    embedding: Annotated[bool, typer.Option("--embedding", help="With --serve: answer /v1/embeddings too "
                                            "(always on for embedding models).")] = False,
    port: Annotated[int, typer.Option("--port", help="Port for --serve.")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address for --serve (one that is not loopback warns "
                                      "without --api-key).")] = "127.0.0.1",
    api_key: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--api-key", envvar="LLMCTL_SERVE_KEY", show_envvar=True, show_default=False, metavar="KEY",
        help="With --serve: every request must send 'Authorization: Bearer KEY' (else 401). Prefer the "
             "environment variable: a command line is visible to other local users.")] = None,
    bench: Annotated[bool, typer.Option("--bench", help="Measure prompt and generation speed, "
                                                         "time to first token and peak memory.")] = False,
    n_ctx: Annotated[Optional[int], typer.Option("--n-ctx", help="Context window in tokens.",  # noqa: UP045
                                                 show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads.",  # noqa: UP045
                                                   show_default=False)] = None,
    n_gpu_layers: Annotated[Optional[int], typer.Option("--n-gpu-layers",  # noqa: UP045
                                                        help="Layers to put on the GPU (-1: all).",
                                                        show_default=False)] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", "-t",  # noqa: UP045
                                                         help="Sampling temperature (default: the model's, see "
                                                         "`llmctl models`).", show_default=False)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-tokens", help="Longest answer in tokens (default: the model's cap; 512 for a GGUF file).",
        show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Sampling seed.", show_default=False)] = None,  # noqa: UP045
    system: Annotated[Optional[str], typer.Option("--system", "-s", help="System prompt.",  # noqa: UP045
                                                  show_default=False)] = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    table_format: FormatOpt = None,
    continue_last: Annotated[bool, typer.Option(
        "--continue", help="Pick the latest stored conversation up (`llmctl logs --conversations`).")] = False,
    cid: CidOpt = None,
    no_log: NoLogOpt = False,
) -> None:
    """Chat with a local model, ask it once, serve it (--serve) or benchmark it (--bench)."""
    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose, table_format=table_format)
    if serve and bench:
        raise UsageError("--serve and --bench cannot be used together")
    if embedding and not serve:
        raise UsageError("--embedding applies to --serve only")
    if api_key is not None and not api_key.strip():
        raise UsageError("--api-key is empty; give a key, or leave the option out")
    if not serve and getattr(ctx.get_parameter_source("api_key"), "name", "") == "COMMANDLINE":
        raise UsageError("--api-key applies to --serve only")
    if max_tokens is not None and max_tokens < 1:
        raise UsageError(f"--max-tokens must be at least 1, not {max_tokens}")
    from llmctl.providers.registry import get_provider
    from llmctl.run import conversations as conv

    setup = prompt_setup(continue_last, cid, no_log=no_log)
    talking = not serve and not bench
    if setup.conversation.continuing and not talking:
        raise UsageError("--continue and --cid pick a conversation up in the chat, not with --serve or --bench")
    link = conv.begin(setup.conversation, single=True) if talking else None
    if model is None:
        if link is None or not setup.conversation.continuing or not link.model:
            raise UsageError("give a MODEL (a .gguf file or an alias such as smollm2)")
        model = link.model
    ref = _resolve(model)
    options = _options(n_ctx, threads, n_gpu_layers)
    provider = get_provider(ref, options)
    if serve:
        _serve(out, ref, provider, host, port, embedding, api_key)
        return
    from llmctl.providers.base import COMPLETE, CompletionRequest

    provider.require(ref, COMPLETE)
    started = time.perf_counter()
    with out.spinner(f"loading {ref.label}"):
        provider.load(ref, COMPLETE)
    load_s = time.perf_counter() - started
    for message in provider.drain_warnings():
        out.warn(message)
    if bench:
        _bench(out, ref, provider, load_s, max_tokens, seed)
        return
    from llmctl.chat import ChatSession
    from llmctl.providers.defaults import with_model_defaults
    from llmctl.run import RunOptions

    if system is None and link is not None:
        system = link.system  # a conversation picked up keeps its system prompt unless -s gives another
    template = CompletionRequest("", system=system, max_tokens=max_tokens, temperature=temperature, seed=seed)
    # Each turn goes through the run layer: [budget] limits, the usage log and its cost.
    chat = ChatSession(provider, ref, with_model_defaults(template, ref, provider), options=options,
                       run=RunOptions(warn=out.warn), conversation=link)
    if chat.history:
        out.info(f"(going on with conversation {link.id if link else ''}: {len(chat.history) // 2} earlier turn(s))")
    if prompt:
        _one_shot(chat, out, " ".join(prompt))
    elif not sys.stdin.isatty():
        text = decode_utf8(sys.stdin.buffer.read(), "<stdin>").strip()
        if not text:
            raise InputError("<stdin>: empty input")
        _one_shot(chat, out, text)
    elif json_mode or out.json_mode:
        raise UsageError("--json needs a prompt (an argument or piped input), not an interactive chat")
    else:
        _repl(chat, out)
    if os.environ.get("LLMCTL_DEBUG"):
        out.debug(f"run-local done with {ref.label}")
