"""What an HF model name stands for: a local folder, or `ORG/NAME` in the local Hugging Face cache."""

from __future__ import annotations

from pathlib import Path

from llmctl.core.errors import UsageError
from llmctl.providers.hf_cache import cached_snapshot, hf_hub_cache


def claims(name: str) -> bool:
    """A bare name that is a model folder (it holds config.json)."""
    path = Path(name).expanduser()
    return path.is_dir() and (path / "config.json").is_file()


def resolve(provider: str, model: str) -> str:
    from llmctl.providers.registry import expand_local_path

    path = expand_local_path(model)
    if path.is_dir():
        return str(path)
    if path.exists():
        raise UsageError(f"{provider}:{model}: not a folder (an HF model is a folder with config.json)")
    if model.count("/") == 1 and not model.startswith((".", "/", "~")):
        cached = cached_snapshot(model)
        if cached is not None:
            return str(cached)
        raise UsageError(f"{provider}:{model}: no such folder, and not in the local Hugging Face cache "
                         f"({hf_hub_cache() or 'huggingface_hub is not installed'})")
    raise UsageError(f"{provider}:{model}: no such folder")
