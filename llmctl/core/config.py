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
RUN_TABLES = ("budget", "usage", "cache", "logs")


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
    """Everything llmctl reads from TOML, already merged."""

    models: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    prices: dict[str, Any] = field(default_factory=dict)
    providers: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    user_path: Path | None = None
    #: The user's own [prices] entries, each of which replaces a shipped or fetched entry whole.
    user_prices: dict[str, Any] = field(default_factory=dict)
    #: the run layer's tables: [budget], [usage] (the log), [cache] and [logs] (conversations)
    run: dict[str, Any] = field(default_factory=dict)
    #: ("profiles" | "providers", name) of each backend table the user's file sets, checked at start
    user_backends: tuple[tuple[str, str], ...] = ()

    def run_setting(self, table: str, key: str, default: Any = None) -> Any:
        section = self.run.get(table)
        return section.get(key, default) if isinstance(section, dict) else default

    def model_spec(self, provider: str, model: str) -> dict[str, Any] | None:
        table = self.models.get(provider, {})
        spec = table.get(model)
        return spec if isinstance(spec, dict) else None

    def points_to(self, provider: str, model: str) -> str | None:
        """The dated model an alias such as `gpt-4o` stands for (`points_to`), or None."""
        target = (self.model_spec(provider, model) or {}).get("points_to")
        return target if isinstance(target, str) else None

    def prefixes(self, provider: str) -> list[str]:
        """The bare-name prefixes a `[providers.*]` table claims (`gpt-` for openai)."""
        found = (self.providers.get(provider) or {}).get("prefixes")
        return [p for p in found if isinstance(p, str)] if isinstance(found, list) else []


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
            raise ConfigError(f"{where}: {key} must be a string, not {_kind_of(value)}")

        return cls(kind, text("profile"), text("base_url"), text("profile_base_url"),
                   table.get("custom_endpoint") is True, text("tokenizer"), text("prices"), dict(table))

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


#: The tables a config file may hold; everything else is a typo the user should hear about.
KNOWN_TABLES = ("defaults", "aliases", "models", "prices", "providers", "profiles", *RUN_TABLES)
#: [defaults] keys and what each must be.
DEFAULT_KEYS = {"model": "a model name (a string)", "embed_model": "a model name (a string)"}
#: The run layer's tables: each key and the Python types its value may have.
RUN_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "budget": {"daily_usd": (int, float, str), "monthly_usd": (int, float, str)},
    "usage": {"log": (bool,), "log_text": (bool,)},
    "cache": {"enabled": (bool,), "max_mb": (int, float)},
    "logs": {"store_text": (bool,)},
}


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    names = {int: "an integer", float: "a number", list: "a list", str: "a string"}
    return f"{value!r} ({names.get(type(value), type(value).__name__)})"


def check_user_config(data: dict[str, Any], path: Path) -> None:
    """The shape of a user config file: known tables, known [defaults] keys, the types of values (exit 3).

    Backend options in [providers.*]/[profiles.*] are checked by their typed models when a command
    starts (llmctl.providers.registry.check_backend_tables), the settings under [models.*] when the
    model is opened (llmctl.providers.options).
    """
    for key, value in data.items():
        if key not in KNOWN_TABLES:
            raise ConfigError(f"{path}: unknown table [{key}]; expected one of: {', '.join(KNOWN_TABLES)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {key} must be a table ([{key}]), not {_kind_of(value)}")
    for key, value in data.get("defaults", {}).items():
        if key not in DEFAULT_KEYS:
            raise ConfigError(f"{path}: [defaults] unknown key {key!r}; expected one of: {', '.join(DEFAULT_KEYS)}")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: [defaults] {key} must be {DEFAULT_KEYS[key]}, not {_kind_of(value)}")
    for table, keys in RUN_KEYS.items():
        for key, value in data.get(table, {}).items():
            if key not in keys:
                raise ConfigError(f"{path}: [{table}] unknown key {key!r}; expected one of: {', '.join(keys)}")
            if isinstance(value, bool) and bool not in keys[key] or not isinstance(value, keys[key]):
                names = {bool: "a boolean", int: "a number", float: "a number", str: "a decimal string"}
                expected = " or ".join(dict.fromkeys(names[t] for t in keys[key]))
                raise ConfigError(f"{path}: [{table}] {key} must be {expected}, not {_kind_of(value)}")
    for key, value in data.get("aliases", {}).items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: [aliases] {key} must be a model name (a string), not {_kind_of(value)}")
    for table in ("providers", "profiles"):
        for name, settings in data.get(table, {}).items():
            if not isinstance(settings, dict):
                raise ConfigError(f"{path}: {table}.{name} must be a table ([{table}.{name}]), "
                                  f"not {_kind_of(settings)}")
            kind = settings.get("kind")
            if kind is not None and not isinstance(kind, str):
                raise ConfigError(f"{path}: [{table}.{name}] kind must be a backend name (a string), "
                                  f"not {_kind_of(kind)}")
    for provider, models in data.get("models", {}).items():
        if not isinstance(models, dict):
            raise ConfigError(f"{path}: models.{provider} must be a table of models, not {_kind_of(models)}")
        for name, spec in models.items():
            if not isinstance(spec, dict):
                raise ConfigError(f"{path}: models.{provider}.{name} must be a table, not {_kind_of(spec)}")


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
    aliases = merged.get("aliases", {})
    user_prices = user.get("prices", {}) if isinstance(user.get("prices", {}), dict) else {}
    prices = {provider: dict(table) for provider, table in shipped.get("prices", {}).items()}
    for provider, table in user_prices.items():
        # A user's price entry is a whole price: no shipped rate (cached, batch) survives under it.
        if isinstance(table, dict):
            prices.setdefault(provider, {}).update(table)
    return Config(
        models=merged.get("models", {}),
        aliases=aliases,
        prices=prices,
        user_prices=user_prices,
        providers=merged.get("providers", {}),
        profiles=merged.get("profiles", {}),
        defaults=merged.get("defaults", {}),
        user_path=path if path.is_file() else None,
        run={name: merged[name] for name in RUN_TABLES if isinstance(merged.get(name), dict)},
        user_backends=tuple((table, name) for table in ("profiles", "providers") for name in user.get(table, {})),
    )


@cache
def get_config() -> Config:
    return load_config()
