"""The config's tables, typed: where raw TOML becomes the objects the rest of llmctl reads.

This is the one module that reads the merged TOML as dicts: `check_user_config` checks the user's file
(exit 3 naming the table and key) and `typed_tables` builds the typed tables from the merged files.
Plain typed classes, not pydantic, imported only when the config is read: `--help` loads none of this and
naming a model loads no pydantic; a backend's or a model's own options are validated by their pydantic models
when used (`BackendSettings`, `ModelRef.facts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmctl.core.errors import ConfigError

RUN_TABLES = ("budget", "usage", "cache", "logs")
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


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The table `name` of a TOML document, empty where it is missing or not a table."""
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _text(table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    return value if isinstance(value, str) else None


# Plain classes with __slots__, not dataclasses: defining a dataclass costs about half a millisecond, and
# every command that reads the config imports this module. Read-only by convention: nothing assigns to them.
class BackendTable:
    """One `[providers.NAME]` or `[profiles.NAME]` table: what resolution reads, typed; `table` whole, for the
    backend's own option model (pydantic, when the model is opened)."""

    __slots__ = ("name", "kind", "bad_kind", "prefixes", "serves_profiles", "table")

    def __init__(self, name: str, table: dict[str, Any]) -> None:
        kind, prefixes = table.get("kind"), table.get("prefixes")
        self.name = name
        #: the backend it names (`kind = ...`), None where it names none
        self.kind: str | None = kind if isinstance(kind, str) else None
        #: a `kind` that is not a string, as written (an error where the table is used)
        self.bad_kind: object = None if isinstance(kind, str) else kind
        #: the bare-name prefixes it claims (`gpt-` for openai)
        self.prefixes: tuple[str, ...] = \
            tuple(p for p in prefixes if isinstance(p, str)) if isinstance(prefixes, list) else ()
        #: the provider [profiles.*] tables are spoken to by unless they name a kind
        self.serves_profiles: bool = table.get("serves_profiles") is True
        self.table: dict[str, Any] = dict(table)

    def __repr__(self) -> str:
        return f"BackendTable({self.name!r}, kind={self.kind!r}, prefixes={self.prefixes!r})"


class ModelEntry:
    """One `[models.PROVIDER."NAME"]` table: what listing and name resolution read, typed; `settings` whole,
    validated into `options.ModelSettings` when the model is opened (`ModelRef.facts`)."""

    __slots__ = ("name", "points_to", "context_window", "capabilities", "attachments", "tokenizer", "listed",
                 "settings")

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        window = spec.get("context_window")
        capabilities, attachments = spec.get("capabilities"), spec.get("attachments")
        self.name = name
        #: the dated model an alias such as `gpt-4o` stands for
        self.points_to: str | None = _text(spec, "points_to")
        self.context_window: int | None = window if isinstance(window, int) and not isinstance(window, bool) else None
        self.capabilities: tuple[str, ...] = \
            tuple(str(c) for c in capabilities) if isinstance(capabilities, list) else ()
        self.attachments: tuple[str, ...] = tuple(str(a) for a in attachments) if isinstance(attachments, list) else ()
        #: the tokenizer that counts its tokens (`encoding` or `tokenizer`)
        self.tokenizer: str | None = _text(spec, "encoding") or _text(spec, "tokenizer")
        #: an API model (a window or an alias of one), not the settings of a local alias
        self.listed: bool = "context_window" in spec or "points_to" in spec
        self.settings: dict[str, Any] = dict(spec)

    def __repr__(self) -> str:
        return f"ModelEntry({self.name!r}, points_to={self.points_to!r}, context_window={self.context_window!r})"


class Defaults:
    """[defaults]: the model used without -m, and the one `embed` uses."""

    __slots__ = ("model", "embed_model")

    def __init__(self, table: dict[str, Any]) -> None:
        self.model: str | None = _text(table, "model")
        self.embed_model: str | None = _text(table, "embed_model")

    def of_purpose(self, purpose: str) -> str | None:
        return self.embed_model if purpose == "embed" else self.model


class RunSettings:
    """The run layer's tables: [budget], [usage] (the log), [cache] and [logs] (conversations)."""

    __slots__ = ("daily_usd", "monthly_usd", "usage_log", "usage_log_text", "cache_enabled", "cache_max_mb",
                 "logs_store_text")

    def __init__(self, merged: dict[str, Any]) -> None:
        budget, usage, cache, logs = (_section(merged, name) for name in RUN_TABLES)

        def flag(table: dict[str, Any], key: str, default: bool) -> bool:
            value = table.get(key, default)
            return value if isinstance(value, bool) else bool(value)

        def amount(key: str) -> int | float | str | None:
            value = budget.get(key)
            return value if isinstance(value, (int, float, str)) else None

        max_mb = cache.get("max_mb")
        #: caps in USD as written (a number or a decimal string); read as Decimal where spent
        self.daily_usd = amount("daily_usd")
        self.monthly_usd = amount("monthly_usd")
        self.usage_log = flag(usage, "log", True)
        self.usage_log_text = flag(usage, "log_text", False)
        self.cache_enabled = flag(cache, "enabled", True)
        self.cache_max_mb: int | float | None = max_mb if isinstance(max_mb, (int, float)) else None
        self.logs_store_text = flag(logs, "store_text", True)

    def budget(self, key: str) -> int | float | str | None:
        """A cap by its key in [budget] (`daily_usd`, `monthly_usd`)."""
        return self.daily_usd if key == "daily_usd" else self.monthly_usd


#: models, aliases, providers, profiles, defaults, run
Tables = tuple[dict[str, dict[str, ModelEntry]], dict[str, str], dict[str, BackendTable], dict[str, BackendTable],
               Defaults, RunSettings]


def typed_tables(merged: dict[str, Any]) -> Tables:
    """The typed tables of the merged (shipped, then user) config; entries of the wrong shape are left out
    (the user's file was checked by `check_user_config`; the shipped files are ours)."""
    models = {provider: {name: ModelEntry(name, spec) for name, spec in table.items() if isinstance(spec, dict)}
              for provider, table in _section(merged, "models").items() if isinstance(table, dict)}
    aliases = {name: target for name, target in _section(merged, "aliases").items() if isinstance(target, str)}
    backends = [{name: BackendTable(name, table) for name, table in _section(merged, key).items()
                 if isinstance(table, dict)} for key in ("providers", "profiles")]
    defaults = _section(merged, "defaults")
    return (models, aliases, backends[0], backends[1],
                  Defaults(defaults), RunSettings(merged))


def kind_of(value: Any) -> str:
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
            raise ConfigError(f"{path}: {key} must be a table ([{key}]), not {kind_of(value)}")
    for key, value in _section(data, "defaults").items():
        if key not in DEFAULT_KEYS:
            raise ConfigError(f"{path}: [defaults] unknown key {key!r}; expected one of: {', '.join(DEFAULT_KEYS)}")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: [defaults] {key} must be {DEFAULT_KEYS[key]}, not {kind_of(value)}")
    for table, keys in RUN_KEYS.items():
        for key, value in _section(data, table).items():
            if key not in keys:
                raise ConfigError(f"{path}: [{table}] unknown key {key!r}; expected one of: {', '.join(keys)}")
            if isinstance(value, bool) and bool not in keys[key] or not isinstance(value, keys[key]):
                names = {bool: "a boolean", int: "a number", float: "a number", str: "a decimal string"}
                expected = " or ".join(dict.fromkeys(names[t] for t in keys[key]))
                raise ConfigError(f"{path}: [{table}] {key} must be {expected}, not {kind_of(value)}")
    for key, value in _section(data, "aliases").items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: [aliases] {key} must be a model name (a string), not {kind_of(value)}")
    for table in ("providers", "profiles"):
        for name, settings in _section(data, table).items():
            if not isinstance(settings, dict):
                raise ConfigError(f"{path}: {table}.{name} must be a table ([{table}.{name}]), "
                                  f"not {kind_of(settings)}")
            kind = BackendTable(name, settings).bad_kind
            if kind is not None:
                raise ConfigError(f"{path}: [{table}.{name}] kind must be a backend name (a string), "
                                  f"not {kind_of(kind)}")
    for provider, models in _section(data, "models").items():
        if not isinstance(models, dict):
            raise ConfigError(f"{path}: models.{provider} must be a table of models, not {kind_of(models)}")
        for name, spec in models.items():
            if not isinstance(spec, dict):
                raise ConfigError(f"{path}: models.{provider}.{name} must be a table, not {kind_of(spec)}")
