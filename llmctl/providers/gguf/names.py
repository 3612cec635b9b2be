"""What a GGUF model name stands for: a .gguf path, or `ORG/REPO[/FILE.gguf]` in the local Hugging Face cache."""

from __future__ import annotations

from pathlib import Path

from llmctl.core.errors import UsageError
from llmctl.providers.hf_cache import cached_files, cached_snapshot


def claims(name: str) -> bool:
    return name.endswith(".gguf")


def cached_names() -> list[str]:
    """Each GGUF file in the local Hugging Face cache, as typed after `gguf:`."""
    return [name for name, _ in cached_files(".gguf")]


def resolve(provider: str, model: str) -> str:
    """A .gguf path, or a file of a repo in the local Hugging Face cache (never the network)."""
    from llmctl.providers.registry import expand_local_path

    path = expand_local_path(model)
    parts = model.split("/")
    if path.exists() or len(parts) < 2 or model.startswith((".", "/", "~", "pkg:")):
        return str(path)
    repo_id, rest = "/".join(parts[:2]), "/".join(parts[2:])
    snapshot = cached_snapshot(repo_id)
    if snapshot is None:
        return str(path)
    if rest:
        return str(snapshot / rest if (snapshot / rest).is_file() else path)
    files = sorted(snapshot.rglob("*.gguf"))
    if len(files) > 1:
        names = ", ".join(f"{provider}:{repo_id}/{f.relative_to(snapshot).as_posix()}" for f in files)
        raise UsageError(f"{provider}:{model} holds {len(files)} GGUF files in the Hugging Face cache; "
                         f"name one: {names}")
    return str(files[0] if files else Path(path))
