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
from typing import TYPE_CHECKING, Any

from llmctl.core.errors import ConfigError

if TYPE_CHECKING:  # read only when the config is loaded: --help never loads it
    from llmctl.core.config_tables import BackendTable, Defaults, ModelEntry, RunSettings

SHIPPED_FILES = ("models.toml", "prices.toml", "providers.toml")



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
    models: dict[str, dict[str, ModelEntry]]
    aliases: dict[str, str]
    providers: dict[str, BackendTable]
    profiles: dict[str, BackendTable]
    defaults: Defaults
    #: the run layer's tables: [budget], [usage] (the log), [cache] and [logs] (conversations)
    run: RunSettings
    #: provider -> model -> price entry, read into `pricing.Price` by the price table
    prices: dict[str, Any] = field(default_factory=dict)
    user_path: Path | None = None
    #: The user's own [prices] entries, each of which replaces a shipped or fetched entry whole.
    user_prices: dict[str, Any] = field(default_factory=dict)
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


@dataclass(frozen=True)
class BackendSettings:
    """A model's backend as the configs set it up: its `[providers.*]` or `[profiles.*]` table, resolved.

    What name resolution, prices and usage estimates read is typed here; every key of the table (`table`)
    goes to the backend's own option model (pydantic, `providers/options.py`) when the model is opened,
    so naming a model loads no pydantic.
    """

    kind: str
    #: the profile's name, for a `[profiles.NAME]` table
    profile: str | None = None
    base_url: str | None = None
    #: a profile's own base_url, kept when --base-url points elsewhere (its key stays with it)
    profile_base_url: str | None = None
    #: somebody's own server (a profile or --base-url), not the provider's API
    custom_endpoint: bool = False
    #: a profile's tokenizer for usage its server does not report ("hf:PATH", "gguf:PATH")
    tokenizer: str | None = None
    #: a profile's price table (the provider's own name for a proxy of that provider)
    prices: str | None = None
    #: the whole table, as the backend's option model reads it
    table: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def of(cls, table: dict[str, Any], *, kind: str, where: str = "the config") -> BackendSettings:
        """The typed view of a backend's table (exit 3 where a key resolution reads has the wrong type)."""
        def text(key: str) -> str | None:
            value = table.get(key)
            if value is None or isinstance(value, str):
                return value
            from llmctl.core.config_tables import kind_of

            raise ConfigError(f"{where}: {key} must be a string, not {kind_of(value)}")

        def flag(key: str) -> bool:
            return table.get(key) is True

        return cls(kind, text("profile"), text("base_url"), text("profile_base_url"),
                   flag("custom_endpoint"), text("tokenizer"), text("prices"), dict(table))

    def pointed_at(self, base_url: str) -> BackendSettings:
        """These settings sending to `base_url` (--base-url): somebody's own server, where a profile's key stays
        with the profile's own host."""
        table = {**self.table, "base_url": base_url, "custom_endpoint": True}
        if self.profile:
            table["profile_base_url"] = self.base_url
        return BackendSettings.of(table, kind=self.kind)

    def where(self) -> str:
        """The settings' name in messages."""
        return f"the profile {self.profile!r}" if self.profile else "the provider settings"


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
    from llmctl.core.config_tables import check_user_config, typed_tables

    check_user_config(user, path)
    merged = merge_tables(shipped, user)
    user_prices = _prices_of(user)
    prices = {provider: dict(table) for provider, table in _prices_of(shipped).items() if isinstance(table, dict)}
    for provider, table in user_prices.items():
        # A user's price entry is a whole price: no shipped rate (cached, batch) survives under it.
        if isinstance(table, dict):
            prices.setdefault(provider, {}).update(table)
    models, aliases, providers, profiles, defaults, run = typed_tables(merged)
    return Config(
        models, aliases, providers, profiles, defaults, run,
        prices=prices,
        user_path=path if path.is_file() else None,
        user_prices=user_prices,
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
