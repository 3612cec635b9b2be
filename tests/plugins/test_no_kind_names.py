"""No module outside a provider's own package names a provider kind: what a provider is lives in it.

The check reads every module of the llmctl package (the provider packages `llmctl/providers/<name>/`
aside) and fails on any string constant that is a provider's name ("openai") or starts with one and
a colon ("gguf:..."), docstrings aside. The allowlist holds what is not a provider at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "llmctl"
KINDS = ("openai", "mistral", "hf", "gguf", "anthropic", "gemini")
#: (file, name): `llmctl quantize --to gguf|hf` names output file formats, which share the names of
#: the backends that read them but choose no provider.
ALLOWED = {
    ("llmctl/quantize/plan.py", "gguf"),
    ("llmctl/cli/quantize.py", "gguf"),
    ("llmctl/cli/quantize.py", "hf"),
    # `llmctl run-local` is llama.cpp's server and chat: a file it is given is a GGUF file, whatever its
    # suffix, so it names the backend that opens one.
    ("llmctl/cli/run_local.py", "gguf"),
    # A model's `image_tokens = { rule = "mistral", ... }` in configs/models.toml names the rule
    # (Mistral's published patch arithmetic), which a model of any provider may follow.
    ("llmctl/providers/image_tokens.py", "mistral"),
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _kind_named(value: str) -> str | None:
    for kind in KINDS:
        if value == kind or value.startswith(f"{kind}:"):
            return kind
    return None


def offending_lines() -> list[str]:
    offending = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        parts = rel.split("/")
        if parts[:2] == ["llmctl", "providers"] and len(parts) > 3:
            continue  # llmctl/providers/<name>/...: a provider's own package
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        docs = _docstrings(tree)
        lines = source.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                kind = _kind_named(node.value)
                if kind is not None and (rel, kind) not in ALLOWED:
                    offending.append(f"{rel}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return offending


def test_no_provider_kind_is_named_outside_its_package() -> None:
    found = offending_lines()
    assert not found, "provider kinds named outside their packages:\n" + "\n".join(found)


def test_the_check_finds_a_kind_name() -> None:
    tree = ast.parse('x = ref.kind in ("gguf", "hf")\ny = f"openai:{m}"\n"""a docstring naming openai"""\n')
    names = [_kind_named(n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert names.count("gguf") == 1 and names.count("hf") == 1 and names.count("openai") == 1
