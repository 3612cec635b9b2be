"""Where provider classes come from: llmctl's own provider packages, and the `llmctl.providers` entry points.

A provider is a package that registers one `Provider` subclass under the entry point group
`llmctl.providers`; the entry point's name is the provider name users type before the colon
(`foo` in `-m foo:bar`). llmctl's built-in providers are declared the same way in its
pyproject.toml. Reading entry points means reading every installed distribution's metadata, so
it is done only when a name is not one of the built-in packages (`llmctl.providers.<name>`, found
without reading metadata, which also keeps a stale editable install working) and for
`llmctl plugins`. A plugin that fails to import is named in one line; the other providers work.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from llmctl.core.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from llmctl.providers.base import Provider

GROUP = "llmctl.providers"
#: the package whose subpackages are the built-in providers
BUILTIN_PACKAGE = "llmctl.providers"
BUILTIN_DISTRIBUTION = "llmctl"


@dataclass(frozen=True)
class Registration:
    """One provider as installed: its name, where its class is, which distribution brought it."""

    name: str
    target: str
    distribution: str
    version: str
    builtin: bool

    @property
    def source(self) -> str:
        return f"{self.distribution} {self.version}: {self.target}" if self.version else self.target


@dataclass
class PluginRow:
    """One row of `llmctl plugins`."""

    name: str
    module: str
    distribution: str
    version: str
    builtin: bool
    local: bool | None = None
    prefixes: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@cache
def builtin_names() -> tuple[str, ...]:
    """The provider packages inside llmctl (found on disk, nothing imported)."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    return tuple(sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.ispkg))


def _llmctl_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(BUILTIN_DISTRIBUTION)
    except PackageNotFoundError:
        return ""


def builtin_registration(name: str, *, with_version: bool = False) -> Registration:
    """A built-in provider; its version (a metadata read) only where it is shown."""
    version = _llmctl_version() if with_version else ""
    return Registration(name, f"{BUILTIN_PACKAGE}.{name}", BUILTIN_DISTRIBUTION, version, True)


_ENTRY_POINTS: dict[tuple[str, ...], dict[str, list[Registration]]] = {}


def entry_point_registrations() -> dict[str, list[Registration]]:
    """Every `llmctl.providers` entry point on sys.path, by name (read once per sys.path)."""
    key = tuple(sys.path)
    found = _ENTRY_POINTS.get(key)
    if found is None:
        from importlib.metadata import entry_points

        found = {}
        for point in entry_points(group=GROUP):
            dist = point.dist
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            version = dist.version if dist is not None else ""
            builtin = dist_name == BUILTIN_DISTRIBUTION and point.value.startswith(BUILTIN_PACKAGE + ".")
            entry = Registration(point.name, point.value, dist_name, version, builtin)
            claims = found.setdefault(point.name, [])
            if all((c.distribution, c.target) != (entry.distribution, entry.target) for c in claims):
                claims.append(entry)
        _ENTRY_POINTS.clear()
        _ENTRY_POINTS[key] = found
    return found


def clash_error(name: str, claims: list[Registration]) -> ConfigError:
    both = " and ".join(f"{c.distribution} ({c.target})" for c in claims)
    return ConfigError(f"two provider plugins claim the name {name!r}: {both}",
                       hint="uninstall one of them")


def registration(name: str) -> Registration | None:
    """Who provides `name`: a built-in package first (no metadata read), else its one entry point.

    Two entry points of different distributions for one name are exit 3 naming both."""
    if name in builtin_names():
        return builtin_registration(name)
    claims = entry_point_registrations().get(name, [])
    if len(claims) > 1:
        raise clash_error(name, claims)
    return claims[0] if claims else None


def load_class(entry: Registration) -> type[Provider]:
    """Import a registration's class; a plugin that fails to import is exit 2 naming it."""
    from llmctl.providers.base import Provider

    module_name, _, attr = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
        found: Any = module
        for part in attr.split(".") if attr else []:
            found = getattr(found, part)
    except Exception as exc:  # whatever a third party's import raises: one line naming the plugin
        detail = " ".join(str(exc).split())[:200]
        raise UsageError(f"the provider plugin {entry.name!r} ({entry.source}) failed to load: "
                         f"{type(exc).__name__}: {detail}") from None
    if not attr:
        found = _provider_in(module, entry.name)
    if not (isinstance(found, type) and issubclass(found, Provider)):
        raise UsageError(f"the provider plugin {entry.name!r} ({entry.source}) is not a Provider class")
    return found


def _provider_in(module: Any, name: str) -> Any:
    """The Provider subclass a built-in package exports (its `__all__`) whose kind is `name`."""
    from llmctl.providers.base import Provider

    for attr in getattr(module, "__all__", ()):
        value = getattr(module, attr, None)
        if isinstance(value, type) and issubclass(value, Provider) and getattr(value, "kind", None) == name:
            return value
    return None


def installed() -> tuple[list[PluginRow], list[str]]:
    """Every provider, built in or plugged in, with what it adds; and one warning per plugin that
    failed to load. Two plugins claiming one name raise (exit 3)."""
    from llmctl.core.config import get_config

    config = get_config()
    points = entry_point_registrations()
    chosen = {name: builtin_registration(name, with_version=True) for name in builtin_names()}
    for name, claims in points.items():
        others = [c for c in claims if not c.builtin]
        if name in chosen and others:
            raise clash_error(name, [chosen[name], *others])
        if name in chosen:
            continue
        if len(claims) > 1:
            raise clash_error(name, claims)
        chosen[name] = claims[0]
    rows, warnings = [], []
    for name in sorted(chosen):
        entry = chosen[name]
        row = PluginRow(name, entry.target, entry.distribution, entry.version, entry.builtin)
        try:
            cls = load_class(entry)
        except UsageError as exc:
            row.error = exc.message
            warnings.append(exc.message)
            rows.append(row)
            continue
        row.module = f"{cls.__module__}:{cls.__qualname__}"
        row.local = cls.local
        configured = [p for table in config.providers.values() if table.kind == name for p in table.prefixes]
        row.prefixes = list(dict.fromkeys([f"{name}:", *cls.prefixes, *configured]))
        try:
            listed = list(config.models.get(name, {}))
            row.models = [f"{name}:{model}" for model in dict.fromkeys([*listed, *cls.listed_models()])]
        except Exception as exc:  # a plugin's listing is its own code: say so, list the rest
            warnings.append(f"the provider plugin {name!r} could not list its models: {type(exc).__name__}: {exc}")
        rows.append(row)
    return rows, warnings
