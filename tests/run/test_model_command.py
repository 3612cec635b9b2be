"""A new task is one Job and about twenty lines of CLI: the builder gives it every shared option and run shape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from support.scripted_run import run as run_llmctl
from typer.testing import CliRunner

from llmctl.cli.model_command import ModelFlags, model_command
from llmctl.core.output import Output
from llmctl.providers.base import CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.run.jobs import Estimate
from llmctl.tasks.job import TaskJob, count_requests
from llmctl.tasks.result import TaskResult


class ShoutJob(TaskJob):
    """A toy task: the model's answer to the text, and how many words it has."""

    command = "shout"
    result_keys = ("answer", "words", "calls")

    def settings(self) -> dict[str, Any]:
        return {"request": {"max_tokens": self.template.max_tokens}}

    def run_task(self, ref: ModelRef, provider: Provider, text: str) -> TaskResult:
        done = provider.complete(ref, CompletionRequest(text, max_tokens=self.template.max_tokens))
        return TaskResult({"answer": done.text, "words": len(done.text.split())}, done.usage, calls=1)

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        return count_requests(ref, provider, tokenizer, [(CompletionRequest(text, max_tokens=self.template.max_tokens),
                                                          0)])


# The whole command: its own option, its renderer, the builder.
@model_command(table_format=False, task=True)
def shout_command(ctx: typer.Context, max_tokens: Annotated[int, typer.Option("--max-tokens")] = 5, *,
                  flags: ModelFlags) -> None:
    """Shout texts back."""
    from llmctl.cli.task_show import TaskView, run_task

    run_task(flags, ShoutJob(CompletionRequest("", max_tokens=max_tokens)), TaskView(_render))


def _render(out: Output, text: str, record: dict[str, Any]) -> None:
    out.line(f"{record['answer']} ({record['words']} words)")


app = typer.Typer()
app.command("shout")(shout_command)
app.command("other")(lambda: None)


def shout(*args: str) -> Any:
    return CliRunner().invoke(app, ["shout", *args], catch_exceptions=False)


def _options(help_text: str) -> set[str]:
    return set(re.findall(r"(--[a-z][a-z-]+)", help_text))


def test_a_new_task_takes_every_option_the_built_in_tasks_take() -> None:
    own = {"--types", "--gold", "--max-tokens"}
    assert _options(shout("--help").stdout) - own == _options(run_llmctl("ner", "--help").stdout) - own


def test_a_new_task_answers_one_text_batches_estimates_and_keeps_to_a_budget(tmp_path: Path) -> None:
    one = shout("-m", "scripted:chat", "frogs sing at night")
    assert one.exit_code == 0, one.stderr
    assert one.stdout == "FROGS SING AT NIGHT (4 words)\n"
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "a", "text": "one two"}\n{"id": "b", "text": "three"}\n')
    out = tmp_path / "out.jsonl"
    batch = shout("-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out))
    assert batch.exit_code == 0, batch.stderr
    records = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["id"])
    assert [(r["id"], r["answer"], r["words"], r["calls"]) for r in records] == [("a", "ONE TWO", 2, 1),
                                                                                 ("b", "THREE", 1, 1)]
    estimate = shout("-m", "scripted:chat", "--estimate", "--json", "--jsonl", str(prompts))
    assert estimate.exit_code == 0, estimate.stderr
    assert json.loads(estimate.stdout)["records"] == 2
    broke = shout("-m", "scripted:chat", "--max-cost", "0.000001", "--jsonl", str(prompts))
    assert broke.exit_code == 6, broke.stderr
