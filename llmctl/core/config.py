"""Configuration: the shipped TOML files merged with the user's own file.

Shipped files live in `configs/` (copied into the wheel as `llmctl/_configs`). The user file is
`$LLMCTL_CONFIG` or `$XDG_CONFIG_HOME/llmctl/config.toml` (default `~/.config/llmctl/config.toml`).
User tables override shipped ones key by key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from llmctl.core.errors import ConfigError

SHIPPED_FILES = ("models.toml", "prices.toml", "providers.toml")
RUN_TABLES = ("budget", "usage", "cache")


def shipped_config_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "_configs"
    if packaged.is_dir():
        return packaged
    # An editable install or a checkout: the repository's own configs/ folder.
    return Path(__file__).resolve().parents[2] / "configs"


def user_config_path() -> Path:
    explicit = os.environ.get("LLMCTL_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "llmctl" / "config.toml"


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmctl"


def user_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "llmctl"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc


def merge_tables(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` into a copy of `base`; tables merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_tables(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class Config:
    """Everything llmctl reads from TOML, already merged."""

    models: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    prices: dict[str, Any] = field(default_factory=dict)
    providers: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    user_path: Path | None = None
    #: the run layer's tables: [budget], [usage] (the log) and [cache]
    run: dict[str, Any] = field(default_factory=dict)

    def run_setting(self, table: str, key: str, default: Any = None) -> Any:
        section = self.run.get(table)
        return section.get(key, default) if isinstance(section, dict) else default

    def model_spec(self, provider: str, model: str) -> dict[str, Any] | None:
        table = self.models.get(provider, {})
        spec = table.get(model)
        return spec if isinstance(spec, dict) else None


def load_config(user_path: Path | None = None) -> Config:
    shipped_dir = shipped_config_dir()
    shipped: dict[str, Any] = {}
    for name in SHIPPED_FILES:
        path = shipped_dir / name
        if path.is_file():
            shipped = merge_tables(shipped, _read_toml(path))
    path = user_path or user_config_path()
    user: dict[str, Any] = _read_toml(path) if path.is_file() else {}
    merged = merge_tables(shipped, user)
    aliases = merged.get("aliases", {})
    if not all(isinstance(v, str) for v in aliases.values()):
        raise ConfigError(f"{path}: every entry of [aliases] must be a string")
    return Config(
        models=merged.get("models", {}),
        aliases=aliases,
        prices=merged.get("prices", {}),
        providers=merged.get("providers", {}),
        profiles=merged.get("profiles", {}),
        defaults=merged.get("defaults", {}),
        user_path=path if path.is_file() else None,
        run={name: merged[name] for name in RUN_TABLES if isinstance(merged.get(name), dict)},
    )


@cache
def get_config() -> Config:
    return load_config()
