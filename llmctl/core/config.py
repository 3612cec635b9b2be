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

from llmctl.core.config_tables import (
    KNOWN_TABLES,
    BackendSettings,
    BackendTable,
    Defaults,
    ModelEntry,
    RunSettings,
    check_user_config,
    typed_tables,
)
from llmctl.core.errors import ConfigError

SHIPPED_FILES = ("models.toml", "prices.toml", "providers.toml")
#: what other modules import from here (the typed tables live in config_tables)
__all__ = ["KNOWN_TABLES", "BackendSettings", "BackendTable", "Config", "Defaults", "ModelEntry", "RunSettings",
           "check_user_config", "get_config", "load_config", "merge_tables", "shipped_config_dir", "user_cache_dir",
           "user_config_dir", "user_config_path", "user_data_dir", "user_state_dir"]


def shipped_config_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "_configs"
    if packaged.is_dir():
        return packaged
    # An editable install or a checkout: the repository's own configs/ folder.
    return Path(__file__).resolve().parents[2] / "configs"


#: The folder name under each of the user's directories.
APP = "llmctl"


def user_config_path() -> Path:
    explicit = os.environ.get("LLMCTL_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return user_config_dir() / "config.toml"


# The user's directories as platformdirs finds them: on Linux the XDG variables (XDG_CONFIG_HOME, XDG_DATA_HOME,
# XDG_CACHE_HOME, XDG_STATE_HOME), read on each call, else ~/.config, ~/.local/share, ~/.cache, ~/.local/state;
# on macOS and Windows the platform's own places.
def user_config_dir() -> Path:
    """`$XDG_CONFIG_HOME/llmctl` (default `~/.config/llmctl`): templates live here, whatever LLMCTL_CONFIG names."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/llmctl` (default `~/.cache/llmctl`): what can be rebuilt (token indexes)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def user_data_dir() -> Path:
    """`$XDG_DATA_HOME/llmctl` (default `~/.local/share/llmctl`): the usage log, the response cache, batches, prices."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def user_state_dir() -> Path:
    """`$XDG_STATE_HOME/llmctl` (default `~/.local/state/llmctl`): the chat's line history."""
    import platformdirs

    return Path(platformdirs.user_state_dir(APP, appauthor=False))


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
    """Everything llmctl reads from TOML, already merged, typed (`llmctl.core.config_tables`)."""

    #: provider -> model name -> its [models.PROVIDER."NAME"] table
    models: dict[str, dict[str, ModelEntry]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    #: provider -> model -> price entry, read into `pricing.Price` by the price table
    prices: dict[str, Any] = field(default_factory=dict)
    providers: dict[str, BackendTable] = field(default_factory=dict)
    profiles: dict[str, BackendTable] = field(default_factory=dict)
    defaults: Defaults = field(default_factory=Defaults)
    user_path: Path | None = None
    #: The user's own [prices] entries, each of which replaces a shipped or fetched entry whole.
    user_prices: dict[str, Any] = field(default_factory=dict)
    #: the run layer's tables: [budget], [usage] (the log), [cache] and [logs] (conversations)
    run: RunSettings = field(default_factory=RunSettings)
    #: ("profiles" | "providers", name) of each backend table the user's file sets, checked at start
    user_backends: tuple[tuple[str, str], ...] = ()

    def model_entry(self, provider: str, model: str) -> ModelEntry | None:
        return self.models.get(provider, {}).get(model)

    def model_spec(self, provider: str, model: str) -> dict[str, Any] | None:
        entry = self.model_entry(provider, model)
        return dict(entry.settings) if entry is not None else None

    def points_to(self, provider: str, model: str) -> str | None:
        """The dated model an alias such as `gpt-4o` stands for (`points_to`), or None."""
        entry = self.model_entry(provider, model)
        return entry.points_to if entry is not None else None

    def prefixes(self, provider: str) -> tuple[str, ...]:
        """The bare-name prefixes a `[providers.*]` table claims (`gpt-` for openai)."""
        table = self.providers.get(provider)
        return table.prefixes if table is not None else ()


def load_config(user_path: Path | None = None) -> Config:
    shipped_dir = shipped_config_dir()
    shipped: dict[str, Any] = {}
    for name in SHIPPED_FILES:
        path = shipped_dir / name
        if path.is_file():
            shipped = merge_tables(shipped, _read_toml(path))
    path = user_path or user_config_path()
    named = user_path is not None or bool(os.environ.get("LLMCTL_CONFIG"))
    if named and not path.is_file():
        # A file the user named is meant to be read: running on without it would ignore them.
        what = "is a directory, not a config file" if path.is_dir() else "no such config file"
        source = "" if user_path is not None else " (named by LLMCTL_CONFIG)"
        raise ConfigError(f"{path}: {what}{source}")
    user: dict[str, Any] = _read_toml(path) if path.is_file() else {}
    check_user_config(user, path)
    merged = merge_tables(shipped, user)
    user_prices = _prices_of(user)
    prices = {provider: dict(table) for provider, table in _prices_of(shipped).items() if isinstance(table, dict)}
    for provider, table in user_prices.items():
        # A user's price entry is a whole price: no shipped rate (cached, batch) survives under it.
        if isinstance(table, dict):
            prices.setdefault(provider, {}).update(table)
    tables = typed_tables(merged)
    return Config(
        models=tables.models,
        aliases=tables.aliases,
        prices=prices,
        user_prices=user_prices,
        providers=tables.providers,
        profiles=tables.profiles,
        defaults=tables.defaults,
        user_path=path if path.is_file() else None,
        run=tables.run,
        user_backends=tuple((table, name) for table in ("profiles", "providers") for name in _names(user, table)),
    )


def _prices_of(data: dict[str, Any]) -> dict[str, Any]:
    found = data["prices"] if "prices" in data else {}
    return found if isinstance(found, dict) else {}


def _names(data: dict[str, Any], table: str) -> list[str]:
    return list(data[table]) if isinstance(data.get(table), dict) else []


@cache
def get_config() -> Config:
    return load_config()
