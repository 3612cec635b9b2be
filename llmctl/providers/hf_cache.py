"""The local Hugging Face cache, read through huggingface_hub itself: where it is and what it holds.

The folder is huggingface_hub's own `constants.HF_HUB_CACHE` (`$HF_HUB_CACHE`, else `$HF_HOME/hub`,
else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`, read when it is imported),
and its contents come from `scan_cache_dir`, so llmctl finds exactly what `hf cache ls` lists.
Never the network. Without huggingface_hub (a GGUF-only install that never downloaded from the Hub)
the cache is empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def hf_hub_cache() -> Path | None:
    """The cache folder huggingface_hub uses, or None without huggingface_hub."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    return Path(constants.HF_HUB_CACHE)


def _model_repos() -> list[Any]:
    """Every model repo in the cache (huggingface_hub's CachedRepoInfo), sorted by id."""
    root = hf_hub_cache()
    if root is None or not root.is_dir():
        return []
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(root)
    except (CacheNotFound, OSError, ValueError):
        return []
    return sorted((repo for repo in info.repos if repo.repo_type == "model"), key=lambda repo: repo.repo_id)


def _current(repo: Any) -> Any | None:
    """The revision `main` points to, else the latest one (a cache filled by an offline copy has no refs)."""
    revisions = list(repo.revisions)
    if not revisions:
        return None
    on_main = [rev for rev in revisions if "main" in rev.refs]
    return on_main[0] if on_main else max(revisions, key=lambda rev: rev.last_modified)


def cached_snapshot(repo_id: str) -> Path | None:
    """The snapshot folder of a model id (`org/name`) in the cache."""
    for repo in _model_repos():
        if repo.repo_id == repo_id:
            revision = _current(repo)
            return Path(revision.snapshot_path) if revision is not None else None
    return None


def cached_files(suffix: str) -> list[tuple[str, Path]]:
    """(`org/name/path/in/repo`, file) for each file ending in `suffix` in each model's current snapshot."""
    found: list[tuple[str, Path]] = []
    for repo in _model_repos():
        revision = _current(repo)
        if revision is None:
            continue
        snapshot = Path(revision.snapshot_path)
        for file in sorted(revision.files, key=lambda f: str(f.file_path)):
            path = Path(file.file_path)
            if path.name.endswith(suffix):
                found.append((f"{repo.repo_id}/{path.relative_to(snapshot).as_posix()}", path))
    return found
